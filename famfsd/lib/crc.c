// SPDX-License-Identifier: GPL-2.0-or-later
#include <isa-l/crc.h>
#include <limits.h>

#include "crc.h"

uint32_t famfs_crc32c_update(uint32_t state, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	/* ISA-L takes an int length. */
	while (len > INT_MAX) {
		state = crc32_iscsi((unsigned char *)p, INT_MAX, state);
		p += INT_MAX;
		len -= INT_MAX;
	}
	return crc32_iscsi((unsigned char *)p, (int)len, state);
}

uint32_t famfs_crc32c(const void *buf, size_t len)
{
	return famfs_crc32c_final(famfs_crc32c_update(famfs_crc32c_init(),
						      buf, len));
}
