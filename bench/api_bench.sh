#!/usr/bin/env bash
# API benchmark: 100,000 file creates over keep-alive HTTP against a real
# famfsd master on a file-backed pool, beside a same-run baseline (GET
# /healthz on the same server and connections: HTTP cost without the state
# lock or a log write). Prints creates/s, p50/p99 latency and the ratio, and
# the same creates on a master without the SIGBUS guards (FAMFSD_GUARD=off:
# what the guards, the device size check included, cost).
#
#   bench/api_bench.sh [REQUESTS] [CONNECTIONS]      (100000, 8)
#
# Targets on 2 cores: >= 20,000 creates/s and p99 < 2 ms. BUILD=build/san
# runs the sanitizer build (slower, not for the targets).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
N=${1:-100000}
C=${2:-8}
CTL=$BUILD/famfsctl
D=$BUILD/famfsd
LOAD=$BUILD/bench/api-load
for b in "$CTL" "$D" "$LOAD"; do
	[ -x "$b" ] || { echo "api_bench: $b missing (run make)" >&2; exit 1; }
done

tmp=$(mktemp -d /tmp/famfsd-api-bench.XXXXXX)
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
# A fresh pool and a master on it ($1: environment, e.g. FAMFSD_GUARD=off).
# 4 KiB units: 100,000 creates of 4 KiB need 400 MiB of a sparse 4 GiB file.
start_master() {
	rm -f "$tmp/pool.img"
	"$CTL" mkfs "$tmp/pool.img" --create 4G --alloc-unit 4K >/dev/null
	port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	env $1 "$D" master --pool "$tmp/pool.img" --listen "127.0.0.1:$port" \
		--tokens "$tmp/tokens" 2>"$tmp/master.log" &
	pid=$!
	for _ in $(seq 200); do
		kill -0 "$pid" 2>/dev/null || { cat "$tmp/master.log" >&2; exit 1; }
		curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
		sleep 0.05
	done
	curl -sf -X PUT -H "Authorization: Bearer $token" \
		"http://127.0.0.1:$port/v1/dirs/bench" >/dev/null
}

# The same creates on a fresh master with FAMFSD_GUARD=$1 (lib/guard.h).
creates_with_guard() {
	start_master "FAMFSD_GUARD=$1"
	"$LOAD" --addr "127.0.0.1:$port" --requests "$N" --connections "$C" \
		--method PUT --path '/v1/files/bench/f%n' --body '{"size":4096}' \
		--token "$token" --expect 201 --label creates
	kill "$pid"; wait "$pid"; pid=
}

start_master FAMFSD_GUARD=on

base=$("$LOAD" --addr "127.0.0.1:$port" --requests "$N" --connections "$C" \
	--path /healthz --expect 200 --label requests)
run=$("$LOAD" --addr "127.0.0.1:$port" --requests "$N" --connections "$C" \
	--method PUT --path '/v1/files/bench/f%n' --body '{"size":4096}' \
	--token "$token" --expect 201 --label creates)
files=$(curl -sf -H "Authorization: Bearer $token" \
	"http://127.0.0.1:$port/v1/pool" | /usr/bin/python3 -c \
	'import json,sys; print(json.load(sys.stdin)["files"])')
kill "$pid"; wait "$pid"; pid=
"$CTL" fsck "$tmp/pool.img" >/dev/null || { echo "api_bench: fsck failed" >&2; exit 1; }

field() { sed -nE "s/.* $1=([0-9.]+).*/\\1/p" <<<"$2"; }
# Guards off and on in turns (this VM's load moves a run by half): the
# faster of two runs each.
faster() { awk -v a="$(field rate "$1")" -v b="$(field rate "$2")" 'BEGIN { print (a > b ? a : b) }'; }
bare1=$(creates_with_guard off)
again=$(creates_with_guard on)
bare2=$(creates_with_guard off)
guarded=$(faster "$run" "$again")
bare=$(faster "$bare1" "$bare2")

echo "api bench: $N requests, $C keep-alive connections, $(nproc) cores"
printf '  baseline GET /healthz : %8.0f req/s   p50 %.3f ms  p99 %.3f ms\n' \
	"$(field rate "$base")" "$(field p50_ms "$base")" "$(field p99_ms "$base")"
printf '  PUT /v1/files create  : %8.0f creates/s p50 %.3f ms  p99 %.3f ms (%s files in the pool, fsck clean)\n' \
	"$(field rate "$run")" "$(field p50_ms "$run")" "$(field p99_ms "$run")" "$files"
awk -v g="$guarded" -v u="$bare" 'BEGIN {
	printf "  SIGBUS guards, creates turn about with and without (FAMFSD_GUARD=off), faster of two each: %.0f vs %.0f creates/s, ratio %.2f\n",
		g, u, g / u }'
awk -v c="$(field rate "$run")" -v b="$(field rate "$base")" -v p="$(field p99_ms "$run")" 'BEGIN {
	printf "  ratio creates/healthz: %.2f   targets: >= 20000 creates/s %s, p99 < 2 ms %s\n",
		c / b, (c >= 20000 ? "met" : "MISSED"), (p < 2 ? "met" : "MISSED") }'
[ "$files" -eq "$N" ]
