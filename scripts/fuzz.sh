#!/usr/bin/env bash
# Fuzzes the core library's pool parser, fsck, the log's scrub and repair
# and checkpoints: builds the libFuzzer target (tests/fuzz/fuzz_pool.c)
# with clang over the library sources (ASan+UBSan), writes the seed
# corpus (format 2 images of one, two and three generations, damaged in
# one log copy or both, and record streams with compactions) into
# build/fuzz/corpus, runs for SECONDS, and prints one closing line
# "fuzz: N passed, N failed".
# A crash, sanitizer report, timeout or leak leaves its input in
# build/fuzz/artifacts/. Under CI=true a missing clang or libFuzzer is a
# failure, never a skip.
#
# usage: scripts/fuzz.sh [SECONDS]
set -uo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
out=build/fuzz
CLANG=${CLANG:-clang}

finish() {	# passed failed
	echo "fuzz: $1 passed, $2 failed"
	[ "$2" -eq 0 ]
	exit
}

missing() {
	echo "fuzz: $1"
	if [ "${CI:-}" = true ]; then
		finish 0 1
	fi
	echo "fuzz: skipped (set CI=true to make this a failure)"
	finish 0 0
}

case $secs in
''|*[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS]"; finish 0 1 ;;
esac
command -v "$CLANG" >/dev/null ||
	missing "clang not found (apt-get install clang libclang-rt-14-dev)"
pkg=$(pkg-config --cflags --libs libisal uuid 2>/dev/null) ||
	missing "pkg-config finds no libisal or uuid (apt-get install libisal-dev uuid-dev)"
mkdir -p "$out/corpus" "$out/artifacts"

# libFuzzer ships in compiler-rt; check the link before blaming our code.
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n)\n{ (void)d; (void)n; return 0; }\n' >"$out/probe.c"
"$CLANG" -fsanitize=fuzzer "$out/probe.c" -o "$out/probe" 2>/dev/null ||
	missing "clang cannot link -fsanitize=fuzzer (libFuzzer missing: apt-get install libclang-rt-14-dev)"

flags=(-std=gnu11 -g -O1 -D_GNU_SOURCE -Ifamfsd/lib -Ikmod/uapi
       -Wall -Wextra -Wshadow -fno-omit-frame-pointer)
# shellcheck disable=SC2206
libs=($pkg)
echo "fuzz: building $out/fuzz_pool and $out/mkseed with $CLANG"
# Our own files get the project's warnings as errors.
"$CLANG" "${flags[@]}" -Werror -Wmissing-prototypes -Wstrict-prototypes \
	-fsyntax-only tests/fuzz/fuzz_pool.c tests/fuzz/mkseed.c ||
	{ echo "fuzz: build failed"; finish 0 1; }
"$CLANG" "${flags[@]}" -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all famfsd/lib/*.c tests/fuzz/fuzz_pool.c \
	"${libs[@]}" -o "$out/fuzz_pool" || { echo "fuzz: build failed"; finish 0 1; }
"$CLANG" "${flags[@]}" -fsanitize=address,undefined famfsd/lib/*.c \
	tests/fuzz/mkseed.c "${libs[@]}" -o "$out/mkseed" ||
	{ echo "fuzz: seed generator build failed"; finish 0 1; }
"$out/mkseed" "$out/corpus" || { echo "fuzz: seed generation failed"; finish 0 1; }

# Magic numbers the mutator cannot guess: the on-media magics (little
# endian bytes) and the tags of the input forms (tests/fuzz/fuzz_pool.h).
cat >"$out/pool.dict" <<'DICT'
sb_magic="FAMFSD01"
log_magic="FAMFSLOG"
stream="FZRECS01"
sparse="FZSPRS01"
sparse_crc="FZSPRC01"
DICT

echo "fuzz: running for ${secs}s on $(ls "$out/corpus" | wc -l) corpus inputs"
log="$out/fuzz.log"
"$out/fuzz_pool" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	-max_len=65536 -dict="$out/pool.dict" -print_final_stats=1 \
	-artifact_prefix="$out/artifacts/" "$out/corpus" >"$log" 2>&1
rc=$?
# The last progress line, the statistics, and any report.
grep -E '^#[0-9]+.*(pulse|DONE|INITED)' "$log" | tail -2
grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' "$log"
if [ $rc -ne 0 ]; then
	grep -E -A40 '^==[0-9]+==|runtime error|ALARM|deadly signal' "$log" | head -60
	ls -1 "$out/artifacts" | tail -5 | sed 's/^/fuzz: artifact: /'
	echo "fuzz: libFuzzer exited $rc (full log: $log)"
	finish 0 1
fi
finish 1 0
