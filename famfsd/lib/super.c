// SPDX-License-Identifier: GPL-2.0-or-later
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <uuid/uuid.h>

#include "crc.h"
#include "guard.h"
#include "super.h"

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

int famfs_sb_plan(uint64_t dev_size, uint64_t alloc_unit, uint64_t log_size,
		  struct famfs_pool_info *info, uint64_t *ret_min_size)
{
	uint64_t min_size;

	if (!alloc_unit)
		alloc_unit = FAMFS_DEFAULT_ALLOC_UNIT;
	if (!log_size)
		log_size = FAMFS_DEFAULT_LOG_SIZE;
	if (!is_pow2(alloc_unit) || alloc_unit < FAMFS_MIN_ALLOC_UNIT ||
	    alloc_unit > FAMFS_MAX_ALLOC_UNIT)
		return -EINVAL;
	if (log_size < FAMFS_MIN_LOG_SIZE || log_size > (1ull << 40) ||
	    log_size % FAMFS_LOG_SIZE_ALIGN)
		return -EINVAL;

	memset(info, 0, sizeof(*info));
	info->version = FAMFS_FORMAT_VERSION;
	info->device_size = dev_size;
	info->alloc_unit = alloc_unit;
	info->log_offset = FAMFS_META_ALIGN;
	info->log_size = log_size;
	info->data_offset = align_up(info->log_offset + log_size,
				     alloc_unit > FAMFS_META_ALIGN ?
				     alloc_unit : FAMFS_META_ALIGN);
	info->log_generation = 1;
	info->sb_seq = 1;
	/* Room for the metadata and at least one allocation unit of data. */
	min_size = info->data_offset + alloc_unit;
	if (dev_size < min_size) {
		if (ret_min_size)
			*ret_min_size = min_size;
		return -ENOSPC;
	}
	return 0;
}

void famfs_sb_encode(const struct famfs_pool_info *info, struct famfs_sb *sb)
{
	memset(sb, 0, sizeof(*sb));
	sb->magic = htole64(FAMFS_SB_MAGIC);
	sb->version = htole32(info->version);
	sb->flags = htole32(info->flags);
	memcpy(sb->pool_uuid, info->pool_uuid, 16);
	memcpy(sb->device_uuid, info->device_uuid, 16);
	sb->device_size = htole64(info->device_size);
	sb->alloc_unit = htole64(info->alloc_unit);
	sb->log_offset = htole64(info->log_offset);
	sb->log_size = htole64(info->log_size);
	sb->data_offset = htole64(info->data_offset);
	sb->log_generation = htole64(info->log_generation);
	sb->created_ns = htole64(info->created_ns);
	sb->sb_seq = htole64(info->sb_seq);
	sb->crc = htole32(famfs_crc_struct(sb, sizeof(*sb)));
}

/* The geometry checks, in the order a reader should hear about them. */
static const char *check_geometry(const struct famfs_pool_info *in,
				  uint64_t dev_size)
{
	if (!is_pow2(in->alloc_unit) || in->alloc_unit < FAMFS_MIN_ALLOC_UNIT ||
	    in->alloc_unit > FAMFS_MAX_ALLOC_UNIT)
		return "allocation unit is not a power of two in [4 KiB, 1 GiB]";
	if (in->device_size > dev_size)
		return "pool is larger than the device (truncated image?)";
	if (in->log_offset < FAMFS_LEASE_OFFSET + FAMFS_SB_SLOT ||
	    in->log_offset % FAMFS_CACHELINE)
		return "log offset overlaps the superblock area or is misaligned";
	if (in->log_size < FAMFS_MIN_LOG_SIZE || in->log_size % FAMFS_LOG_SIZE_ALIGN ||
	    in->log_size > in->device_size ||
	    in->log_offset > in->device_size - in->log_size)
		return "log region is outside the pool";
	if (in->data_offset < in->log_offset + in->log_size ||
	    in->data_offset % in->alloc_unit ||
	    in->data_offset >= in->device_size)
		return "data offset is misaligned or outside the pool";
	if (!in->log_generation)
		return "log generation is zero";
	return NULL;
}

int famfs_sb_decode(const struct famfs_sb *sb, uint64_t dev_size,
		    struct famfs_pool_info *info, const char **reason)
{
	struct famfs_pool_info in;

	if (le64toh(sb->magic) != FAMFS_SB_MAGIC) {
		*reason = "bad magic";
		return -EUCLEAN;
	}
	if (le32toh(sb->crc) != famfs_crc_struct(sb, sizeof(*sb))) {
		*reason = "CRC mismatch (torn or corrupt)";
		return -EUCLEAN;
	}
	in.version = le32toh(sb->version);
	if (in.version != FAMFS_FORMAT_VERSION) {
		*reason = in.version == 1 ?
			  "format version 1 (famfsd 0.1): this famfsd reads version 2 "
			  "only; copy the files off with famfsd 0.1, then mkfs" :
			  "unsupported format version";
		return -EUCLEAN;
	}
	in.flags = le32toh(sb->flags);
	memcpy(in.pool_uuid, sb->pool_uuid, 16);
	memcpy(in.device_uuid, sb->device_uuid, 16);
	in.device_size = le64toh(sb->device_size);
	in.alloc_unit = le64toh(sb->alloc_unit);
	in.log_offset = le64toh(sb->log_offset);
	in.log_size = le64toh(sb->log_size);
	in.data_offset = le64toh(sb->data_offset);
	in.log_generation = le64toh(sb->log_generation);
	in.created_ns = le64toh(sb->created_ns);
	in.sb_seq = le64toh(sb->sb_seq);
	*reason = check_geometry(&in, dev_size);
	if (*reason)
		return -EUCLEAN;
	*info = in;
	return 0;
}

/*
 * Load step: drop stale lines, then read the copy at src into *ret, under
 * a guard (lib/guard.h); false when its lines fault.
 */
static bool sb_copy(const uint8_t *src, const struct famfs_cache_ops *ops,
		    struct famfs_sb *ret)
{
	struct famfs_guard g;

	if (!famfs_guard_begin(&g))
		return false;
	ops->invalidate(src, sizeof(*ret));
	ops->rfence();
	memcpy(ret, src, sizeof(*ret));
	famfs_guard_end(&g);
	return true;
}

int famfs_sb_load(const uint8_t *base, uint64_t dev_size,
		  const struct famfs_cache_ops *ops,
		  struct famfs_pool_info *ret_info,
		  struct famfs_sb_status *ret_status)
{
	static const uint64_t where[2] = { FAMFS_SB_A_OFFSET, FAMFS_SB_B_OFFSET };
	struct famfs_pool_info info[2];
	struct famfs_sb_status st = { .used = -1 };
	bool magic = false;
	int r[2];

	if (dev_size < FAMFS_SB_B_OFFSET + sizeof(struct famfs_sb)) {
		/* The status is filled on every failure, this one too. */
		st.reason[0] = st.reason[1] = "device too small for a superblock";
		if (ret_status)
			*ret_status = st;
		return -ENODEV;
	}
	for (int i = 0; i < 2; i++) {
		struct famfs_sb sb;

		if (!sb_copy(base + where[i], ops, &sb)) {
			st.reason[i] = "superblock: memory error: its lines fault "
				       "(poisoned, or the pool file was truncated)";
			r[i] = -EUCLEAN;
			magic = true;
			continue;
		}
		magic |= le64toh(sb.magic) == FAMFS_SB_MAGIC;
		r[i] = famfs_sb_decode(&sb, dev_size, &info[i], &st.reason[i]);
	}
	if (ret_status)
		*ret_status = st;
	if (r[0] < 0 && r[1] < 0)
		return magic ? -EUCLEAN : -ENODEV;
	if (r[0] == 0 && r[1] == 0)
		st.used = info[1].sb_seq > info[0].sb_seq;
	else
		st.used = r[0] == 0 ? 0 : 1;
	*ret_info = info[st.used];
	if (ret_status)
		*ret_status = st;
	return 0;
}

/* One copy written, flushed, fenced, under a guard: false if it faults. */
static bool sb_put(uint8_t *dst, const struct famfs_sb *sb,
		   const struct famfs_cache_ops *ops)
{
	struct famfs_guard g;

	if (!famfs_guard_begin(&g))
		return false;
	memcpy(dst, sb, sizeof(*sb));
	ops->flush(dst, sizeof(*sb));
	ops->wfence();
	famfs_guard_end(&g);
	return true;
}

int famfs_sb_write(uint8_t *base, const struct famfs_pool_info *info,
		   const struct famfs_cache_ops *ops)
{
	struct famfs_sb sb;
	bool a, b;

	famfs_sb_encode(info, &sb);
	/*
	 * Copy A is durable before B is touched, so one copy is always whole.
	 * A copy whose lines fault is left bad (readers take the other).
	 */
	a = sb_put(base + FAMFS_SB_A_OFFSET, &sb, ops);
	b = sb_put(base + FAMFS_SB_B_OFFSET, &sb, ops);
	return a || b ? 0 : -EIO;
}

enum famfs_sb_field famfs_sb_compare(const struct famfs_pool_info *known,
				     const struct famfs_pool_info *now,
				     unsigned int flags)
{
	if (memcmp(known->pool_uuid, now->pool_uuid, 16) != 0)
		return FAMFS_SB_POOL_UUID;
	if (known->created_ns != now->created_ns)
		return FAMFS_SB_CREATED;
	if (known->version != now->version)
		return FAMFS_SB_VERSION;
	if (memcmp(known->device_uuid, now->device_uuid, 16) != 0)
		return FAMFS_SB_DEVICE_UUID;
	if (known->device_size != now->device_size)
		return FAMFS_SB_DEVICE_SIZE;
	if (known->alloc_unit != now->alloc_unit)
		return FAMFS_SB_ALLOC_UNIT;
	if (known->log_offset != now->log_offset)
		return FAMFS_SB_LOG_OFFSET;
	if (known->log_size != now->log_size)
		return FAMFS_SB_LOG_SIZE;
	if (known->data_offset != now->data_offset)
		return FAMFS_SB_DATA_OFFSET;
	if (known->flags != now->flags)
		return FAMFS_SB_FLAGS;
	if ((flags & FAMFS_SB_CMP_GENERATION) ?
	    known->log_generation != now->log_generation :
	    now->log_generation < known->log_generation)
		return FAMFS_SB_GENERATION;
	return FAMFS_SB_SAME;
}

const char *famfs_sb_field_name(enum famfs_sb_field f)
{
	static const char *const names[] = {
		[FAMFS_SB_SAME] = "nothing",
		[FAMFS_SB_POOL_UUID] = "pool UUID",
		[FAMFS_SB_CREATED] = "creation time",
		[FAMFS_SB_VERSION] = "format version",
		[FAMFS_SB_DEVICE_UUID] = "device UUID",
		[FAMFS_SB_DEVICE_SIZE] = "pool size",
		[FAMFS_SB_ALLOC_UNIT] = "allocation unit",
		[FAMFS_SB_LOG_OFFSET] = "log offset",
		[FAMFS_SB_LOG_SIZE] = "log size",
		[FAMFS_SB_DATA_OFFSET] = "data offset",
		[FAMFS_SB_FLAGS] = "flags",
		[FAMFS_SB_GENERATION] = "log generation",
	};

	if ((size_t)f >= sizeof(names) / sizeof(names[0]))
		return "unknown field";
	return names[f];
}

/* The value of one field, for famfs_sb_describe(). */
static uint64_t field_value(enum famfs_sb_field f, const struct famfs_pool_info *in)
{
	switch (f) {
	case FAMFS_SB_CREATED:
		return in->created_ns;
	case FAMFS_SB_VERSION:
		return in->version;
	case FAMFS_SB_DEVICE_SIZE:
		return in->device_size;
	case FAMFS_SB_ALLOC_UNIT:
		return in->alloc_unit;
	case FAMFS_SB_LOG_OFFSET:
		return in->log_offset;
	case FAMFS_SB_LOG_SIZE:
		return in->log_size;
	case FAMFS_SB_DATA_OFFSET:
		return in->data_offset;
	case FAMFS_SB_FLAGS:
		return in->flags;
	case FAMFS_SB_GENERATION:
		return in->log_generation;
	default:
		return 0;
	}
}

void famfs_sb_describe(enum famfs_sb_field f, const struct famfs_pool_info *known,
		       const struct famfs_pool_info *now, char *buf, size_t size)
{
	char a[37], b[37];

	if (!size)
		return;
	if (f == FAMFS_SB_POOL_UUID || f == FAMFS_SB_DEVICE_UUID) {
		const uint8_t *ua = f == FAMFS_SB_POOL_UUID ? known->pool_uuid :
				    known->device_uuid;
		const uint8_t *ub = f == FAMFS_SB_POOL_UUID ? now->pool_uuid :
				    now->device_uuid;

		uuid_unparse_lower(ua, a);
		uuid_unparse_lower(ub, b);
		snprintf(buf, size, "%s %s -> %s", famfs_sb_field_name(f), a, b);
		return;
	}
	if (f == FAMFS_SB_SAME) {
		snprintf(buf, size, "nothing");
		return;
	}
	snprintf(buf, size, "%s %" PRIu64 " -> %" PRIu64, famfs_sb_field_name(f),
		 field_value(f, known), field_value(f, now));
}
