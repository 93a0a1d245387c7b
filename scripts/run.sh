#!/usr/bin/env bash
# `make run`: the embedded demo. A sparse 8 GiB pool file, a master serving
# the API on 127.0.0.1:7470 and a local agent with its FUSE mount, in the
# foreground. Ctrl-C unmounts and stops both.
#
# Environment: FAMFSD_LISTEN (default 127.0.0.1:7470), FAMFSD_POOL_SIZE (8G),
# FAMFSD_VAR (var).
set -euo pipefail
cd "$(dirname "$0")/.."

LISTEN=${FAMFSD_LISTEN:-127.0.0.1:7470}
VAR=${FAMFSD_VAR:-var}
POOL=$VAR/pool.img
MNT=$VAR/mnt
TOKEN_FILE=$VAR/admin.token
URL=http://$LISTEN
FAMFSD=build/famfsd
FAMFSCTL=build/famfsctl

say() { printf 'run: %s\n' "$*"; }
die() { printf 'run: error: %s\n' "$*" >&2; exit 1; }

./scripts/deps.sh
make --no-print-directory -j2 "$FAMFSD" "$FAMFSCTL" >/dev/null

[ -e /dev/fuse ] || die "/dev/fuse is missing: the agent's mount needs FUSE"
command -v fusermount3 >/dev/null || die "fusermount3 is missing (apt-get install fuse3)"
mkdir -p "$VAR" "$MNT"
if [ ! -e "$POOL" ]; then
	"$FAMFSCTL" mkfs "$POOL" --create "${FAMFSD_POOL_SIZE:-8G}"
fi
# A previous run killed hard leaves a dead mount ("not connected").
if ! stat "$MNT" >/dev/null 2>&1; then
	say "detaching a dead mount at $MNT"
	fusermount3 -uz "$MNT" 2>/dev/null || umount -l "$MNT"
fi
mountpoint -q "$MNT" && die "$MNT is already mounted (another make run?)"

master_pid= agent_pid=
cleanup() {
	trap - INT TERM EXIT
	echo
	if [ -n "$agent_pid" ] && kill -0 "$agent_pid" 2>/dev/null; then
		say "unmounting $MNT"
		# The agent ends its loop when its mount goes away.
		fusermount3 -u "$MNT" 2>/dev/null || kill -TERM "$agent_pid" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$agent_pid" 2>/dev/null || break; sleep 0.1; done
		if kill -0 "$agent_pid" 2>/dev/null; then
			say "agent still running: killing it, lazy unmount"
			kill -KILL "$agent_pid" 2>/dev/null || true
			fusermount3 -uz "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null || true
		fi
	fi
	if [ -n "$master_pid" ] && kill -0 "$master_pid" 2>/dev/null; then
		say "stopping the master"
		kill -TERM "$master_pid" 2>/dev/null || true
		for _ in $(seq 100); do kill -0 "$master_pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$master_pid" 2>/dev/null || true
	fi
	wait 2>/dev/null || true
	say "stopped"
}
trap 'cleanup; exit 0' INT
trap 'cleanup; exit 143' TERM
trap cleanup EXIT

# Own sessions: a terminal's Ctrl-C reaches this script only, which then
# stops the daemons in order (agent first, so the mount goes cleanly).
rm -f "$TOKEN_FILE"
setsid "$FAMFSD" master --pool "$POOL" --listen "$LISTEN" \
	--admin-token-file "$TOKEN_FILE" 2> >(trap '' INT; exec sed -u 's/^/[master] /' >&2) &
master_pid=$!
for _ in $(seq 100); do
	kill -0 "$master_pid" 2>/dev/null || die "the master exited (see above)"
	if [ -s "$TOKEN_FILE" ] && curl -fsS -o /dev/null "$URL/healthz" 2>/dev/null; then
		break
	fi
	sleep 0.1
done
curl -fsS -o /dev/null "$URL/healthz" || die "the master does not answer on $URL"

setsid "$FAMFSD" agent --pool "$POOL" --mount "$MNT" --master "$URL" \
	--token-file "$TOKEN_FILE" 2> >(trap '' INT; exec sed -u 's/^/[agent]  /' >&2) &
agent_pid=$!
for _ in $(seq 100); do
	kill -0 "$agent_pid" 2>/dev/null || die "the agent exited (see above)"
	mountpoint -q "$MNT" && break
	sleep 0.1
done
mountpoint -q "$MNT" || die "the agent did not mount $MNT"

TOKEN=$(cat "$TOKEN_FILE")
cat <<EOF

famfsd is running (pool $POOL, Ctrl-C to stop)
  API          $URL   (contract: api/openapi.yaml)
  admin token  $TOKEN   (in $TOKEN_FILE)
  mount        $MNT   (this host's agent, FUSE)

Try:
  curl -X PUT -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\
       -d '{"size": 1048576}' $URL/v1/files/hello
  $FAMFSCTL create /job1 --size 64M --url $URL --token-file $TOKEN_FILE
  ls -l $MNT; $FAMFSCTL status --url $URL --token-file $TOKEN_FILE

EOF

# Foreground until Ctrl-C, or until either daemon ends on its own.
while kill -0 "$master_pid" 2>/dev/null && kill -0 "$agent_pid" 2>/dev/null; do
	sleep 0.5
done
say "a daemon ended on its own"
