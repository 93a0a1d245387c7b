/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the fuzz target and its seed generator agree on: the input forms
 * and the pool geometry of the record-stream form.
 *
 * Image form (any input not starting with FUZZ_STREAM_MAGIC): the bytes
 * are the start of a pool image; the image is the input padded with zeros
 * to FUZZ_IMAGE_MIN bytes (or the input's own length if longer). Seeds are
 * compact pools (log at 16 KiB, see tpool_compact_info) trimmed of their
 * trailing zeros, so a whole pool fits in a few KiB of input.
 *
 * Stream form: FUZZ_STREAM_MAGIC, then records, each
 *   u8 type (bit 7: publish after this record), u8 epoch, u16 len (LE),
 *   len payload bytes
 * written through the library's own writer into a fresh compact pool, so
 * framing and CRCs are right and the fuzzer reaches the record decoders
 * and the replay rules instead of stopping at a CRC.
 */
#ifndef FAMFSD_FUZZ_POOL_H
#define FAMFSD_FUZZ_POOL_H

#define FUZZ_IMAGE_MIN		(2u << 20)
#define FUZZ_STREAM_MAGIC	"FZRECS01"
#define FUZZ_STREAM_MAGIC_LEN	8u
#define FUZZ_PUBLISH		0x80u

/* Geometry of the stream form's pool (tpool_compact_info arguments). */
#define FUZZ_LOG_SIZE		(1u << 20)
#define FUZZ_UNIT		4096u
#define FUZZ_DATA_UNITS		128u

#endif
