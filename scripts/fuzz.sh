#!/usr/bin/env bash
# Runs the two libFuzzer targets (docs/fuzzing.md), built with clang
# (ASan+UBSan) into build/fuzz:
#   fuzz_pool  the core library's pool parser, fsck, the log's scrub and
#              repair and checkpoints (tests/fuzz/fuzz_pool.c), on format
#              2 images and record streams from tests/fuzz/mkseed.c;
#   fuzz_http  a whole master in-process, fed HTTP requests over loopback
#              (tests/fuzz/fuzz_http.c), seeds from tests/fuzz/mkseed_http.c.
# SECONDS is the total run time, split evenly between the two. Prints one
# line per target and one closing line "fuzz: N passed, N failed".
# A crash, sanitizer report, timeout or leak leaves its input in
# build/fuzz/artifacts/. Under CI=true a missing clang or libFuzzer is a
# failure, never a skip.
#
# usage: scripts/fuzz.sh [SECONDS]
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
secs=${1:-30}
out=build/fuzz
CLANG=${CLANG:-clang}
passed=0 failed=0

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
''|*[!0-9]*|0|1) echo "usage: scripts/fuzz.sh [SECONDS] (2 or more)"; finish 0 1 ;;
esac
command -v "$CLANG" >/dev/null ||
	missing "clang not found (apt-get install clang libclang-rt-14-dev)"
# The library needs libisal and uuid; the master all of them.
pkgs=(libisal uuid json-c yajl libmicrohttpd libsystemd inih libcxl libdaxctl libndctl)
if ! pkg_cflags=$(pkg-config --cflags "${pkgs[@]}" 2>/dev/null) ||
   ! pkg_libs=$(pkg-config --libs "${pkgs[@]}" 2>/dev/null); then
	missing "pkg-config does not find all of: ${pkgs[*]} (make deps installs them)"
fi
mkdir -p "$out/corpus" "$out/corpus-http" "$out/artifacts" "$out/obj"

# libFuzzer ships in compiler-rt; check the link before blaming our code.
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n)\n{ (void)d; (void)n; return 0; }\n' >"$out/probe.c"
"$CLANG" -fsanitize=fuzzer "$out/probe.c" -o "$out/probe" 2>/dev/null ||
	missing "clang cannot link -fsanitize=fuzzer (libFuzzer missing: apt-get install libclang-rt-14-dev)"

# shellcheck disable=SC2206
flags=(-std=gnu11 -g -O1 -D_GNU_SOURCE -Ifamfsd -Ifamfsd/lib -Ikmod/uapi -Icxl
       $pkg_cflags -Wall -Wextra -Wshadow -fno-omit-frame-pointer)
# shellcheck disable=SC2054
san=(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all)
# shellcheck disable=SC2206
libs=($pkg_libs -lpthread)
lib_src=(famfsd/lib/*.c)
# The master: every part of the daemon but main.c and the agent (whose
# HTTP client, http/client.c, stays out too).
daemon_src=(cxl/*.c famfsd/common/*.c famfsd/conf/*.c famfsd/master/*.c
            famfsd/master/api/*.c)
for f in famfsd/http/*.c; do
	[ "$f" = famfsd/http/client.c ] || daemon_src+=("$f")
done
own_src=(tests/fuzz/fuzz_pool.c tests/fuzz/mkseed.c tests/fuzz/fuzz_http.c
         tests/fuzz/mkseed_http.c)

echo "fuzz: building $out/fuzz_pool and $out/fuzz_http with $CLANG"
# Our own files get the project's warnings as errors.
"$CLANG" "${flags[@]}" -Werror -Wmissing-prototypes -Wstrict-prototypes \
	-fsyntax-only "${own_src[@]}" ||
	{ echo "fuzz: build failed"; finish 0 1; }
# Each source once, two at a time, instrumented for both targets.
export CLANG out FLAGS="${flags[*]} ${san[*]}"
printf '%s\n' "${lib_src[@]}" "${daemon_src[@]}" "${own_src[@]}" |
	xargs -P "${FUZZ_JOBS:-2}" -n 1 sh -c 'o="$out/obj/${1%.c}.o"
		mkdir -p "${o%/*}" && $CLANG $FLAGS -c "$1" -o "$o"' sh ||
	{ echo "fuzz: build failed"; finish 0 1; }
o() { for s in "$@"; do echo "$out/obj/${s%.c}.o"; done; }
mapfile -t lib_obj < <(o "${lib_src[@]}")
mapfile -t daemon_obj < <(o "${daemon_src[@]}")
# The web page's files (.incbin) that master/api/ui.c serves.
ui_obj=$out/obj/famfsd/master/api/ui_assets.o
"$CLANG" -c famfsd/master/api/ui_assets.S -o "$ui_obj" ||
	{ echo "fuzz: build failed"; finish 0 1; }
daemon_obj+=("$ui_obj")
link() {	# output objects... (the fuzzer's runtime when $1 is fuzz_*)
	local bin=$1 rt=address,undefined; shift
	case $bin in fuzz_*) rt=fuzzer,$rt ;; esac
	"$CLANG" -fsanitize="$rt" "$@" "${libs[@]}" -o "$out/$bin"
}
link fuzz_pool "${lib_obj[@]}" "$(o tests/fuzz/fuzz_pool.c)" &&
link fuzz_http "${lib_obj[@]}" "${daemon_obj[@]}" "$(o tests/fuzz/fuzz_http.c)" &&
link mkseed "${lib_obj[@]}" "$(o tests/fuzz/mkseed.c)" &&
link mkseed_http "$(o tests/fuzz/mkseed_http.c)" ||
	{ echo "fuzz: build failed"; finish 0 1; }
"$out/mkseed" "$out/corpus" && "$out/mkseed_http" "$out/corpus-http" ||
	{ echo "fuzz: seed generation failed"; finish 0 1; }

# Magic numbers the mutator cannot guess: the on-media magics (little
# endian bytes) and the tags of the input forms (tests/fuzz/fuzz_pool.h).
cat >"$out/pool.dict" <<'DICT'
sb_magic="FAMFSD01"
log_magic="FAMFSLOG"
stream="FZRECS01"
sparse="FZSPRS01"
sparse_crc="FZSPRC01"
DICT
# The request separator, the API's words and the encodings that matter.
cat >"$out/http.dict" <<'DICT'
sep="\x0a=====\x0a"
"/v1/files/"
"/v1/dirs/"
"/v1/tenants/"
"/quota"
"/v1/agents/"
"/heartbeat"
"/v1/log"
"/v1/pool"
"/v1/pool/compact"
"/v1/pool/map"
"/v1/pool/units/"
"/v1/whoami"
"?cells="
"?count="
"/v1/devices"
"?after="
"&wait="
"?limit="
"&cursor="
"%2F"
"%00"
"%2e%2e"
"%25"
"t1"
"t2"
"\"size\":"
"\"mode\":"
"\"uid\":"
"\"gid\":"
"\"tenant\":"
"\"agent_id\":"
"\"host\":"
"\"address\":"
"\"applied_seq\":"
"\"generation\":"
"\"open_inos\":"
"\"devices\":"
"\"max_bytes\":"
"\"max_files\":"
"\"memdevs\":"
"\"regions\":"
"\"namespaces\":"
"\"dax_regions\":"
"\"dax_devices\":"
"\\u0000"
"\\ud800"
"9223372036854775807"
"18446744073709551616"
"Transfer-Encoding: chunked\x0d\x0a"
"Content-Length: "
"Authorization: Bearer "
"\x0d\x0a"
DICT

# run NAME SECONDS CORPUS DICT MAX_LEN TIMEOUT [ENV...]
run() {
	local name=$1 t=$2 corpus=$3 dict=$4 max_len=$5 timeout=$6; shift 6
	local log="$out/$name.log" rc
	echo "fuzz: $name for ${t}s on $(ls "$corpus" | wc -l) corpus inputs"
	env "$@" "$out/$name" -max_total_time="$t" -timeout="$timeout" \
		-rss_limit_mb=2048 -max_len="$max_len" -dict="$dict" \
		-print_final_stats=1 -artifact_prefix="$out/artifacts/$name-" \
		"$corpus" >"$log" 2>&1
	rc=$?
	# The last progress line, the statistics, and any report.
	grep -E '^#[0-9]+.*(pulse|DONE|INITED)' "$log" | tail -2
	grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)|^fuzz_http:' "$log"
	if [ $rc -ne 0 ]; then
		grep -E -A40 '^==[0-9]+==|runtime error|ALARM|deadly signal|^fuzz_http:' "$log" | head -60
		# shellcheck disable=SC2012
		ls -1t "$out/artifacts/$name"-* 2>/dev/null | head -5 |
			sed 's/^/fuzz: artifact: /'
		[ "$name" = fuzz_http ] && tail -20 "$out/http-master.log" | sed 's/^/fuzz: master: /'
		echo "fuzz: $name: libFuzzer exited $rc (full log: $log)"
		failed=$((failed + 1))
		return
	fi
	echo "fuzz: $name: no findings"
	passed=$((passed + 1))
}

half=$((secs / 2))
run fuzz_pool "$half" "$out/corpus" "$out/pool.dict" 65536 10
# Each input is a few requests, some of which wait (a long poll, a
# compaction); a reply that never comes is a finding of its own at 10 s.
# Its pool and token file go in a scratch directory under $out/tmp, which
# a crash leaves behind.
rm -rf "$out/tmp" && mkdir -p "$out/tmp"
run fuzz_http $((secs - half)) "$out/corpus-http" "$out/http.dict" 8192 30 \
	FUZZ_HTTP_LOG="$out/http-master.log" TMPDIR="$PWD/$out/tmp"
finish "$passed" "$failed"
