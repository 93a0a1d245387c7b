#!/usr/bin/env bash
# Installs every build and test dependency from Debian's packages.
# Idempotent and quick when everything is present (checked with dpkg first).
set -euo pipefail

PACKAGES=(
	# build
	build-essential pkg-config clang libclang-rt-14-dev sparse
	libisal-dev uuid-dev libjson-c-dev libmicrohttpd-dev libfuse3-dev
	libinih-dev libsystemd-dev libcurl4-openssl-dev libcxl-dev libdaxctl-dev
	libndctl-dev
	# test and run
	libcmocka-dev fuse3 python3 python3-pytest python3-jsonschema
	python3-yaml python3-requests iproute2 valgrind wrk ndctl daxctl
	util-linux procps psmisc curl
	# the units (systemd-analyze) and systemd as PID 1 in the VM tests
	systemd
	# kernel module and its VM tests: Debian's 6.1 kernel booted in QEMU
	linux-image-amd64 linux-headers-amd64 qemu-system-x86 busybox-static kmod
)

missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
		missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
echo "deps: installing ${missing[*]}"
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: done"
