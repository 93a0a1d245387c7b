#!/usr/bin/env bash
# `make test-systemd`: the units as `make install` lays them out, checked
# on this host without starting anything: `systemd-analyze verify` on each
# unit (the templates through an instance named by a pool UUID), with any
# complaint about our units counted as a failure (verify exits 0 on
# unknown keys), `famfsd check-config` on the example configuration, and
# the `systemd-analyze security` exposure of the two services printed for
# docs/systemd.md. Ends with one "N passed, N failed" line.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
UUID=0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0
pass=0 fail=0

if ! command -v systemd-analyze >/dev/null; then
	echo "FAIL: systemd-analyze is missing (package systemd)"
	echo "0 passed, 1 failed"
	exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! DESTDIR=$tmp/root BUILD=$BUILD ./scripts/install.sh >"$tmp/install.log" 2>&1; then
	cat "$tmp/install.log"
	echo "FAIL: make install into a DESTDIR"
	echo "0 passed, 1 failed"
	exit 1
fi
pass=$((pass + 1))
echo "ok: install into DESTDIR ($(find "$tmp/root" -type f | wc -l) files)"

# ExecStart= must name a binary that exists here: point the copies at the
# installed one.
units=$tmp/units
mkdir -p "$units"
for u in "$tmp"/root/usr/local/lib/systemd/system/*; do
	sed "s|/usr/local/bin/|$tmp/root/usr/local/bin/|g" "$u" > "$units/$(basename "$u")"
done

check() {
	local name=$1 out
	out=$(cd "$units" && systemd-analyze verify --man=no "./$name" 2>&1)
	local rc=$?
	# Complaints about other units of this host are not ours to fix.
	local ours
	ours=$(grep -E "famfsd" <<<"$out" || true)
	if [ $rc -ne 0 ] || [ -n "$ours" ]; then
		echo "FAIL: systemd-analyze verify $name"
		echo "$out" | sed 's/^/    /'
		fail=$((fail + 1))
	else
		echo "ok: systemd-analyze verify $name"
		pass=$((pass + 1))
	fi
}
check famfsd.service
check famfsd-master.service
check famfsd-api.socket
check "famfsd@$UUID.service"
check "famfsd-master@$UUID.service"

# The snippets, applied to the DESTDIR as a root: the group, then the
# directories owned by it.
lib=$tmp/root/usr/local/lib
if out=$(systemd-sysusers --root="$tmp/root" "$lib/sysusers.d/famfsd.conf" 2>&1 &&
	 systemd-tmpfiles --root="$tmp/root" --create "$lib/tmpfiles.d/famfsd.conf" 2>&1) &&
   grep -q '^famfsd:' "$tmp/root/etc/group" &&
   [ -d "$tmp/root/var/lib/famfsd" ] && [ -d "$tmp/root/run/famfsd" ]; then
	echo "ok: sysusers.d and tmpfiles.d snippets apply"; pass=$((pass + 1))
else
	echo "FAIL: sysusers.d/tmpfiles.d snippets"
	echo "$out" | sed 's/^/    /'
	fail=$((fail + 1))
fi

if out=$("$BUILD/famfsd" check-config --config systemd/famfsd.conf.example 2>&1); then
	echo "ok: famfsd check-config systemd/famfsd.conf.example"; pass=$((pass + 1))
else
	echo "FAIL: famfsd check-config systemd/famfsd.conf.example"
	echo "$out" | sed 's/^/    /'
	fail=$((fail + 1))
fi

# A master-capable node of several (docs/systemd.md): the example's
# slot, advertise, lease and list of masters, uncommented.
sed -e 's/^role = agent/role = both/' \
    -e 's/^#\(slot\|advertise\|lease_seconds\|master_url\) = /\1 = /' \
	systemd/famfsd.conf.example > "$tmp/multi.conf"
if [ "$(grep -cE '^(slot|advertise|lease_seconds|master_url) = ' "$tmp/multi.conf")" = 4 ] &&
   out=$("$BUILD/famfsd" check-config --config "$tmp/multi.conf" 2>&1); then
	echo "ok: famfsd check-config of a master-capable node of several"; pass=$((pass + 1))
else
	echo "FAIL: famfsd check-config of a master-capable node of several"
	echo "${out:-the example lacks slot, advertise, lease_seconds or master_url}" | sed 's/^/    /'
	fail=$((fail + 1))
fi

for s in famfsd.service famfsd-master.service; do
	score=$(cd "$units" && systemd-analyze security --offline=yes "./$s" 2>/dev/null |
		sed -n 's/.*Overall exposure level for [^:]*: *\([0-9.]*\) *\([A-Z]*\).*/\1 \2/p')
	echo "info: systemd-analyze security $s: ${score:-unknown}"
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
