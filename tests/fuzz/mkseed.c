// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Writes the fuzz target's seed corpus into DIR: small pool images built
 * with the library's writer API (clean, empty, and with each kind of
 * damage fsck must name), plus record streams for the stream form (see
 * fuzz_pool.h). Images use the compact layout and are trimmed of trailing
 * zeros, which the target pads back.
 *
 * usage: mkseed DIR
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc.h"
#include "fsck.h"
#include "lease.h"

#include "../unit/testpool.h"
#include "fuzz_pool.h"

static const char *dir;
static int written;

static int put(const char *name, const void *p, size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/seed-%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
		fprintf(stderr, "mkseed: failed to write '%s'\n", path);
		exit(1);
	}
	written++;
	return 0;
}

/* Writes the image up to its last non-zero byte. */
static void put_image(const char *name, const struct tpool *p)
{
	size_t n = p->info.device_size;

	while (n && !p->base[n - 1])
		n--;
	put(name, p->base, n);
}

static void fresh(struct tpool *p)
{
	struct famfs_pool_info info;

	tpool_compact_info(&info, FUZZ_LOG_SIZE, FUZZ_UNIT, FUZZ_DATA_UNITS);
	if (tpool_init_info(p, &info, famfs_cache_ops_get(FAMFS_COH_NONE)) < 0) {
		fprintf(stderr, "mkseed: failed to format a pool\n");
		exit(1);
	}
}

static void populated(struct tpool *p)
{
	struct famfs_lease_info l = {
		.epoch = 1, .acquired_ns = 1, .renewed_ns = 2,
		.lease_ns = 10000000000ull, .pid = 1, .host = "seed",
	};

	fresh(p);
	if (tpool_populate(p, NULL) < 0) {
		fprintf(stderr, "mkseed: failed to populate a pool\n");
		exit(1);
	}
	famfs_lease_write(p->base, p->ops, &l);
}

/* The same pool must be clean for fsck, or the seeds are wrong. */
static void expect_clean(const struct tpool *p)
{
	struct famfs_fsck_report rep;

	if (famfs_fsck(p->base, p->info.device_size, p->ops, &rep) != 0) {
		fprintf(stderr, "mkseed: seed pool not clean: %s: %s\n",
			famfs_fsck_where_name(rep.where), rep.reason);
		exit(1);
	}
}

static void images(void)
{
	struct famfs_log_hdr *hdr;
	struct tpool p;
	uint64_t end;

	fresh(&p);
	expect_clean(&p);
	put_image("empty", &p);
	tpool_fini(&p);

	populated(&p);
	expect_clean(&p);
	put_image("populated", &p);
	hdr = (void *)tpool_log_base(&p);
	end = famfs_log_published(p.log).end;

	/* Torn superblock copy A (recovered), then both (refused). */
	p.base[40] ^= 0x10;
	put_image("torn-sb-a", &p);
	p.base[FAMFS_SB_B_OFFSET + 40] ^= 0x10;
	put_image("torn-sb-both", &p);
	p.base[40] ^= 0x10;
	p.base[FAMFS_SB_B_OFFSET + 40] ^= 0x10;

	/* Torn tail slot (the older tail is used). */
	hdr->tail[0].seq ^= htole64(1);
	put_image("torn-tail-0", &p);
	hdr->tail[0].seq ^= htole64(1);

	/* A tail past the end of the log, with a valid CRC. */
	struct famfs_log_tail keep = hdr->tail[1];

	hdr->tail[1].end = htole64(FUZZ_LOG_SIZE);
	hdr->tail[1].seq = htole64(99);
	hdr->tail[1].crc = htole32(famfs_crc_struct(&hdr->tail[1],
						    sizeof(hdr->tail[1])));
	put_image("tail-past-end", &p);
	hdr->tail[1] = keep;

	/* A flipped bit in the last record. */
	tpool_recs(&p)[end - 20] ^= 0x02;
	put_image("record-crc", &p);
	tpool_recs(&p)[end - 20] ^= 0x02;

	/* A corrupt lease area. */
	p.base[FAMFS_LEASE_OFFSET + 3] ^= 0xff;
	put_image("lease-crc", &p);
	tpool_fini(&p);

	/* A record that breaks a rule (unknown parent). */
	fresh(&p);
	tpool_mkdir(&p, FAMFS_ROOT_INO, "a", NULL);
	tpool_mkdir(&p, 99, "orphan", NULL);
	tpool_publish(&p);
	put_image("semantic", &p);
	tpool_fini(&p);
}

/* A stream form input being put together. */
static uint8_t stream[65536];
static size_t slen;

static void s_begin(void)
{
	memcpy(stream, FUZZ_STREAM_MAGIC, FUZZ_STREAM_MAGIC_LEN);
	slen = FUZZ_STREAM_MAGIC_LEN;
}

static void s_rec(const struct famfs_rec *r, uint8_t epoch, int publish)
{
	uint8_t buf[FAMFS_REC_PAYLOAD_MAX];
	int n = famfs_rec_build(r, buf, sizeof(buf));

	if (n < 0 || slen + 4 + (size_t)n > sizeof(stream)) {
		fprintf(stderr, "mkseed: failed to build a stream record\n");
		exit(1);
	}
	stream[slen++] = (uint8_t)(r->type | (publish ? FUZZ_PUBLISH : 0));
	stream[slen++] = epoch;
	stream[slen++] = (uint8_t)n;
	stream[slen++] = (uint8_t)(n >> 8);
	memcpy(stream + slen, buf, (size_t)n);
	slen += (size_t)n;
}

static void streams(void)
{
	struct famfs_pool_info info;
	struct famfs_extent ext[3];
	uint64_t d;

	tpool_compact_info(&info, FUZZ_LOG_SIZE, FUZZ_UNIT, FUZZ_DATA_UNITS);
	d = info.data_offset;
	ext[0] = (struct famfs_extent){ htole64(d), htole64(2 * FUZZ_UNIT) };
	ext[1] = (struct famfs_extent){ htole64(d + 4 * FUZZ_UNIT),
					htole64(FUZZ_UNIT) };
	ext[2] = (struct famfs_extent){ htole64(d + 8 * FUZZ_UNIT),
					htole64(FUZZ_UNIT) };

	/* Every record type, in an order that replays clean. */
	s_begin();
	s_rec(&(struct famfs_rec){ .type = FAMFS_REC_MKDIR, .ino = 2, .parent = 1,
				   .mode = 0755, .name = "d", .name_len = 1 }, 1, 0);
	s_rec(&(struct famfs_rec){ .type = FAMFS_REC_SET_QUOTA, .tenant = "acme",
				   .tenant_len = 4, .max_bytes = 1 << 20,
				   .max_files = 8 }, 1, 1);
	s_rec(&(struct famfs_rec){ .type = FAMFS_REC_CREATE, .ino = 3, .parent = 2,
				   .size = 3 * FUZZ_UNIT, .mode = 0644,
				   .name = "f\xc3\xa9", .name_len = 3,
				   .tenant = "acme", .tenant_len = 4,
				   .extents = ext, .n_extents = 2 }, 1, 0);
	s_rec(&(struct famfs_rec){ .type = FAMFS_REC_CREATE, .ino = 4, .parent = 1,
				   .size = 100, .mode = 0600, .name = "g",
				   .name_len = 1, .extents = ext + 2,
				   .n_extents = 1 }, 2, 1);
	s_rec(&(struct famfs_rec){ .type = FAMFS_REC_DELETE, .ino = 3, .parent = 2,
				   .name = "f\xc3\xa9", .name_len = 3 }, 2, 0);
	s_rec(&(struct famfs_rec){ .type = FAMFS_REC_RECLAIM, .ino = 3,
				   .delete_seq = 5 }, 2, 1);
	s_rec(&(struct famfs_rec){ .type = FAMFS_REC_DELETE, .ino = 4, .parent = 1,
				   .name = "g", .name_len = 1 }, 3, 0);
	put("stream-all-types", stream, slen);

	/* Rules broken: epoch going back, a reused inode, an overlap. */
	s_begin();
	s_rec(&(struct famfs_rec){ .type = FAMFS_REC_MKDIR, .ino = 2, .parent = 1,
				   .mode = 0755, .name = "d", .name_len = 1 }, 5, 1);
	s_rec(&(struct famfs_rec){ .type = FAMFS_REC_MKDIR, .ino = 3, .parent = 2,
				   .mode = 0755, .name = "e", .name_len = 1 }, 4, 1);
	put("stream-epoch-back", stream, slen);
	s_begin();
	s_rec(&(struct famfs_rec){ .type = FAMFS_REC_CREATE, .ino = 2, .parent = 1,
				   .size = FUZZ_UNIT, .name = "a", .name_len = 1,
				   .extents = ext + 1, .n_extents = 1 }, 1, 0);
	s_rec(&(struct famfs_rec){ .type = FAMFS_REC_CREATE, .ino = 3, .parent = 1,
				   .size = FUZZ_UNIT, .name = "b", .name_len = 1,
				   .extents = ext + 1, .n_extents = 1 }, 1, 1);
	put("stream-overlap", stream, slen);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: mkseed DIR\n");
		return 2;
	}
	dir = argv[1];
	images();
	streams();
	printf("mkseed: %d seeds in %s\n", written, dir);
	return 0;
}
