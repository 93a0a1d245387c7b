#!/usr/bin/env bash
# `make test`: every stage runs even after one fails; the closing line sums
# them all. Under CI=true a missing capability is a failure, never a skip.
set -uo pipefail
cd "$(dirname "$0")/.."
MAKE=${MAKE:-make}
total_pass=0 total_fail=0 stages_failed=()

# Runs a stage, picks the "N passed, N failed" line out of its output.
stage() {
	local name=$1; shift
	echo "=== $name"
	local log; log=$(mktemp)
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
	total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
	[ "$rc" -eq 0 ] || stages_failed+=("$name")
	rm -f "$log"
}

stage build $MAKE --no-print-directory -j2 all
stage "build (ASan+UBSan)" $MAKE --no-print-directory -j2 SAN=1 all
stage unit $MAKE --no-print-directory test-unit
stage "unit (ASan+UBSan)" $MAKE --no-print-directory SAN=1 test-unit
stage fuzz $MAKE --no-print-directory test-fuzz
stage "systemd units" $MAKE --no-print-directory test-systemd
stage integration $MAKE --no-print-directory test-integration
stage "integration (ASan+UBSan)" $MAKE --no-print-directory test-integration-san
stage "integration (TSan)" $MAKE --no-print-directory test-integration-tsan

echo
[ ${#stages_failed[@]} -eq 0 ] || echo "failed stages: ${stages_failed[*]}"
echo "total: $total_pass passed, $total_fail failed"
[ ${#stages_failed[@]} -eq 0 ] && [ "$total_fail" -eq 0 ]
