#!/usr/bin/env bash
# Builds the initramfs the VM tests boot: busybox-static, our /init, and the
# kernel modules the guest needs (with their dependencies, in load order)
# copied from /lib/modules/KVER of Debian's linux-image-amd64.
#
#   mkinitramfs.sh KVER OUT.cpio.gz
set -euo pipefail

kver=$1 out=$2
here=$(cd "$(dirname "$0")" && pwd)
moddir=/lib/modules/$kver
busybox=/bin/busybox

# virtio + 9p (the host's userland, read-only, and an exchange directory),
# virtio-net (user networking), the nvdimm stack (nfit, pmem in fsdax mode),
# device-dax (the bench's raw baseline), and for systemd guests
# (systemdvm.py) overlay (a writable root over the host's) and fuse (the
# agent's FUSE back-end).
want=(virtio_pci 9pnet_virtio 9p virtio_net nfit nd_pmem nd_btt dax_pmem
      device_dax overlay fuse)

[ -x "$busybox" ] || { echo "mkinitramfs: $busybox missing (busybox-static)" >&2; exit 1; }
case $(LC_ALL=C ldd "$busybox" 2>&1 || true) in
*"not a dynamic"*) ;;
*) echo "mkinitramfs: $busybox is not static (install busybox-static)" >&2; exit 1;;
esac
[ -f "$moddir/modules.dep" ] || { echo "mkinitramfs: $moddir/modules.dep missing (linux-image-amd64)" >&2; exit 1; }

# Depth-first over modules.dep: dependencies before their users.
declare -A path seen
while IFS=: read -r m deps; do
	path[$(basename "$m" .ko)]="$m $deps"
done < "$moddir/modules.dep"
order=()
visit() {
	local name=$1 entry dep
	[ -n "${seen[$name]:-}" ] && return
	seen[$name]=1
	entry=${path[$name]:-}
	[ -n "$entry" ] || { echo "mkinitramfs: module $name not in $moddir" >&2; exit 1; }
	set -- $entry
	local self=$1; shift
	for dep in "$@"; do
		visit "$(basename "$dep" .ko)"
	done
	order+=("$self")
}
for m in "${want[@]}"; do
	visit "$m"
done

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,dev,proc,sys,host,modules,tmp}
cp "$busybox" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
install -m 0755 "$here/init" "$root/init"
for m in "${order[@]}"; do
	cp "$moddir/$m" "$root/modules/"
	basename "$m" >> "$root/modules/order"
done
(cd "$root" && find . | LC_ALL=C sort | "$busybox" cpio -o -H newc 2>/dev/null) | gzip -1 > "$out.tmp"
mv "$out.tmp" "$out"
