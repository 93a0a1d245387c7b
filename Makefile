# famfsd: build, test, run, bench. `make help` lists the targets.
#
# Binaries land in build/ (build/san/ for the ASan+UBSan build, SAN=1;
# build/tsan/ for the ThreadSanitizer build, SAN=thread).

CC       ?= cc
PYTHON   ?= /usr/bin/python3
SAN      ?= 0
BUILD    ?= $(if $(filter 1,$(SAN)),build/san,$(if $(filter thread,$(SAN)),build/tsan,build))

PKGS     := libisal uuid json-c yajl libmicrohttpd fuse3 inih libsystemd libcurl
CXL_PKGS := libcxl libdaxctl libndctl
WARN     := -Wall -Wextra -Werror -Wshadow -Wmissing-prototypes \
            -Wstrict-prototypes -Wformat-security
# CFLAGS/LDFLAGS stay the user's (make CFLAGS=...); ours go in FAMFS_*.
CFLAGS   ?= -O2 -g
FAMFS_CFLAGS := -std=gnu11 $(WARN) -D_GNU_SOURCE -D_FORTIFY_SOURCE=2 \
            -fno-strict-aliasing -Ifamfsd -Ifamfsd/lib -Ikmod/uapi -Icxl -MMD -MP
FAMFS_LDFLAGS :=
ifeq ($(SAN),1)
FAMFS_CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer \
                 -fno-sanitize-recover=all
FAMFS_LDFLAGS += -fsanitize=address,undefined
endif
# TSan does not model a lone fence (-Wtsan says so): ours order stores to
# the shared pool for other hosts; threads here synchronise with locks.
ifeq ($(SAN),thread)
FAMFS_CFLAGS  += -fsanitize=thread -fno-omit-frame-pointer -Wno-tsan
FAMFS_LDFLAGS += -fsanitize=thread
endif
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CXL_LIBS   = $(shell pkg-config --libs $(CXL_PKGS) 2>/dev/null)

LIB_SRC  := $(wildcard famfsd/lib/*.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
LIB      := $(BUILD)/libfamfsd.a
# libfamfscxl (cxl/): CXL and dax discovery; it uses libfamfsd, not the
# other way round.
CXL_SRC  := $(wildcard cxl/*.c)
CXL_OBJ  := $(CXL_SRC:%.c=$(BUILD)/obj/%.o)
CXL_LIB  := $(BUILD)/libfamfscxl.a
# famfsd, the daemon: famfsd/main.c and one folder per part (common,
# conf, http, master, master/api, agent, agent/fuse, agent/kmod).
D_DIRS   := common conf http master master/api agent agent/fuse agent/kmod
D_SRC    := famfsd/main.c $(foreach d,$(D_DIRS),$(wildcard famfsd/$(d)/*.c))
D_OBJ    := $(D_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/famfsd/master/api/ui_assets.o
# The web page (docs/ui.md), embedded by ui_assets.S's .incbin: the
# compiler's dependency files cannot name what the assembler reads.
UI_FILES := ui/index.html ui/app.js ui/style.css ui/favicon.svg
CTL_SRC  := $(wildcard famfsd/famfsctl/*.c)
# famfsctl reads a token file and a list of masters by the daemon's rules
# (common/token_file.c, common/url_list.c).
CTL_OBJ  := $(CTL_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/famfsd/common/token_file.o \
            $(BUILD)/obj/famfsd/common/url_list.o
TEST_SRC := $(wildcard tests/unit/test_*.c)
TESTS    := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)
BENCH    := $(BUILD)/bench/famfs-bench
TOOLS    := $(BUILD)/tools/famfs-logtool
API_LOAD := $(BUILD)/bench/api-load
FUSE_WIN := $(BUILD)/bench/fuse-window

.PHONY: all deps test test-unit test-lua test-san test-fuzz test-integration bench soak \
        test-integration-san test-integration-tsan test-integration-host test-integration-vm build-tsan \
        run clean help check-deps kmod install uninstall test-systemd

all: $(BUILD)/famfsctl $(BUILD)/famfsd $(TESTS) $(BENCH) $(TOOLS) $(API_LOAD) \
     $(FUSE_WIN)

help:
	@echo "make deps     install build and test dependencies (Debian, apt-get;"
	@echo "              the API linter with npm into api/node_modules)"
	@echo "make          build famfsctl, famfsd and the unit tests into build/"
	@echo "make test     deps, unit tests (plain and ASan+UBSan), fuzz, integration"
	@echo "make bench    benchmarks with same-run baselines"
	@echo "make soak     the churn test at full length: 2,000,000 create+delete"
	@echo "              cycles on a 1 MiB log (FAMFSD_CHURN_CYCLES=N for another),"
	@echo "              then test_failover.py with 20 kill -9 rounds"
	@echo "make run      a file-backed pool, a master and a local agent"
	@echo "make install  binaries, systemd units, config example, docs, kmod sources"
	@echo "              (PREFIX=/usr/local, DESTDIR=, SYSCONFDIR=/etc)"

deps:
	@./scripts/deps.sh

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC $<"; $(CC) $(CFLAGS) $(FAMFS_CFLAGS) $(PKG_CFLAGS) -c $< -o $@

$(BUILD)/obj/famfsd/master/api/ui_assets.o: famfsd/master/api/ui_assets.S $(UI_FILES)
	@mkdir -p $(dir $@)
	@echo "  AS $<"; $(CC) $(CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(CXL_LIB): $(CXL_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(BUILD)/famfsctl: $(CTL_OBJ) $(CXL_LIB) $(LIB)
	$(CC) $(LDFLAGS) $(FAMFS_LDFLAGS) -o $@ $^ $(PKG_LIBS) $(CXL_LIBS)

$(BUILD)/famfsd: $(D_OBJ) $(CXL_LIB) $(LIB)
	$(CC) $(LDFLAGS) $(FAMFS_LDFLAGS) -o $@ $^ $(PKG_LIBS) $(CXL_LIBS) -lpthread

# A unit test of daemon code links the daemon objects it names in
# UNIT_DAEMON_<test> (paths under famfsd/, without .c); it has its own
# main() (famfsd/main.c never links) and stubs what those objects call
# beyond themselves. Tests of famfsd/lib name nothing.
UNIT_DAEMON_test_api_router := master/api/router http/reply master/tokens \
                               common/msg common/token_file \
                               master/api/standby common/url_list
UNIT_DAEMON_test_api_json   := master/api/json http/reply
UNIT_DAEMON_test_agent_diff := agent/diff
UNIT_DAEMON_test_backend_auto := agent/backend_auto
UNIT_DAEMON_test_conf_options := conf/options conf/cmdline conf/check \
                                 conf/parse common/token_file common/url_list
UNIT_DAEMON_test_url_list := common/url_list
UNIT_DAEMON_test_token_file := common/token_file
UNIT_DAEMON_test_damage_table := master/damage_table
UNIT_DAEMON_test_pool_map := master/pool_map
UNIT_DAEMON_test_conn_guard := http/conn_guard common/msg
unit_daemon_obj = $(patsubst %,$(BUILD)/obj/famfsd/%.o,$(UNIT_DAEMON_$(1)))
# Kept between runs (as intermediates they were deleted and rebuilt).
.SECONDARY: $(TEST_SRC:%.c=$(BUILD)/obj/%.o) $(D_OBJ)

.SECONDEXPANSION:
$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $$(call unit_daemon_obj,$$*) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $(FAMFS_LDFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka -lpthread

$(BENCH): $(BUILD)/obj/bench/bench.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $(FAMFS_LDFLAGS) -o $@ $^ $(PKG_LIBS)

# HTTP load client of bench/api_bench.sh (no famfsd code in it).
$(API_LOAD): $(BUILD)/obj/bench/api_load.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $(FAMFS_LDFLAGS) -o $@ $^

# FUSE ceiling baseline of bench/agent_bench.py (no famfsd code in it).
$(FUSE_WIN): $(BUILD)/obj/bench/fuse_window.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $(FAMFS_LDFLAGS) -o $@ $^ $(shell pkg-config --libs fuse3)

# Test helper: a minimal log writer for agent tests without a master.
$(TOOLS): $(BUILD)/obj/tests/integration/tools/logtool.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $(FAMFS_LDFLAGS) -o $@ $^ $(PKG_LIBS)

# ---- tests ----------------------------------------------------------------
test: deps
	@./scripts/test.sh

test-unit: $(TESTS)
	@./scripts/run-unit.sh $(BUILD)/tests

# The Slurm burst buffer's own tests (plain Lua, no Slurm, no master).
test-lua:
	@env -u FAMFSD_BB_CONFIG lua5.1 slurm/tests/test_burst_buffer.lua

test-san:
	@$(MAKE) --no-print-directory SAN=1 test-unit

test-fuzz:
	@./scripts/fuzz.sh $${FUZZ_SECONDS:-30}

test-integration: all
	@$(PYTHON) -m pytest -q tests/integration

# The same, in the two parts scripts/test.sh runs side by side: the tests
# that boot QEMU guests (and the kmod build, which shares kmod/ with them),
# and all the others.
VM_ITESTS = tests/integration/*_vm.py tests/integration/test_kmod_build.py

test-integration-host: all
	@$(PYTHON) -m pytest -q -p no:cacheprovider tests/integration \
		--ignore-glob='*_vm.py' --ignore=tests/integration/test_kmod_build.py

test-integration-vm: all
	@$(PYTHON) -m pytest -q -p no:cacheprovider $(VM_ITESTS)

# The daemons and famfsctl built with a sanitizer, through every
# integration test that runs them on this host (the QEMU guests run the
# plain build, and the kmod build and `make run` cases do not use BUILD).
# The Slurm tests (test_slurm, test_bb_lua) run only in the plain build: their
# subject is burst_buffer.lua and Slurm, and the master's side of them
# (POST /v1/batch) runs under the sanitizers through test_api_batch and
# test_famfsctl_batch. So does the browser's (test_ui_browser): its subject
# is the page, and the master's side (the map, the page's files) runs under
# the sanitizers through test_api_map and test_ui_assets.
HOST_ITESTS = -q -p no:cacheprovider tests/integration --ignore-glob='*_vm.py' \
	--ignore=tests/integration/test_kmod_build.py \
	--ignore=tests/integration/test_make_run.py \
	--ignore=tests/integration/test_slurm.py \
	--ignore=tests/integration/test_bb_lua.py \
	--ignore=tests/integration/test_ui_browser.py

# Under the sanitizers, smaller counts of the long churn, crash and failover
# tests (their full counts run in the plain build, and `make soak`).
SAN_COUNTS = FAMFSD_CHURN_CYCLES=3000 FAMFSD_CRASH_ROUNDS=5 FAMFSD_FAILOVER_ROUNDS=2

test-integration-san:
	@$(MAKE) --no-print-directory SAN=1 all
	@$(SAN_COUNTS) LSAN_OPTIONS="suppressions=$(CURDIR)/tests/lsan.supp" \
		BUILD=build/san $(PYTHON) -m pytest $(HOST_ITESTS)

# Races between the daemons' threads (tests/tsan.supp says what is not one).
# SHARD=K/N runs only the K-th of every N test files (in name order):
# scripts/test.sh runs the three thirds at the ends of its two lanes, after
# building the TSan binaries once (build-tsan), so the lanes never build
# the same files at once.
TSAN_BIN = build/tsan/famfsd build/tsan/famfsctl build/tsan/tools/famfs-logtool
ifdef SHARD
TSAN_ITESTS = -q -p no:cacheprovider $(shell ls tests/integration/test_*.py | \
	grep -v -e '_vm\.py$$' -e '/test_kmod_build\.py$$' -e '/test_make_run\.py$$' \
		-e '/test_slurm\.py$$' -e '/test_bb_lua\.py$$' \
		-e '/test_ui_browser\.py$$' | \
	awk -v k=$(firstword $(subst /, ,$(SHARD))) -v n=$(lastword $(subst /, ,$(SHARD))) \
	'(NR - 1) % n == k - 1')
else
TSAN_ITESTS = $(HOST_ITESTS)
endif

build-tsan:
	@$(MAKE) --no-print-directory -j2 SAN=thread $(TSAN_BIN)

test-integration-tsan: build-tsan
	@$(SAN_COUNTS) TSAN_OPTIONS="suppressions=$(CURDIR)/tests/tsan.supp" BUILD=build/tsan \
		$(PYTHON) -m pytest $(TSAN_ITESTS)

# The units as installed, checked by systemd-analyze on this host.
test-systemd: $(BUILD)/famfsd $(BUILD)/famfsctl
	@BUILD=$(BUILD) ./scripts/verify-units.sh

run:
	@./scripts/run.sh

# The kernel module, against Debian's 6.1 headers (KDIR=... overrides).
kmod:
	@$(MAKE) --no-print-directory -C kmod $(if $(KDIR),KDIR=$(KDIR))

# The churn and compaction benchmarks run last, and both run even when
# the first fails (a 5xx, no compaction in this build); make bench then
# fails with the first one's status.
bench: deps all
	@$(BENCH)
	@BUILD=$(BUILD) ./bench/api_bench.sh
	@BUILD=$(BUILD) $(PYTHON) bench/agent_bench.py
	@$(PYTHON) bench/kmod_bench.py
	@BUILD=$(BUILD) $(PYTHON) bench/kmod_devdax_bench.py
	@BUILD=$(BUILD) $(PYTHON) bench/flood_bench.py
	@BUILD=$(BUILD) $(PYTHON) bench/failover_bench.py
	@BUILD=$(BUILD) $(PYTHON) bench/batch_bench.py
	@BUILD=$(BUILD) $(PYTHON) bench/map_bench.py
	@BUILD=$(BUILD) $(PYTHON) bench/ui_bench.py
	@BUILD=$(BUILD) ./bench/churn_bench.sh; r=$$?; \
		BUILD=$(BUILD) $(PYTHON) bench/compact_bench.py && exit $$r

# tests/integration/test_churn.py's churn test with the issue's count (CI
# runs 20,000 cycles); at the pace of a 100,000 cycle run here (some 1,800
# cycles/s between kills, 200 kills of ~1.6 s) about 25 minutes on 2 cores.
soak: all
	@FAMFSD_CHURN_CYCLES=$${FAMFSD_CHURN_CYCLES:-2000000} $(PYTHON) -m pytest -q -s \
		-p no:cacheprovider tests/integration/test_churn.py::test_churn
	@FAMFSD_FAILOVER_ROUNDS=$${FAMFSD_FAILOVER_ROUNDS:-20} $(PYTHON) -m pytest -q \
		-p no:cacheprovider tests/integration/test_failover.py

# ---- install (scripts/install.sh; docs/systemd.md) -------------------------
PREFIX     ?= /usr/local
SYSCONFDIR ?= /etc
INSTALL_ENV = DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" SYSCONFDIR="$(SYSCONFDIR)" \
              BUILD="$(BUILD)" $(if $(BINDIR),BINDIR="$(BINDIR)") \
              $(if $(UNITDIR),UNITDIR="$(UNITDIR)") $(if $(DOCDIR),DOCDIR="$(DOCDIR)")

install: $(BUILD)/famfsd $(BUILD)/famfsctl
	@$(INSTALL_ENV) ./scripts/install.sh

uninstall:
	@$(INSTALL_ENV) ./scripts/install.sh --uninstall

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
