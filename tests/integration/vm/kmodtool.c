// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * kmodtool: the guest side of the kernel module's VM tests and bench.
 * Raw ioctls (to test the module without the agent, and to feed it bad
 * arguments), data checks through mmap and read(), fault-counter and
 * smaps evidence for PMD mappings, a hold-open helper, memory-failure
 * injection, and the mmap read bandwidth loop. Output is one JSON object
 * per command on stdout; exit status 0 means the check passed.
 *
 *   kmodtool info MOUNT
 *   kmodtool mkdir MOUNT INO PARENT NAME [MODE]
 *   kmodtool create MOUNT INO PARENT NAME SIZE OFF:LEN[,OFF:LEN...] [MODE]
 *   kmodtool create-empty MOUNT INO COUNT    (empty files fINO.. in the root)
 *   kmodtool delete MOUNT INO PARENT NAME
 *   kmodtool revoke MOUNT INO
 *   kmodtool open-inos MOUNT
 *   kmodtool create-many MOUNT INO N OFF STEP (N files of one STEP-byte
 *                                            extent each from OFF; µs per create)
 *   kmodtool bad-ioctls MOUNT PARENT
 *   kmodtool fill FILE OFF LEN SEED          (through mmap, then msync)
 *   kmodtool check FILE OFF LEN SEED         (through mmap and pread)
 *   kmodtool map-read MOUNT FILE             (whole file; fault deltas, smaps)
 *   kmodtool hold FILE SECONDS               (open and mapped; prints "held")
 *   kmodtool map-touch FILE OFF              (maps the page at OFF, loads a byte)
 *   kmodtool poison FILE                     (MADV_HWPOISON on its first page)
 *   kmodtool poison-signal FILE PAGE         (the same on page PAGE, SIGBUS caught)
 *   kmodtool reconfigure MOUNT [meta_rw]     (fspick + reconfigure, as the agent,
 *                                             at nice 19)
 *   kmodtool umount-when-fenced MOUNT SECONDS (prints "polling", polls INFO,
 *                                             umounts once fenced)
 *   kmodtool probe FILE r|w                  (mapped; prints "held", waits for
 *                                             SIGUSR1, then tries the mapping
 *                                             and pread/pwrite again)
 *   kmodtool bench PATH OFF LEN PASSES       (mmap sequential read, GB/s)
 *   kmodtool read-bench PATH OFF LEN PASSES  (pread into 1 MiB, GB/s)
 *   kmodtool memcpy-bench PATH OFF LEN PASSES (memcpy from a mapping, GB/s)
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "famfsd_kmod.h"

#define MIB (1024ull * 1024)

static void die(const char *what)
{
	fprintf(stderr, "kmodtool: %s: %s\n", what, strerror(errno));
	exit(2);
}

static uint64_t num(const char *s)
{
	char *end;
	uint64_t v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end) {
		fprintf(stderr, "kmodtool: bad number '%s'\n", s);
		exit(2);
	}
	return v;
}

static int open_mount(const char *mount)
{
	int fd = open(mount, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		die(mount);
	return fd;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void get_info(int fd, struct famfsd_ioc_info *info)
{
	if (ioctl(fd, FAMFSD_IOC_INFO, info) < 0)
		die("FAMFSD_IOC_INFO");
}

static int cmd_info(int argc, char **argv)
{
	struct famfsd_ioc_info i;
	int fd;

	if (argc != 1)
		return 2;
	fd = open_mount(argv[0]);
	get_info(fd, &i);
	printf("{\"abi_version\": %u, \"flags\": %u, \"device_size\": %llu, "
	       "\"pool_size\": %llu, \"alloc_unit\": %llu, \"log_offset\": %llu, "
	       "\"log_size\": %llu, \"data_offset\": %llu, \"log_generation\": %llu, "
	       "\"files\": %llu, \"dirs\": %llu, \"held_bytes\": %llu, "
	       "\"pte_faults\": %llu, \"pmd_faults\": %llu, \"pmd_fallbacks\": %llu, "
	       "\"mkwrite_faults\": %llu, \"fault_errors\": %llu, "
	       "\"applied_seq\": %llu, \"applied_generation\": %llu}\n",
	       i.abi_version, i.flags, (unsigned long long)i.device_size,
	       (unsigned long long)i.pool_size, (unsigned long long)i.alloc_unit,
	       (unsigned long long)i.log_offset, (unsigned long long)i.log_size,
	       (unsigned long long)i.data_offset,
	       (unsigned long long)i.log_generation, (unsigned long long)i.files,
	       (unsigned long long)i.dirs, (unsigned long long)i.held_bytes,
	       (unsigned long long)i.pte_faults, (unsigned long long)i.pmd_faults,
	       (unsigned long long)i.pmd_fallbacks,
	       (unsigned long long)i.mkwrite_faults,
	       (unsigned long long)i.fault_errors,
	       (unsigned long long)i.applied_seq,
	       (unsigned long long)i.applied_generation);
	return 0;
}

static int report(const char *op, int r)
{
	printf("{\"op\": \"%s\", \"errno\": %d, \"error\": \"%s\"}\n", op,
	       r < 0 ? errno : 0, r < 0 ? strerror(errno) : "");
	return r < 0 ? 1 : 0;
}

static int cmd_mkdir(int argc, char **argv)
{
	struct famfsd_ioc_mkdir a = { 0 };
	int fd;

	if (argc < 4 || argc > 5)
		return 2;
	fd = open_mount(argv[0]);
	a.ino = num(argv[1]);
	a.parent = num(argv[2]);
	a.name = (uintptr_t)argv[3];
	a.name_len = strlen(argv[3]);
	a.mode = argc > 4 ? num(argv[4]) : 0755;
	return report("mkdir", ioctl(fd, FAMFSD_IOC_MKDIR, &a));
}

/* "OFF:LEN,OFF:LEN" into at most max extents; returns the count. */
static uint32_t parse_extents(char *s, struct famfsd_ioc_extent *ext,
			      uint32_t max)
{
	uint32_t n = 0;
	char *tok, *save = NULL;

	for (tok = strtok_r(s, ",", &save); tok && n < max;
	     tok = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(tok, ':');

		if (!colon) {
			fprintf(stderr, "kmodtool: extent '%s' is not OFF:LEN\n", tok);
			exit(2);
		}
		*colon = '\0';
		ext[n].offset = num(tok);
		ext[n].len = num(colon + 1);
		n++;
	}
	return n;
}

static int cmd_create(int argc, char **argv)
{
	struct famfsd_ioc_extent ext[FAMFSD_KMOD_MAX_EXTENTS];
	struct famfsd_ioc_create a = { 0 };
	int fd;

	if (argc < 6 || argc > 7)
		return 2;
	fd = open_mount(argv[0]);
	a.ino = num(argv[1]);
	a.parent = num(argv[2]);
	a.name = (uintptr_t)argv[3];
	a.name_len = strlen(argv[3]);
	a.size = num(argv[4]);
	a.n_extents = parse_extents(argv[5], ext, FAMFSD_KMOD_MAX_EXTENTS);
	a.extents = (uintptr_t)ext;
	a.mode = argc > 6 ? num(argv[6]) : 0644;
	return report("create", ioctl(fd, FAMFSD_IOC_CREATE, &a));
}

/* COUNT empty files in the root, inodes from INO on: a long inode list. */
static int cmd_create_empty(int argc, char **argv)
{
	struct famfsd_ioc_create a = { .parent = 1, .mode = 0644 };
	uint64_t ino, count;
	char name[32];
	int fd;

	if (argc != 3)
		return 2;
	fd = open_mount(argv[0]);
	ino = num(argv[1]);
	count = num(argv[2]);
	for (uint64_t i = 0; i < count; i++) {
		a.ino = ino + i;
		a.name_len = snprintf(name, sizeof(name), "f%" PRIu64, ino + i);
		a.name = (uintptr_t)name;
		if (ioctl(fd, FAMFSD_IOC_CREATE, &a) < 0)
			return report("create-empty", -1);
	}
	return report("create-empty", 0);
}

static int cmd_delete(int argc, char **argv)
{
	struct famfsd_ioc_delete a = { 0 };
	int fd;

	if (argc != 4)
		return 2;
	fd = open_mount(argv[0]);
	a.ino = num(argv[1]);
	a.parent = num(argv[2]);
	a.name = (uintptr_t)argv[3];
	a.name_len = strlen(argv[3]);
	return report("delete", ioctl(fd, FAMFSD_IOC_DELETE, &a));
}

static int cmd_revoke(int argc, char **argv)
{
	struct famfsd_ioc_revoke a = { 0 };
	int fd;

	if (argc != 2)
		return 2;
	fd = open_mount(argv[0]);
	a.ino = num(argv[1]);
	return report("revoke", ioctl(fd, FAMFSD_IOC_REVOKE, &a));
}

/*
 * N files "mINO" in the root, inode numbers from INO, file k on the one
 * extent [OFF + k * STEP, + STEP): how the cost of a create grows with the
 * number of files (and extents) the mount holds. Prints the mean µs per
 * create of the first and of the last tenth.
 */
static int cmd_create_many(int argc, char **argv)
{
	uint64_t ino, n, off, step, tenth;
	double t0, first = 0, last = 0;
	int fd;

	if (argc != 5)
		return 2;
	fd = open_mount(argv[0]);
	ino = num(argv[1]);
	n = num(argv[2]);
	off = num(argv[3]);
	step = num(argv[4]);
	tenth = n / 10 ? n / 10 : 1;
	t0 = now_s();
	for (uint64_t k = 0; k < n; k++) {
		struct famfsd_ioc_extent ext = { .offset = off + k * step, .len = step };
		struct famfsd_ioc_create a = {
			.ino = ino + k, .parent = 1, .size = step, .mode = 0644,
			.n_extents = 1, .extents = (uintptr_t)&ext,
		};
		char name[32];

		a.name_len = snprintf(name, sizeof(name), "m%" PRIu64, ino + k);
		a.name = (uintptr_t)name;
		if (ioctl(fd, FAMFSD_IOC_CREATE, &a) < 0)
			die("FAMFSD_IOC_CREATE");
		if (k + 1 == tenth)
			first = (now_s() - t0) / tenth * 1e6;
		if (k + 1 == n - tenth)
			t0 = now_s();
	}
	last = (now_s() - t0) / tenth * 1e6;
	printf("{\"files\": %" PRIu64 ", \"first_tenth_us\": %.1f, "
	       "\"last_tenth_us\": %.1f}\n", n, first, last);
	return 0;
}

static int cmd_open_inos(int argc, char **argv)
{
	uint64_t inos[1024];
	struct famfsd_ioc_open_inos a = {
		.inos = (uintptr_t)inos, .capacity = 1024,
	};
	int fd;

	if (argc != 1)
		return 2;
	fd = open_mount(argv[0]);
	if (ioctl(fd, FAMFSD_IOC_OPEN_INOS, &a) < 0)
		die("FAMFSD_IOC_OPEN_INOS");
	printf("{\"count\": %u, \"inos\": [", a.count);
	for (uint32_t i = 0; i < a.count && i < a.capacity; i++)
		printf("%s%" PRIu64, i ? ", " : "", inos[i]);
	printf("]}\n");
	return 0;
}

/*
 * Every argument check of the module, one bad request each; every one must
 * fail with EINVAL (and leave nothing behind). Prints what each returned.
 */
static int cmd_bad_ioctls(int argc, char **argv)
{
	struct famfsd_ioc_extent ext[FAMFSD_KMOD_MAX_EXTENTS + 1];
	struct famfsd_ioc_info info;
	uint64_t parent, unit, data, end, ino = (1ull << 40);
	char longname[300];
	int fd, failures = 0, n = 0;

	if (argc != 2)
		return 2;
	fd = open_mount(argv[0]);
	parent = num(argv[1]);
	get_info(fd, &info);
	unit = info.alloc_unit;
	data = info.data_offset;
	end = info.pool_size;
	memset(longname, 'a', sizeof(longname));

#define ONE_CREATE(label, field_setup) do {					\
		struct famfsd_ioc_create c = {					\
			.ino = ino++, .parent = parent, .size = unit,		\
			.mode = 0644, .n_extents = 1, .name_len = 3,		\
			.name = (uintptr_t)"bad", .extents = (uintptr_t)ext,	\
		};							\
		ext[0].offset = data;						\
		ext[0].len = unit;						\
		field_setup;							\
		int r = ioctl(fd, FAMFSD_IOC_CREATE, &c);			\
		int e = r < 0 ? errno : 0;					\
		printf("%s{\"case\": \"%s\", \"errno\": %d}", n++ ? ", " : "[",	\
		       label, e);						\
		if (e != EINVAL)						\
			failures++;						\
	} while (0)

	ONE_CREATE("unaligned offset", ext[0].offset = data + 4096);
	ONE_CREATE("unaligned length", ext[0].len = unit + 4096);
	ONE_CREATE("empty extent", ext[0].len = 0; c.size = 0);
	ONE_CREATE("extent in the superblock", ext[0].offset = 0);
	ONE_CREATE("extent in the log", ext[0].offset = info.log_offset);
	ONE_CREATE("extent straddling data_offset",
		   ext[0].offset = data - unit; ext[0].len = 2 * unit);
	ONE_CREATE("extent past the pool", ext[0].offset = end);
	ONE_CREATE("extent ending past the pool",
		   ext[0].offset = end - unit; ext[0].len = 2 * unit);
	ONE_CREATE("offset+len overflow",
		   ext[0].offset = -unit; ext[0].len = 2 * unit);
	ONE_CREATE("overlapping extents",
		   c.n_extents = 2; ext[1].offset = data; ext[1].len = unit);
	ONE_CREATE("too many extents", c.n_extents = FAMFSD_KMOD_MAX_EXTENTS + 1);
	ONE_CREATE("size beyond extents", c.size = unit + 1);
	ONE_CREATE("size without extents", c.n_extents = 0);
	ONE_CREATE("empty name", c.name_len = 0);
	ONE_CREATE("name too long", c.name = (uintptr_t)longname; c.name_len = 256);
	ONE_CREATE("name with slash", c.name = (uintptr_t)"a/b");
	ONE_CREATE("name with NUL", c.name = (uintptr_t)"a\0b");
	ONE_CREATE("name dot", c.name = (uintptr_t)"."; c.name_len = 1);
	ONE_CREATE("name dotdot", c.name = (uintptr_t)".."; c.name_len = 2);
	ONE_CREATE("mode with type bits", c.mode = 0100644);
	ONE_CREATE("invalid uid", c.uid = (uint32_t)-1);
	ONE_CREATE("mtime past S64_MAX", c.mtime_ns = UINT64_MAX);
	ONE_CREATE("inode 0", c.ino = 0);
	ONE_CREATE("inode 1 (root)", c.ino = 1);
	ONE_CREATE("inode in the meta range", c.ino = FAMFSD_KMOD_INO_MAX + 1);
	ONE_CREATE("parent 0", c.parent = 0);
	ONE_CREATE("flags set", c.flags = 1);
	ONE_CREATE("reserved set", c.reserved = 1);
#undef ONE_CREATE

	{
		struct famfsd_ioc_mkdir m = {
			.ino = ino++, .parent = parent, .mode = 040755,
			.name = (uintptr_t)"d", .name_len = 1,
		};
		int r = ioctl(fd, FAMFSD_IOC_MKDIR, &m);
		int e = r < 0 ? errno : 0;

		printf(", {\"case\": \"mkdir mode with type bits\", \"errno\": %d}", e);
		failures += e != EINVAL;
	}
	{
		struct famfsd_ioc_delete d = {
			.ino = 1, .parent = parent, .name = (uintptr_t)"x",
			.name_len = 1,
		};
		int r = ioctl(fd, FAMFSD_IOC_DELETE, &d);
		int e = r < 0 ? errno : 0;

		printf(", {\"case\": \"delete the root\", \"errno\": %d}", e);
		failures += e != EINVAL;
	}
	{
		struct famfsd_ioc_open_inos o = { .capacity = UINT32_MAX };
		int r = ioctl(fd, FAMFSD_IOC_OPEN_INOS, &o);
		int e = r < 0 ? errno : 0;

		printf(", {\"case\": \"open_inos capacity too large\", \"errno\": %d}", e);
		failures += e != EINVAL;
	}
	{
		struct famfsd_ioc_usage u = { .free_bytes = end };
		int r = ioctl(fd, FAMFSD_IOC_SET_USAGE, &u);
		int e = r < 0 ? errno : 0;

		printf(", {\"case\": \"usage above the data area\", \"errno\": %d}", e);
		failures += e != EINVAL;
	}
	{
		int r = ioctl(fd, _IOW(FAMFSD_IOC_MAGIC, 99, uint64_t), &ino);
		int e = r < 0 ? errno : 0;

		printf(", {\"case\": \"unknown command\", \"errno\": %d}", e);
		failures += e != ENOTTY;
	}
	printf("]\n");
	return failures ? 1 : 0;
}

/* The pattern: 8-byte words derived from the seed and the file offset. */
static inline uint64_t pattern(uint64_t seed, uint64_t off)
{
	uint64_t x = seed ^ (off * 0x9e3779b97f4a7c15ull);

	x ^= x >> 29;
	return x * 0xbf58476d1ce4e5b9ull;
}

static uint8_t *map_file(const char *path, int flags, int prot, uint64_t *size,
			 int *ret_fd)
{
	struct stat st;
	uint8_t *p;
	int fd = open(path, flags | O_CLOEXEC);

	if (fd < 0)
		die(path);
	if (fstat(fd, &st) < 0)
		die("fstat");
	*size = st.st_size;
	p = mmap(NULL, st.st_size, prot, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap");
	*ret_fd = fd;
	return p;
}

static void check_range(uint64_t size, uint64_t off, uint64_t len)
{
	if (off % 8 || len % 8 || off > size || len > size - off) {
		fprintf(stderr, "kmodtool: range %" PRIu64 "+%" PRIu64
			" not 8-byte aligned or past %" PRIu64 "\n", off, len, size);
		exit(2);
	}
}

static int cmd_fill(int argc, char **argv)
{
	uint64_t size, off, len, seed;
	uint8_t *p;
	int fd;

	if (argc != 4)
		return 2;
	off = num(argv[1]);
	len = num(argv[2]);
	seed = num(argv[3]);
	p = map_file(argv[0], O_RDWR, PROT_READ | PROT_WRITE, &size, &fd);
	check_range(size, off, len);
	for (uint64_t o = off; o < off + len; o += 8)
		*(volatile uint64_t *)(p + o) = pattern(seed, o);
	if (msync(p, size, MS_SYNC) < 0)
		die("msync");
	printf("{\"filled\": %" PRIu64 "}\n", len);
	return 0;
}

static int cmd_check(int argc, char **argv)
{
	uint64_t size, off, len, seed, bad_map = 0, bad_read = 0, first = UINT64_MAX;
	uint64_t buf[512];
	uint8_t *p;
	int fd;

	if (argc != 4)
		return 2;
	off = num(argv[1]);
	len = num(argv[2]);
	seed = num(argv[3]);
	p = map_file(argv[0], O_RDONLY, PROT_READ, &size, &fd);
	check_range(size, off, len);
	for (uint64_t o = off; o < off + len; o += 8) {
		if (*(volatile uint64_t *)(p + o) != pattern(seed, o)) {
			bad_map++;
			if (first == UINT64_MAX)
				first = o;
		}
	}
	for (uint64_t o = off; o < off + len; o += sizeof(buf)) {
		size_t want = off + len - o < sizeof(buf) ? off + len - o : sizeof(buf);
		ssize_t got = pread(fd, buf, want, o);

		if (got != (ssize_t)want)
			die("pread");
		for (size_t i = 0; i < want / 8; i++)
			bad_read += buf[i] != pattern(seed, o + i * 8);
	}
	printf("{\"checked\": %" PRIu64 ", \"bad_words_mmap\": %" PRIu64
	       ", \"bad_words_read\": %" PRIu64 ", \"first_bad\": %" PRId64 "}\n",
	       len, bad_map, bad_read, first == UINT64_MAX ? -1 : (int64_t)first);
	return bad_map || bad_read ? 1 : 0;
}

/*
 * The smaps entry of the mapping that starts at addr: sizes in kB and its
 * VmFlags ("hg" is VM_HUGEPAGE). Note that 6.1 accounts DAX PMD mappings
 * in neither Rss nor FilePmdMapped: the module's counters are the proof.
 */
static void print_smaps(const void *addr)
{
	unsigned long lo, hi, v;
	char line[512], key[64];
	bool in = false;
	int n = 0;
	FILE *f = fopen("/proc/self/smaps", "re");

	if (!f)
		die("/proc/self/smaps");
	printf("\"smaps\": {");
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, ' ') >
		    strchr(line, '-')) {
			if (in)
				break;
			in = lo == (unsigned long)addr;
			continue;
		}
		if (!in)
			continue;
		if (strncmp(line, "VmFlags:", 8) == 0) {
			line[strcspn(line, "\n")] = '\0';
			printf("%s\"VmFlags\": \"%s\"", n++ ? ", " : "", line + 9);
		} else if (sscanf(line, "%63[A-Za-z_]: %lu kB", key, &v) == 2) {
			printf("%s\"%s\": %lu", n++ ? ", " : "", key, v);
		}
	}
	printf("}");
	fclose(f);
}

/*
 * Maps a whole file, reads one word per page, and reports the module's
 * fault counters before and after, plus the mapping's smaps entry.
 */
static int cmd_map_read(int argc, char **argv)
{
	struct famfsd_ioc_info a, b;
	uint64_t size, sum = 0;
	uint8_t *p;
	int mfd, fd;

	if (argc != 2)
		return 2;
	mfd = open_mount(argv[0]);
	p = map_file(argv[1], O_RDONLY, PROT_READ, &size, &fd);
	get_info(mfd, &a);
	for (uint64_t o = 0; o < size; o += 4096)
		sum += *(volatile uint64_t *)(p + o);
	get_info(mfd, &b);
	printf("{\"size\": %" PRIu64 ", \"addr_2m_aligned\": %s, "
	       "\"pmd_faults\": %llu, \"pte_faults\": %llu, \"pmd_fallbacks\": %llu, ",
	       size, ((uintptr_t)p % (2 * MIB)) ? "false" : "true",
	       (unsigned long long)(b.pmd_faults - a.pmd_faults),
	       (unsigned long long)(b.pte_faults - a.pte_faults),
	       (unsigned long long)(b.pmd_fallbacks - a.pmd_fallbacks));
	print_smaps(p);
	printf(", \"sum\": %" PRIu64 "}\n", sum);
	return 0;
}

static int cmd_hold(int argc, char **argv)
{
	uint64_t size;
	uint8_t *p;
	int fd;

	if (argc != 2)
		return 2;
	p = map_file(argv[0], O_RDONLY, PROT_READ, &size, &fd);
	if (size)
		(void)*(volatile uint8_t *)p;
	printf("held\n");
	fflush(stdout);
	sleep(num(argv[1]));
	return 0;
}

static sigjmp_buf bus_jmp;

static void on_sigbus(int sig)
{
	(void)sig;
	siglongjmp(bus_jmp, 1);
}

/*
 * Maps the one page at file offset OFF shared, loads a byte of it (a DAX
 * fault: the page is now an entry of that file's mapping) and unmaps.
 * Prints the mmap errno (0 when it mapped) and whether the load got SIGBUS.
 */
static int cmd_map_touch(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_sigbus };
	volatile bool sigbus = false;
	uint64_t off;
	uint8_t *p;
	volatile int e = 0;
	int fd;

	if (argc != 2)
		return 2;
	off = num(argv[1]) & ~4095ull;
	fd = open(argv[0], O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die(argv[0]);
	p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, off);
	if (p == MAP_FAILED) {
		e = errno;
	} else {
		sigaction(SIGBUS, &sa, NULL);
		if (sigsetjmp(bus_jmp, 1) == 0)
			(void)*(volatile uint8_t *)p;
		else
			sigbus = true;
		munmap(p, 4096);
	}
	printf("{\"mmap_errno\": %d, \"sigbus\": %s}\n", e,
	       sigbus ? "true" : "false");
	return e || sigbus ? 1 : 0;
}

/*
 * Injects a memory failure under the file's first page. The module must
 * fence the mount: later accesses through the old mapping give SIGBUS,
 * read() gives EIO, and the kernel stays up.
 */
static int cmd_poison(int argc, char **argv)
{
	volatile bool sigbus = false;
	struct sigaction sa = { .sa_handler = on_sigbus };
	uint64_t size;
	char byte;
	uint8_t *p;
	ssize_t got;
	int fd, r;
	volatile int read_errno = 0;

	if (argc != 1)
		return 2;
	p = map_file(argv[0], O_RDONLY, PROT_READ, &size, &fd);
	(void)*(volatile uint8_t *)p;
	r = madvise(p, 4096, MADV_HWPOISON);
	if (r < 0)
		die("madvise(MADV_HWPOISON)");
	sigaction(SIGBUS, &sa, NULL);
	if (sigsetjmp(bus_jmp, 1) == 0)
		(void)*(volatile uint8_t *)(p + (size > 8192 ? 8192 : 0));
	else
		sigbus = true;
	got = pread(fd, &byte, 1, 0);
	if (got < 0)
		read_errno = errno;
	printf("{\"sigbus\": %s, \"read_errno\": %d}\n", sigbus ? "true" : "false",
	       read_errno);
	return sigbus && read_errno == EIO ? 0 : 1;
}

static volatile sig_atomic_t bus_code;
static void *volatile bus_addr;

static void on_sigbus_info(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	bus_code = si->si_code;
	bus_addr = si->si_addr;
	siglongjmp(bus_jmp, 1);
}

/*
 * MADV_HWPOISON on page PAGE of a mapped file with a SIGBUS handler in
 * place: reports whether the signal came during madvise (the module's
 * memory-failure hook signals the process that maps the page), its code
 * (BUS_MCEERR_AO 5, _AR 4) and address, whether a later touch of the page
 * faults too, and what read() of it returns. Passes when every one of
 * those gave SIGBUS, the address was the page's, and read() got EIO.
 */
static int cmd_poison_signal(int argc, char **argv)
{
	struct sigaction sa = { .sa_sigaction = on_sigbus_info,
				.sa_flags = SA_SIGINFO };
	volatile bool at_madvise = false, at_touch = false;
	volatile int code = 0, read_errno = 0;
	uint64_t size, page;
	void *volatile addr = NULL;
	uint8_t *p, *target;
	char byte;
	int fd;

	if (argc != 2)
		return 2;
	page = num(argv[1]);
	p = map_file(argv[0], O_RDONLY, PROT_READ, &size, &fd);
	if ((page + 1) * 4096 > size)
		return 2;
	target = p + page * 4096;
	(void)*(volatile uint8_t *)target;
	sigaction(SIGBUS, &sa, NULL);
	if (sigsetjmp(bus_jmp, 1) == 0) {
		if (madvise(target, 4096, MADV_HWPOISON) < 0)
			die("madvise(MADV_HWPOISON)");
	} else {
		at_madvise = true;
		code = bus_code;
		addr = bus_addr;
	}
	if (sigsetjmp(bus_jmp, 1) == 0)
		(void)*(volatile uint8_t *)target;
	else
		at_touch = true;
	if (pread(fd, &byte, 1, page * 4096) < 0)
		read_errno = errno;
	printf("{\"sigbus_at_madvise\": %s, \"si_code\": %d, \"si_addr_ok\": %s, "
	       "\"sigbus_at_touch\": %s, \"read_errno\": %d}\n",
	       at_madvise ? "true" : "false", code,
	       addr == target ? "true" : "false", at_touch ? "true" : "false",
	       read_errno);
	return at_madvise && addr == target && at_touch && read_errno == EIO ? 0 : 1;
}

/*
 * Sets the mount's options anew, as the agent does: meta_rw or nothing.
 * At nice 19 (taken after exec, so starting is not slowed): on one vCPU a
 * process racing the remount then runs whenever the remount waits, which
 * is how the tests make a race window show.
 */
static int cmd_reconfigure(int argc, char **argv)
{
	int fd, r;

	if (argc < 1 || argc > 2 || (argc == 2 && strcmp(argv[1], "meta_rw")))
		return 2;
	errno = 0;
	if (nice(19) == -1 && errno)
		die("nice");
	fd = fspick(AT_FDCWD, argv[0], FSPICK_CLOEXEC);
	if (fd < 0)
		die("fspick");
	r = argc == 2 ? fsconfig(fd, FSCONFIG_SET_FLAG, "meta_rw", NULL, 0) : 0;
	if (!r)
		r = fsconfig(fd, FSCONFIG_CMD_RECONFIGURE, NULL, NULL, 0);
	return report("reconfigure", r);
}

/*
 * Polls INFO until the mount is fenced, then unmounts it straight away
 * (no exec in between): the fencing callback is then still at work.
 */
static int cmd_umount_when_fenced(int argc, char **argv)
{
	struct famfsd_ioc_info info;
	double deadline;
	int fd;

	if (argc != 2)
		return 2;
	deadline = now_s() + num(argv[1]);
	printf("polling\n");
	fflush(stdout);
	for (;;) {
		fd = open_mount(argv[0]);

		get_info(fd, &info);
		close(fd);
		if (info.flags & FAMFSD_INFO_FENCED)
			break;
		if (now_s() > deadline) {
			fprintf(stderr, "kmodtool: %s not fenced in time\n", argv[0]);
			return 1;
		}
	}
	fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);	/* a mark in the log */
	if (fd >= 0) {
		static const char mark[] = "famfsd-test: umount now\n";

		(void)!write(fd, mark, sizeof(mark) - 1);
		close(fd);
	}
	return report("umount", umount2(argv[0], 0));
}

static volatile sig_atomic_t probe_go;

static void on_sigusr1(int sig)
{
	(void)sig;
	probe_go = 1;
}

/*
 * Maps FILE (read-only, or shared writable for "w") and touches its first
 * byte the same way, prints "held", and waits for SIGUSR1: meanwhile the
 * test changes the mount under it (unbinds the device, remounts). A "w"
 * probe keeps writing (the same bytes back) over the first MiB while it
 * waits, so a write fault may race the change. Then it touches the
 * mapping once more, does a pread (pwrite for "w") of one byte, and
 * reports whether the mapping raised SIGBUS and the errno of the call:
 * the test decides what they should have been.
 */
static int cmd_probe(int argc, char **argv)
{
	struct sigaction bus = { .sa_handler = on_sigbus };
	struct sigaction usr = { .sa_handler = on_sigusr1 };
	volatile bool sigbus = false;
	volatile int io_errno = 0;
	volatile uint8_t *v;
	uint64_t size;
	uint8_t *p;
	char byte;
	bool w;
	int fd;

	if (argc != 2 || (strcmp(argv[1], "r") && strcmp(argv[1], "w")))
		return 2;
	w = argv[1][0] == 'w';
	sigaction(SIGUSR1, &usr, NULL);
	p = map_file(argv[0], w ? O_RDWR : O_RDONLY,
		     PROT_READ | (w ? PROT_WRITE : 0), &size, &fd);
	v = p;
	byte = v[0];
	if (w)
		v[0] = byte;		/* a writable PTE, same bytes */
	printf("held\n");
	fflush(stdout);
	sigaction(SIGBUS, &bus, NULL);
	if (sigsetjmp(bus_jmp, 1) == 0) {
		uint64_t span = size < MIB ? size : MIB;

		for (uint64_t o = 0; w && !probe_go; o = (o + 4096) % span)
			v[o] = v[o];
		while (!probe_go)
			usleep(1000);
		if (w)
			v[0] = byte;
		else
			(void)v[0];
	} else {
		sigbus = true;
		while (!probe_go)
			usleep(1000);
	}
	if ((w ? pwrite(fd, &byte, 1, 0) : pread(fd, &byte, 1, 0)) < 0)
		io_errno = errno;
	printf("{\"sigbus\": %s, \"io_errno\": %d}\n",
	       sigbus ? "true" : "false", io_errno);
	return 0;
}

/*
 * Sequential read bandwidth through a shared mapping of [off, off + len)
 * of PATH (a file of the mount, or /dev/daxX.Y), best of PASSES passes;
 * the first pass pays the faults, the best shows the steady state.
 */
static int cmd_bench(int argc, char **argv)
{
	uint64_t off, len, passes, sum = 0;
	double best = 0, first = 0;
	uint64_t *p;
	int fd;

	if (argc != 4)
		return 2;
	off = num(argv[1]);
	len = num(argv[2]);
	passes = num(argv[3]);
	fd = open(argv[0], O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die(argv[0]);
	p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, off);
	if (p == MAP_FAILED)
		die("mmap");
	for (uint64_t k = 0; k < passes; k++) {
		double t0 = now_s(), gbs;
		uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;

		for (uint64_t i = 0; i < len / 8; i += 4) {
			s0 += p[i];
			s1 += p[i + 1];
			s2 += p[i + 2];
			s3 += p[i + 3];
		}
		sum += s0 + s1 + s2 + s3;
		gbs = len / (now_s() - t0) / 1e9;
		if (!k)
			first = gbs;
		if (gbs > best)
			best = gbs;
	}
	printf("{\"path\": \"%s\", \"bytes\": %" PRIu64 ", \"passes\": %" PRIu64
	       ", \"first_gbs\": %.4f, \"best_gbs\": %.4f, \"addr_2m_aligned\": %s, ",
	       argv[0], len, passes, first, best,
	       ((uintptr_t)p % (2 * MIB)) ? "false" : "true");
	print_smaps(p);
	printf(", \"sum\": %" PRIu64 "}\n", sum);
	return 0;
}

/*
 * Copy bandwidth of [off, off + len) of PATH into a 1 MiB buffer, best of
 * PASSES: by read() (pread of the file: the module's copy), or, with
 * memcpy, by a user memcpy from a shared mapping (a raw /dev/daxX.Y: the
 * baseline the module's read() is measured against).
 */
static int copy_bench(int argc, char **argv, bool by_read)
{
	const size_t chunk = MIB;
	uint64_t off, len, passes;
	double best = 0, first = 0;
	uint8_t *p = NULL, *buf;
	int fd;

	if (argc != 4)
		return 2;
	off = num(argv[1]);
	len = num(argv[2]);
	passes = num(argv[3]);
	if (!len || len % chunk)
		return 2;
	fd = open(argv[0], O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die(argv[0]);
	buf = aligned_alloc(4096, chunk);
	if (!buf)
		die("aligned_alloc");
	memset(buf, 0, chunk);
	if (!by_read) {
		p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, off);
		if (p == MAP_FAILED)
			die("mmap");
	}
	for (uint64_t k = 0; k < passes; k++) {
		double t0 = now_s(), gbs;

		for (uint64_t o = 0; o < len; o += chunk) {
			if (!by_read)
				memcpy(buf, p + o, chunk);
			else if (pread(fd, buf, chunk, off + o) != (ssize_t)chunk)
				die("pread");
		}
		gbs = len / (now_s() - t0) / 1e9;
		if (!k)
			first = gbs;
		if (gbs > best)
			best = gbs;
	}
	printf("{\"path\": \"%s\", \"how\": \"%s\", \"bytes\": %" PRIu64
	       ", \"passes\": %" PRIu64 ", \"first_gbs\": %.4f, "
	       "\"best_gbs\": %.4f, \"byte\": %u}\n", argv[0],
	       by_read ? "read" : "memcpy", len, passes, first, best, buf[chunk - 1]);
	return 0;
}

static int cmd_read_bench(int argc, char **argv)
{
	return copy_bench(argc, argv, true);
}

static int cmd_memcpy_bench(int argc, char **argv)
{
	return copy_bench(argc, argv, false);
}

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
} cmds[] = {
	{ "info", cmd_info }, { "mkdir", cmd_mkdir }, { "create", cmd_create },
	{ "delete", cmd_delete }, { "revoke", cmd_revoke },
	{ "open-inos", cmd_open_inos }, { "create-many", cmd_create_many },
	{ "bad-ioctls", cmd_bad_ioctls },
	{ "fill", cmd_fill }, { "check", cmd_check }, { "map-read", cmd_map_read },
	{ "hold", cmd_hold }, { "map-touch", cmd_map_touch },
	{ "poison", cmd_poison }, { "poison-signal", cmd_poison_signal },
	{ "bench", cmd_bench },
	{ "read-bench", cmd_read_bench }, { "memcpy-bench", cmd_memcpy_bench },
	{ "create-empty", cmd_create_empty },
	{ "probe", cmd_probe }, { "reconfigure", cmd_reconfigure },
	{ "umount-when-fenced", cmd_umount_when_fenced },
};

int main(int argc, char **argv)
{
	if (argc >= 2)
		for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
			if (strcmp(argv[1], cmds[i].name) == 0) {
				int r = cmds[i].fn(argc - 2, argv + 2);

				if (r == 2)
					fprintf(stderr, "kmodtool: bad arguments to %s\n",
						argv[1]);
				return r;
			}
	fprintf(stderr, "usage: kmodtool COMMAND ARGS (see the source's header)\n");
	return 2;
}
