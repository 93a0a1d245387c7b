#!/usr/bin/env bash
# Installs every build and test dependency: Debian's packages, then the
# pinned OpenAPI linter from npm (api/package-lock.json) into api/node_modules.
# Idempotent and quick when everything is present (checked with dpkg first).
set -euo pipefail

PACKAGES=(
	# build
	build-essential pkg-config clang libclang-rt-14-dev sparse
	libisal-dev uuid-dev libjson-c-dev libyajl-dev libmicrohttpd-dev libfuse3-dev
	libinih-dev libsystemd-dev libcurl4-openssl-dev libcxl-dev libdaxctl-dev
	libndctl-dev
	# test and run
	libcmocka-dev fuse3 python3 python3-pytest python3-jsonschema
	python3-yaml python3-requests iproute2 valgrind wrk ndctl daxctl
	util-linux procps psmisc curl
	# the web page's tests and bench: headless Chromium, screenshots decoded
	chromium chromium-driver python3-selenium python3-pil
	# the Slurm burst buffer's unit tests (slurm/tests): Slurm's own Lua
	lua5.1
	# the OpenAPI linter (api/package.json)
	nodejs
	# the units (systemd-analyze) and systemd as PID 1 in the VM tests
	systemd
	# kernel module and its VM tests: Debian's 6.1 kernel booted in QEMU
	linux-image-amd64 linux-headers-amd64 qemu-system-x86 busybox-static kmod
	# the Slurm burst buffer: a real one-node Slurm in its tests
	# (burst_buffer_lua.so is in slurm-wlm-basic-plugins)
	slurmctld slurmd slurm-client slurm-wlm-basic-plugins munge
)

missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
		missing+=("$p")
done
# npm: a Node.js that is not Debian's (NodeSource's) brings its own, and
# Debian's npm package would conflict with it, so ask for it only when the
# command is missing.
command -v npm >/dev/null || missing+=(npm)
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
if [ ${#missing[@]} -gt 0 ]; then
	echo "deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq
	$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	echo "deps: done"
fi

# The OpenAPI linter (tests/integration/test_api_spec.py): the versions
# api/package-lock.json pins, into the git-ignored api/node_modules. npm
# writes node_modules/.package-lock.json last, so a lock file newer than it
# (or none) means an install is due.
# The CLI is pinned to the 1.x line, which runs on Debian 12's own nodejs
# (18.x); 2.x needs Node.js 20.19 or later, which Debian 12 does not ship.
cd "$(dirname "$0")/../api"
need=18.17.0
have=$(node --version 2>/dev/null | sed 's/^v//')
if [ -z "$have" ] || [ "$(printf '%s\n' "$need" "$have" | sort -V | head -n1)" != "$need" ]; then
	echo "deps: @redocly/cli needs Node.js >= $need, found '${have:-none}'" >&2
	exit 1
fi
if [ ! -e node_modules/.package-lock.json ] ||
   [ package-lock.json -nt node_modules/.package-lock.json ]; then
	echo "deps: npm ci in api/ (@redocly/cli)"
	npm ci --no-audit --no-fund --loglevel=error >/dev/null
fi
