/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A small-object arena for the namespace index: objects up to
 * FAMFS_ARENA_MAX bytes in 16-byte size classes, carved from chunks that
 * grow from 64 KiB to 2 MiB (those backed by transparent huge pages), with a
 * free list per class.
 *
 * Why not malloc: a million nodes cost malloc a header each and a TLB miss
 * per random access on 4 KiB pages, and freeing the index took a walk of
 * every node through free(); here it is one munmap per chunk.
 */
#ifndef FAMFSD_ARENA_H
#define FAMFSD_ARENA_H

#include <stddef.h>
#include <stdint.h>

#define FAMFS_ARENA_CLASS	16u
#define FAMFS_ARENA_MAX		512u

struct famfs_arena {
	void *free[FAMFS_ARENA_MAX / FAMFS_ARENA_CLASS + 1];	/* by class */
	uint8_t *cur, *end;		/* bump region of the newest chunk */
	void **chunks;
	size_t n_chunks, cap_chunks;
};

/* Zeroed memory for size bytes (1..FAMFS_ARENA_MAX), or NULL. */
void *famfs_arena_alloc(struct famfs_arena *a, size_t size);
/* Returns p, allocated with the same size, to its class's free list. */
void famfs_arena_release(struct famfs_arena *a, void *p, size_t size);
/* Unmaps every chunk; the arena is empty and reusable afterwards. */
void famfs_arena_destroy(struct famfs_arena *a);
/* Bytes of chunks mapped. */
uint64_t famfs_arena_bytes(const struct famfs_arena *a);

#endif
