/* SPDX-License-Identifier: GPL-2.0-or-later */
/* CRC32C (Castagnoli) over pool metadata, computed by ISA-L. */
#ifndef FAMFSD_CRC_H
#define FAMFSD_CRC_H

#include <stddef.h>
#include <stdint.h>

/* Standard CRC32C of len bytes (check value of "123456789": 0xe3069283). */
uint32_t famfs_crc32c(const void *buf, size_t len);

/* Incremental form: final(update(update(init(), a), b)) == crc32c(a || b). */
static inline uint32_t famfs_crc32c_init(void)
{
	return 0xffffffffu;
}

uint32_t famfs_crc32c_update(uint32_t state, const void *buf, size_t len);

static inline uint32_t famfs_crc32c_final(uint32_t state)
{
	return state ^ 0xffffffffu;
}

/*
 * CRC32C of a struct whose last 4 bytes are its own crc field: covers every
 * byte before the field.
 */
static inline uint32_t famfs_crc_struct(const void *s, size_t size)
{
	return famfs_crc32c(s, size - sizeof(uint32_t));
}

#endif
