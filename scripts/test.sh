#!/usr/bin/env bash
# `make test`: every stage runs even after one fails; the closing line sums
# them all. Under CI=true a missing capability is a failure, never a skip.
#
# The builds, unit tests and fuzzing run one after another. The integration
# tests then run in two lanes at once, because neither keeps both cores busy:
# the QEMU guests (TCG, one vCPU each) beside the host tests. The host lane
# goes on with the ASan+UBSan pass and a third of the ThreadSanitizer pass,
# the VM lane (shorter by itself) with the other two thirds, so the two end
# at about the same time. A
# lane's output is shown when both lanes are done; their start and end lines
# appear as they happen.
set -uo pipefail
cd "$(dirname "$0")/.."
MAKE=${MAKE:-make}
res=$(mktemp -d "${TMPDIR:-/tmp}/famfsd-test.XXXXXX")
trap 'rm -rf --one-file-system "$res"' EXIT
exec 3>&1	# the terminal, for lanes whose output goes to a file

# Runs a stage, keeps its "N passed, N failed" line in $res/<n>.res.
stage() {
	local name=$1; shift
	local n; n=$(mktemp "$res/stage.XXXXXX")
	local log=$n.log t0=$SECONDS
	echo "=== $name"
	[ -z "${in_lane:-}" ] || echo "--- $name: started" >&3
	"$@" 2>&1 | tee "$log"
	local rc=${PIPESTATUS[0]}
	local line p f e
	line=$(grep -E '[0-9]+ passed' "$log" | tail -1)
	p=$(sed -nE 's/.*([^0-9]|^)([0-9]+) passed.*/\2/p' <<<"$line")
	f=$(sed -nE 's/.*([^0-9]|^)([0-9]+) failed.*/\2/p' <<<"$line")
	# pytest reports setup/teardown failures as "N errors": failures too.
	e=$(sed -nE 's/.*([^0-9]|^)([0-9]+) errors?.*/\2/p' <<<"$line")
	p=${p:-0}; f=$(( ${f:-0} + ${e:-0} ))
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	echo "$rc $p $f $name" >"$n.res"
	echo "=== $name: $((SECONDS - t0)) s, $p passed, $f failed"
	[ -z "${in_lane:-}" ] || echo "--- $name: done in $((SECONDS - t0)) s" >&3
	rm -f "$log"
}

# Each pytest run of a lane gets its own base directory.
itest() {
	PYTEST_ADDOPTS="--basetemp=$(mktemp -d "$res/pytest.XXXXXX")" \
		$MAKE --no-print-directory "$@"
}

lane_host() {
	local in_lane=1
	stage "integration (host)" itest test-integration-host
	stage "integration (ASan+UBSan)" itest test-integration-san
	stage "integration (TSan, files 1/3)" itest test-integration-tsan SHARD=1/3
}

lane_vm() {
	local in_lane=1
	stage "integration (VMs, kmod build)" itest test-integration-vm
	stage "integration (TSan, files 2/3)" itest test-integration-tsan SHARD=2/3
	stage "integration (TSan, files 3/3)" itest test-integration-tsan SHARD=3/3
}

stage build $MAKE --no-print-directory -j2 all
stage "build (ASan+UBSan)" $MAKE --no-print-directory -j2 SAN=1 all
stage "build (TSan)" $MAKE --no-print-directory build-tsan
stage unit $MAKE --no-print-directory test-unit
stage "unit (ASan+UBSan)" $MAKE --no-print-directory SAN=1 test-unit
stage "unit (Lua)" $MAKE --no-print-directory test-lua
stage fuzz $MAKE --no-print-directory test-fuzz
stage "systemd units" $MAKE --no-print-directory test-systemd

lane_host >"$res/lane_host.out" 2>&1 &
host=$!
lane_vm >"$res/lane_vm.out" 2>&1 &
wait "$host" $!
cat "$res/lane_host.out" "$res/lane_vm.out"

total_pass=0 total_fail=0 stages_failed=()
for r in "$res"/*.res; do
	read -r rc p f name <"$r"
	total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
	[ "$rc" -eq 0 ] || stages_failed+=("$name")
done
echo
[ ${#stages_failed[@]} -eq 0 ] || echo "failed stages: ${stages_failed[*]}"
echo "total: $total_pass passed, $total_fail failed"
[ ${#stages_failed[@]} -eq 0 ] && [ "$total_fail" -eq 0 ]
