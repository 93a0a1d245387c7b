#!/usr/bin/env bash
# Churn benchmark: sustained create+delete cycles over keep-alive HTTP
# against a real famfsd master, for SECONDS on a pool with a 1 MiB log and
# again on one with the default log, beside a same-run baseline (creates
# alone on a fresh pool: the same server and connections, without the
# delete, the reclaim or a compaction). Prints cycles/s, p50/p99 latency,
# the 5xx count and the compactions each run did.
#
#   bench/churn_bench.sh [SECONDS] [CONNECTIONS]      (60, 8)
#
# FAMFSD_BENCH_SECONDS=5 shortens a smoke run. Target on 2 cores: >= 15,000
# cycles/s on both logs with no 5xx. Exits 1 when a run saw a 5xx or
# another reply than expected, or fsck finds the image unclean; a rate
# under target is printed MISSED. No agent runs, so each delete is
# reclaimed at once (the prompt-reclaim path with agents is what
# tests/integration/test_churn.py checks).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
SECS=${1:-${FAMFSD_BENCH_SECONDS:-60}}
C=${2:-8}
CTL=$BUILD/famfsctl
D=$BUILD/famfsd
LOAD=$BUILD/bench/api-load
for b in "$CTL" "$D" "$LOAD"; do
	[ -x "$b" ] || { echo "churn_bench: $b missing (run make)" >&2; exit 1; }
done

tmp=$(mktemp -d /tmp/famfsd-churn-bench.XXXXXX)
pid=
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill "$pid"; wait "$pid" || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s admin\n' "$token" >"$tmp/tokens"
chmod 600 "$tmp/tokens"
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port

# start_master IMAGE [MKFS OPTIONS]: a fresh sparse pool with 4 KiB units
# (a 60 s run at the target cycles 900,000 files through it), a master on
# it and the directory the load uses.
start_master() {
	local img=$1
	shift
	"$CTL" mkfs "$img" --create 16G --alloc-unit 4K "$@" >/dev/null
	"$D" master --pool "$img" --listen "127.0.0.1:$port" --tokens "$tmp/tokens" \
		--reclaim-grace-ms 0 2>>"$tmp/master.log" &
	pid=$!
	for _ in $(seq 200); do
		kill -0 "$pid" 2>/dev/null || { cat "$tmp/master.log" >&2; exit 1; }
		curl -sf "$url/healthz" >/dev/null && break
		sleep 0.05
	done
	curl -sf -X PUT -H "Authorization: Bearer $token" "$url/v1/dirs/bench" >/dev/null
}

# stop_master IMAGE: SIGTERM, then fsck of the image (clean or exit 1).
stop_master() {
	kill "$pid"; wait "$pid"; pid=
	"$CTL" fsck "$1" >"$tmp/fsck.out" || {
		echo "churn_bench: fsck of $1 is not clean:" >&2
		cat "$tmp/fsck.out" >&2; exit 1; }
}

# pool_field NAME: a field of GET /v1/pool, "n/a" when this build has none.
pool_field() {
	curl -sf -H "Authorization: Bearer $token" "$url/v1/pool" |
		/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin).get(sys.argv[1], "n/a"))' "$1"
}

field() { sed -nE "s/.* $1=([0-9.]+).*/\\1/p" <<<"$2"; }

start_master "$tmp/base.img"
base=$("$LOAD" --addr "127.0.0.1:$port" --requests 100000 --connections "$C" \
	--method PUT --path '/v1/files/bench/f%n' --body '{"size":4096}' \
	--token "$token" --expect 201 --label creates)
stop_master "$tmp/base.img"

declare -A out gens comps
bad=0
for log in 1M default; do
	opts=()
	[ "$log" = default ] || opts=(--log-size "$log")
	start_master "$tmp/$log.img" "${opts[@]}"
	gen0=$(pool_field log_generation)
	# api-load exits 1 on an unexpected reply; its RESULT line says how many.
	out[$log]=$("$LOAD" --addr "127.0.0.1:$port" --seconds "$SECS" \
		--connections "$C" --cycle --method PUT --path '/v1/files/bench/c%n' \
		--body '{"size":4096}' --token "$token" --label cycles \
		2>>"$tmp/load.err") || bad=1
	gen1=$(pool_field log_generation)
	comps[$log]=$(pool_field log_compactions)
	gens[$log]="n/a"
	[ "$gen0" = n/a ] || [ "$gen1" = n/a ] || gens[$log]=$((gen1 - gen0))
	[ "$(field http5xx "${out[$log]}")" = 0 ] || bad=1
	stop_master "$tmp/$log.img"
done

echo "churn bench: ${SECS} s per run, $C keep-alive connections, $(nproc) cores"
printf '  baseline PUT create (fresh pool) : %8.0f creates/s p50 %.3f ms  p99 %.3f ms\n' \
	"$(field rate "$base")" "$(field p50_ms "$base")" "$(field p99_ms "$base")"
for log in 1M default; do
	r=${out[$log]}
	name=$([ "$log" = default ] && echo "64 MiB log (default)" || echo "1 MiB log")
	first=
	[ "$(field http5xx "$r")" = 0 ] || first=" (the first after $(field first5xx_s "$r") s)"
	printf '  create+delete, %-20s: %8.0f cycles/s  p50 %.3f ms  p99 %.3f ms  %s cycles, %s 5xx%s, %s other errors, %s compactions (generation +%s)\n' \
		"$name" "$(field rate "$r")" "$(field p50_ms "$r")" "$(field p99_ms "$r")" \
		"$(field cycles "$r")" "$(field http5xx "$r")" "$first" \
		"$(( $(field errors "$r") - $(field http5xx "$r") ))" \
		"${comps[$log]}" "${gens[$log]}"
done
awk -v a="$(field rate "${out[1M]}")" -v b="$(field rate "${out[default]}")" \
	-v c="$(field rate "$base")" -v e1="$(field http5xx "${out[1M]}")" \
	-v e2="$(field http5xx "${out[default]}")" 'BEGIN {
	printf "  ratio cycles/creates: %.2f (1 MiB log), %.2f (default)   target: >= 15000 cycles/s with no 5xx: %s\n",
		a / c, b / c, (a >= 15000 && b >= 15000 && e1 == 0 && e2 == 0 ? "met" : "MISSED") }'
if [ "$bad" != 0 ]; then
	echo "churn_bench: a run saw a 5xx or an unexpected reply:" >&2
	sort "$tmp/load.err" | uniq -c >&2
	exit 1
fi
