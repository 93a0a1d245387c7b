// SPDX-License-Identifier: GPL-2.0-or-later
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "arena.h"

/*
 * Chunks start at 64 KiB and double up to 2 MiB, the THP size: a small
 * pool's index should not cost a 2 MiB page clear, a large one wants huge
 * pages. Chunk i has size chunk_size(i).
 */
#define FIRST_CHUNK	(64ull << 10)
#define HUGE_CHUNK	(2ull << 20)

static size_t chunk_size(size_t i)
{
	return i >= 5 ? HUGE_CHUNK : FIRST_CHUNK << i;
}

static size_t class_of(size_t size)
{
	return (size + FAMFS_ARENA_CLASS - 1) / FAMFS_ARENA_CLASS;
}

static int new_chunk(struct famfs_arena *a)
{
	size_t size;
	void *p;

	if (a->n_chunks == a->cap_chunks) {
		size_t cap = a->cap_chunks ? a->cap_chunks * 2 : 16;
		void **v = realloc(a->chunks, cap * sizeof(*v));

		if (!v)
			return -1;
		a->chunks = v;
		a->cap_chunks = cap;
	}
	size = chunk_size(a->n_chunks);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	if (size == HUGE_CHUNK)
		(void)madvise(p, size, MADV_HUGEPAGE);	/* a hint only */
	a->chunks[a->n_chunks++] = p;
	a->cur = p;
	a->end = (uint8_t *)p + size;
	return 0;
}

void *famfs_arena_alloc(struct famfs_arena *a, size_t size)
{
	size_t c = class_of(size), bytes = c * FAMFS_ARENA_CLASS;
	void *p;

	if (!size || size > FAMFS_ARENA_MAX)
		return NULL;
	p = a->free[c];
	if (p) {
		memcpy(&a->free[c], p, sizeof(void *));	/* pop */
		memset(p, 0, bytes);
		return p;
	}
	if ((size_t)(a->end - a->cur) < bytes && new_chunk(a) < 0)
		return NULL;
	p = a->cur;			/* fresh mapping: already zero */
	a->cur += bytes;
	return p;
}

void famfs_arena_release(struct famfs_arena *a, void *p, size_t size)
{
	size_t c = class_of(size);

	memcpy(p, &a->free[c], sizeof(void *));	/* push */
	a->free[c] = p;
}

void famfs_arena_destroy(struct famfs_arena *a)
{
	for (size_t i = 0; i < a->n_chunks; i++)
		munmap(a->chunks[i], chunk_size(i));
	free(a->chunks);
	memset(a, 0, sizeof(*a));
}

uint64_t famfs_arena_bytes(const struct famfs_arena *a)
{
	uint64_t bytes = 0;

	for (size_t i = 0; i < a->n_chunks; i++)
		bytes += chunk_size(i);
	return bytes;
}
