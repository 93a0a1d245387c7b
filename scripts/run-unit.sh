#!/usr/bin/env bash
# Runs every cmocka test binary in $1 and prints one "N passed, N failed"
# line for all of them. A binary that crashes counts as one failure.
set -uo pipefail
dir=${1:?usage: run-unit.sh DIR}
passed=0 failed=0 ran=0
for t in "$dir"/test_*; do
	[ -x "$t" ] || continue
	ran=$((ran + 1))
	out=$("$t" 2>&1); rc=$?
	p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
	f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0}))
	if [ $rc -ne 0 ]; then
		printf '%s\n' "$out" | grep -vE '^\[ +(RUN|OK) +\]' | tail -40
		[ -z "$f" ] && failed=$((failed + 1))
		echo "FAIL: $(basename "$t") (exit $rc)"
	fi
done
[ $ran -gt 0 ] || { echo "no unit test binaries in $dir"; failed=$((failed + 1)); }
echo "unit ($dir): $passed passed, $failed failed"
[ $failed -eq 0 ]
