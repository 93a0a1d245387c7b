/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the fuzz target and its seed generator agree on: the input forms
 * and the pool geometry of the record-stream form.
 *
 * Image form (any input not starting with one of the magics below): the
 * bytes are the start of a pool image; the image is the input padded with
 * zeros to FUZZ_IMAGE_MIN bytes (or the input's own length if longer).
 *
 * Sparse form: FUZZ_SPARSE_MAGIC, then chunks, each
 *   u32 offset (LE, taken modulo the image size), u16 len (LE), len bytes
 * copied over an image of zeros. A format 2 pool keeps its second log copy
 * half the log away from the first and the other generation's areas in
 * between, so a whole pool is far larger than libFuzzer's inputs; seeds
 * are compact pools (log at 16 KiB, see tpool_compact_info) as their
 * non-zero runs, a few KiB.
 *
 * Sparse form with CRCs: FUZZ_SPARSE_CRC_MAGIC, then chunks as above;
 * afterwards every CRC of the compact layout is made right again (both
 * superblocks, the header line and the tail slots of all four log areas,
 * and every record or item that frames, chained from the start of each
 * area's body, with the generation its header names), so the mutator
 * reaches the checks behind the CRCs: impossible checkpoint sizes, tails
 * that disagree with their records, two copies that pass but differ.
 *
 * Stream form: FUZZ_STREAM_MAGIC, then records, each
 *   u8 type (bit 7: publish after this record), u8 epoch, u16 len (LE),
 *   len payload bytes
 * written through the library's own writer into a fresh compact pool, so
 * framing and CRCs are right and the fuzzer reaches the record decoders
 * and the replay rules instead of stopping at a CRC. Two types are
 * operations instead of records:
 *   FUZZ_OP_COMPACT  the published state, if it replays, written as the
 *                    checkpoint of the next generation (famfs_log_create,
 *                    famfs_ckpt_write) and named by the superblock;
 *   FUZZ_OP_DAMAGE   payload u8 copies (bit 0: copy 0, bit 1: copy 1),
 *                    u8 xor, u32 offset (LE, modulo the area size): that
 *                    byte of the current generation's area changed in the
 *                    copies named.
 */
#ifndef FAMFSD_FUZZ_POOL_H
#define FAMFSD_FUZZ_POOL_H

#define FUZZ_IMAGE_MIN		(2u << 20)
#define FUZZ_STREAM_MAGIC	"FZRECS01"
#define FUZZ_SPARSE_MAGIC	"FZSPRS01"
#define FUZZ_SPARSE_CRC_MAGIC	"FZSPRC01"
#define FUZZ_MAGIC_LEN		8u
#define FUZZ_PUBLISH		0x80u
#define FUZZ_OP_DAMAGE		0x7du
#define FUZZ_OP_COMPACT		0x7eu
#define FUZZ_MAX_COMPACTIONS	4	/* per input: each replays the log */

/* Geometry of the stream form's pool (tpool_compact_info arguments). */
#define FUZZ_LOG_SIZE		(1u << 20)
#define FUZZ_UNIT		4096u
#define FUZZ_DATA_UNITS		128u

#endif
