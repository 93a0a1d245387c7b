#!/usr/bin/env bash
# `make install`: famfsd and famfsctl, the systemd units (their paths
# rewritten for PREFIX and SYSCONFDIR), sysusers.d and tmpfiles.d snippets,
# the example configuration, the documentation, the Slurm burst buffer
# (slurm/README.md: copy it next to slurm.conf to turn it on), and the kernel
# module's sources (build them with `make -C $PREFIX/src/famfsd-kmod`).
#
# Environment (from the Makefile): DESTDIR, PREFIX, BINDIR, SYSCONFDIR,
# UNITDIR, DOCDIR, KSRCDIR, SLURMDIR, BUILD. Nothing is started or
# reloaded: after a real install run `systemctl daemon-reload` (and
# systemd-sysusers, systemd-tmpfiles --create), as the closing lines say.
#
# --uninstall removes what this installs, except the configuration
# directory (it holds the node's famfsd.conf and tokens) and the state.
set -euo pipefail
cd "$(dirname "$0")/.."

DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr/local}
BINDIR=${BINDIR:-$PREFIX/bin}
SYSCONFDIR=${SYSCONFDIR:-/etc}
UNITDIR=${UNITDIR:-$PREFIX/lib/systemd/system}
DOCDIR=${DOCDIR:-$PREFIX/share/doc/famfsd}
KSRCDIR=${KSRCDIR:-$PREFIX/src/famfsd-kmod}
LIBDIR_SYSTEMD=${LIBDIR_SYSTEMD:-$PREFIX/lib}
SLURMDIR=${SLURMDIR:-$PREFIX/share/famfsd/slurm}
BUILD=${BUILD:-build}

if [ "${1:-}" = --uninstall ]; then
	rm -f "$DESTDIR$BINDIR/famfsd" "$DESTDIR$BINDIR/famfsctl" \
	      "$DESTDIR$LIBDIR_SYSTEMD/sysusers.d/famfsd.conf" \
	      "$DESTDIR$LIBDIR_SYSTEMD/tmpfiles.d/famfsd.conf" \
	      "$DESTDIR$SYSCONFDIR/famfsd/famfsd.conf.example" \
	      "$DESTDIR$SYSCONFDIR/famfsd/burst_buffer.conf.example"
	rm -rf "$DESTDIR$SLURMDIR"
	for u in systemd/*.service systemd/*.socket; do
		rm -f "$DESTDIR$UNITDIR/$(basename "$u")"
	done
	rm -rf "$DESTDIR$DOCDIR" "$DESTDIR$KSRCDIR"
	echo "uninstall: done under ${DESTDIR:-/} (kept $SYSCONFDIR/famfsd and /var/lib/famfsd)"
	exit 0
fi

for b in famfsd famfsctl; do
	[ -x "$BUILD/$b" ] || { echo "install: $BUILD/$b is missing (run make)" >&2; exit 1; }
done

d() { install -d -m "${2:-0755}" "$DESTDIR$1"; }

d "$BINDIR"
install -m 0755 "$BUILD/famfsd" "$BUILD/famfsctl" "$DESTDIR$BINDIR/"

# Units name /usr/local/bin and /etc/famfsd, the defaults: follow the
# chosen directories.
d "$UNITDIR"
for u in systemd/*.service systemd/*.socket; do
	sed -e "s|/usr/local/bin/|$BINDIR/|g" \
	    -e "s|/etc/famfsd/|$SYSCONFDIR/famfsd/|g" \
	    -e "s|/usr/local/share/doc/famfsd/|$DOCDIR/|g" \
	    "$u" > "$DESTDIR$UNITDIR/$(basename "$u").tmp"
	chmod 0644 "$DESTDIR$UNITDIR/$(basename "$u").tmp"
	mv "$DESTDIR$UNITDIR/$(basename "$u").tmp" "$DESTDIR$UNITDIR/$(basename "$u")"
done
d "$LIBDIR_SYSTEMD/sysusers.d"
install -m 0644 systemd/famfsd.sysusers "$DESTDIR$LIBDIR_SYSTEMD/sysusers.d/famfsd.conf"
d "$LIBDIR_SYSTEMD/tmpfiles.d"
sed -e "s|/etc/famfsd|$SYSCONFDIR/famfsd|g" systemd/famfsd.tmpfiles \
	> "$DESTDIR$LIBDIR_SYSTEMD/tmpfiles.d/famfsd.conf"
chmod 0644 "$DESTDIR$LIBDIR_SYSTEMD/tmpfiles.d/famfsd.conf"

# The example, never a live configuration: the units wait for famfsd.conf.
d "$SYSCONFDIR/famfsd" 0750
install -m 0644 systemd/famfsd.conf.example "$DESTDIR$SYSCONFDIR/famfsd/famfsd.conf.example"

d "$DOCDIR"
install -m 0644 README.md docs/*.md api/openapi.yaml systemd/famfsd.conf.example "$DESTDIR$DOCDIR/"

# The Slurm burst buffer, not turned on: Slurm loads burst_buffer.lua from
# slurm.conf's directory, so the admin copies it there (slurm/README.md).
# Its defaults name /usr/local/bin and /etc/famfsd: follow the chosen ones.
d "$SLURMDIR"
sed -e "s|/usr/local/bin/|$BINDIR/|g" -e "s|/etc/famfsd/|$SYSCONFDIR/famfsd/|g" \
	slurm/burst_buffer.lua > "$DESTDIR$SLURMDIR/burst_buffer.lua.tmp"
chmod 0644 "$DESTDIR$SLURMDIR/burst_buffer.lua.tmp"
mv "$DESTDIR$SLURMDIR/burst_buffer.lua.tmp" "$DESTDIR$SLURMDIR/burst_buffer.lua"
sed -e "s|/usr/local/bin/|$BINDIR/|g" -e "s|/etc/famfsd/|$SYSCONFDIR/famfsd/|g" \
	slurm/burst_buffer.conf.example > "$DESTDIR$SYSCONFDIR/famfsd/burst_buffer.conf.example"
chmod 0644 "$DESTDIR$SYSCONFDIR/famfsd/burst_buffer.conf.example"
install -m 0644 slurm/README.md "$DESTDIR$SLURMDIR/README.md"

# Kernel module sources only (no objects of a local build).
d "$KSRCDIR"
d "$KSRCDIR/uapi"
for f in kmod/Kbuild kmod/Makefile kmod/README.md kmod/*.c kmod/*.h; do
	[ -e "$f" ] || continue
	case $(basename "$f") in *.mod.c) continue;; esac
	install -m 0644 "$f" "$DESTDIR$KSRCDIR/"
done
install -m 0644 kmod/uapi/*.h "$DESTDIR$KSRCDIR/uapi/"

echo "install: done under ${DESTDIR:-/} (PREFIX=$PREFIX)"
if [ -z "$DESTDIR" ]; then
	echo "install: next: systemd-sysusers; systemd-tmpfiles --create; systemctl daemon-reload;"
	echo "install:       cp $SYSCONFDIR/famfsd/famfsd.conf.example $SYSCONFDIR/famfsd/famfsd.conf (edit it);"
	echo "install:       systemctl enable --now famfsd"
	echo "install: Slurm: $SLURMDIR/README.md (burst_buffer.lua beside slurm.conf)"
fi
