// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Writes the fuzz target's seed corpus into DIR: small pool images built
 * with the library's writer API (clean, empty, compacted into a second
 * and third generation with a checkpoint, and with each kind of damage
 * fsck must name or survive: in one log copy or in both), plus record
 * streams for the stream form, with compactions and damage among them
 * (see fuzz_pool.h). Images use the compact layout and are written in
 * the sparse form, as their non-zero runs; one is also written raw, cut
 * to its first 64 KiB (libFuzzer's input limit), which loses log copy 1.
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

/* The first max bytes of the image, trimmed of trailing zeros (raw form). */
static void put_raw(const char *name, const struct tpool *p, size_t max)
{
	size_t n = p->info.device_size < max ? p->info.device_size : max;

	while (n && !p->base[n - 1])
		n--;
	put(name, p->base, n);
}

/*
 * The image as its non-zero runs (the sparse form, or with magic
 * FUZZ_SPARSE_CRC_MAGIC the form that rights the CRCs); short gaps stay
 * inside a run.
 */
static void put_sparse(const char *name, const struct tpool *p,
		       const char *magic)
{
	static uint8_t out[1u << 20];
	const uint8_t *b = p->base;
	size_t n = p->info.device_size, at = 0, len = FUZZ_MAGIC_LEN;

	memcpy(out, magic, FUZZ_MAGIC_LEN);
	while (at < n) {
		size_t start, end, gap = 0;

		for (; at < n && !b[at]; at++)
			;
		if (at == n)
			break;
		start = at;
		for (end = at; end < n && end - start < 0xffff && gap < 32; end++)
			gap = b[end] ? 0 : gap + 1;
		end -= gap;
		if (len + 6 + (end - start) > sizeof(out)) {
			fprintf(stderr, "mkseed: image '%s' too large\n", name);
			exit(1);
		}
		out[len++] = (uint8_t)start;
		out[len++] = (uint8_t)(start >> 8);
		out[len++] = (uint8_t)(start >> 16);
		out[len++] = (uint8_t)(start >> 24);
		out[len++] = (uint8_t)(end - start);
		out[len++] = (uint8_t)((end - start) >> 8);
		memcpy(out + len, b + start, end - start);
		len += end - start;
		at = end;
	}
	put(name, out, len);
}

static void put_image(const char *name, const struct tpool *p)
{
	put_sparse(name, p, FUZZ_SPARSE_MAGIC);
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

static void must(int r, const char *what)
{
	if (r < 0) {
		fprintf(stderr, "mkseed: failed to %s: %s\n", what, strerror(-r));
		exit(1);
	}
}

/* Damage of one byte at body offset off in the copies named; written; undone. */
static void put_flipped(const char *name, struct tpool *p, uint64_t off,
			uint8_t mask, unsigned int copies)
{
	tpool_flip(p, off, mask, copies);
	put_image(name, p);
	tpool_flip(p, off, mask, copies);
}

/* A second generation: the populated pool compacted, then more records. */
static void compacted(struct tpool *p)
{
	populated(p);
	must(tpool_compact(p), "compact a pool");
	must(tpool_mkdir(p, FAMFS_ROOT_INO, "after", NULL), "append a record");
	must(tpool_create(p, FAMFS_ROOT_INO, "f", 3 * FUZZ_UNIT, "acme", NULL),
	     "append a record");
	tpool_publish(p);
	expect_clean(p);
}

static void images_gen1(void)
{
	struct famfs_log_hdr *hdr[2];
	struct tpool p;
	uint64_t end;

	fresh(&p);
	expect_clean(&p);
	put_image("empty", &p);
	tpool_fini(&p);

	populated(&p);
	expect_clean(&p);
	put_image("populated", &p);
	put_sparse("populated-crc", &p, FUZZ_SPARSE_CRC_MAGIC);
	put_raw("populated-raw-64k", &p, 65536);
	hdr[0] = tpool_hdr(&p, 0);
	hdr[1] = tpool_hdr(&p, 1);
	end = famfs_log_published(p.log).end;

	/* Torn superblock copy A (recovered), then both (refused). */
	p.base[40] ^= 0x10;
	put_image("torn-sb-a", &p);
	p.base[FAMFS_SB_B_OFFSET + 40] ^= 0x10;
	put_image("torn-sb-both", &p);
	p.base[40] ^= 0x10;
	p.base[FAMFS_SB_B_OFFSET + 40] ^= 0x10;

	/* A torn tail slot in one copy (its twin serves), then in both. */
	hdr[0]->tail[0].seq ^= htole64(1);
	put_image("torn-tail-0", &p);
	hdr[1]->tail[0].seq ^= htole64(1);
	put_image("torn-tail-both", &p);
	hdr[0]->tail[0].seq ^= htole64(1);
	hdr[1]->tail[0].seq ^= htole64(1);

	/* A tail past the end of the log, with a valid CRC, in both copies. */
	struct famfs_log_tail keep = hdr[0]->tail[1];

	for (int c = 0; c < 2; c++) {
		hdr[c]->tail[1].end = htole64(FUZZ_LOG_SIZE);
		hdr[c]->tail[1].seq = htole64(99);
		hdr[c]->tail[1].crc = htole32(famfs_crc_struct(&hdr[c]->tail[1],
							       sizeof(hdr[c]->tail[1])));
	}
	put_image("tail-past-end", &p);
	hdr[0]->tail[1] = keep;
	hdr[1]->tail[1] = keep;

	/* A header line bad in one copy, then in both. */
	tpool_flip_area(&p, 12, 0x01, TPOOL_COPY0);
	put_image("header-copy0", &p);
	tpool_flip_area(&p, 12, 0x01, TPOOL_COPY1);
	put_image("header-both", &p);
	tpool_flip_area(&p, 12, 0x01, TPOOL_BOTH);

	/* A flipped bit in the last record: in either copy, in both. */
	put_flipped("record-crc-copy0", &p, end - 20, 0x02, TPOOL_COPY0);
	put_flipped("record-crc-copy1", &p, end - 20, 0x02, TPOOL_COPY1);
	put_flipped("record-crc-both", &p, end - 20, 0x02, TPOOL_BOTH);

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

static void images_compacted(void)
{
	struct famfs_log *g;
	struct tpool p;
	uint64_t ckpt;

	compacted(&p);
	put_image("gen2", &p);
	put_sparse("gen2-crc", &p, FUZZ_SPARSE_CRC_MAGIC);
	ckpt = famfs_log_base(p.log).ckpt_bytes;
	/* A checkpoint item bad in one copy, in both; a record after it. */
	put_flipped("gen2-item-copy0", &p, 40, 0x08, TPOOL_COPY0);
	put_flipped("gen2-item-both", &p, ckpt - 8, 0x08, TPOOL_BOTH);
	put_flipped("gen2-record-copy1", &p, ckpt + 36, 0x40, TPOOL_COPY1);
	/*
	 * A torn seal of generation 3: items written over generation 1's
	 * areas, the header never (the superblock still names 2).
	 */
	must(famfs_log_create(tpool_log_base(&p), p.info.log_size, 3, p.ops, &g),
	     "create generation 3");
	must(famfs_log_ckpt_add(g, FAMFS_REC_MKDIR, 1, 1, "torn", 4),
	     "add an item");
	famfs_log_free(g);
	expect_clean(&p);
	put_image("gen3-torn-seal", &p);
	/* Generation 3, sealed and named: the areas of 1 reused. */
	must(tpool_compact(&p), "compact a pool again");
	must(tpool_mkdir(&p, FAMFS_ROOT_INO, "third", NULL), "append a record");
	tpool_publish(&p);
	expect_clean(&p);
	put_image("gen3", &p);
	put_sparse("gen3-crc", &p, FUZZ_SPARSE_CRC_MAGIC);
	tpool_fini(&p);
}
/* A stream form input being put together. */
static uint8_t stream[65536];
static size_t slen;

static void s_begin(void)
{
	memcpy(stream, FUZZ_STREAM_MAGIC, FUZZ_MAGIC_LEN);
	slen = FUZZ_MAGIC_LEN;
}

/* A stream operation (FUZZ_OP_*) with its payload. */
static void s_op(uint8_t op, const void *payload, uint16_t n)
{
	if (slen + 4 + n > sizeof(stream)) {
		fprintf(stderr, "mkseed: stream too long\n");
		exit(1);
	}
	stream[slen++] = op;
	stream[slen++] = 0;
	stream[slen++] = (uint8_t)n;
	stream[slen++] = (uint8_t)(n >> 8);
	if (n)
		memcpy(stream + slen, payload, n);
	slen += n;
}

/* FUZZ_OP_DAMAGE of the byte at area offset off in the copies named. */
static void s_damage(unsigned int copies, uint8_t mask, uint32_t off)
{
	const uint8_t d[6] = {
		(uint8_t)copies, mask, (uint8_t)off, (uint8_t)(off >> 8),
		(uint8_t)(off >> 16), (uint8_t)(off >> 24),
	};

	s_op(FUZZ_OP_DAMAGE, d, sizeof(d));
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

	/*
	 * Compactions among records: a checkpoint with a pending file, then
	 * damage to an item in one copy, to a record in both, to a tail slot,
	 * and another compaction (into generation 1's areas).
	 */
	s_begin();
	s_rec(&(struct famfs_rec){ .type = FAMFS_REC_MKDIR, .ino = 2, .parent = 1,
				   .mode = 0755, .name = "d", .name_len = 1 }, 1, 0);
	s_rec(&(struct famfs_rec){ .type = FAMFS_REC_SET_QUOTA, .tenant = "acme",
				   .tenant_len = 4, .max_files = 8 }, 1, 0);
	s_rec(&(struct famfs_rec){ .type = FAMFS_REC_CREATE, .ino = 3, .parent = 2,
				   .size = 3 * FUZZ_UNIT, .mode = 0644,
				   .name = "f", .name_len = 1, .tenant = "acme",
				   .tenant_len = 4, .extents = ext,
				   .n_extents = 2 }, 1, 0);
	s_rec(&(struct famfs_rec){ .type = FAMFS_REC_CREATE, .ino = 4, .parent = 1,
				   .size = 100, .mode = 0600, .name = "g",
				   .name_len = 1, .extents = ext + 2,
				   .n_extents = 1 }, 1, 0);
	s_rec(&(struct famfs_rec){ .type = FAMFS_REC_DELETE, .ino = 3, .parent = 2,
				   .name = "f", .name_len = 1 }, 1, 1);
	s_op(FUZZ_OP_COMPACT, NULL, 0);
	s_rec(&(struct famfs_rec){ .type = FAMFS_REC_MKDIR, .ino = 5, .parent = 2,
				   .mode = 0700, .name = "e", .name_len = 1 }, 2, 1);
	s_rec(&(struct famfs_rec){ .type = FAMFS_REC_RECLAIM, .ino = 3,
				   .delete_seq = 5 }, 2, 1);
	s_damage(1, 0x10, FAMFS_LOG_HDR_SIZE + 40);
	s_damage(3, 0x01, FAMFS_LOG_HDR_SIZE + 300);
	s_damage(2, 0x04, 2 * FAMFS_CACHELINE + 8);
	put("stream-compact-damage", stream, slen);
	s_op(FUZZ_OP_COMPACT, NULL, 0);
	s_rec(&(struct famfs_rec){ .type = FAMFS_REC_DELETE, .ino = 4, .parent = 1,
				   .name = "g", .name_len = 1 }, 3, 1);
	s_op(FUZZ_OP_COMPACT, NULL, 0);
	put("stream-compact-twice", stream, slen);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: mkseed DIR\n");
		return 2;
	}
	dir = argv[1];
	images_gen1();
	images_compacted();
	streams();
	printf("mkseed: %d seeds in %s\n", written, dir);
	return 0;
}
