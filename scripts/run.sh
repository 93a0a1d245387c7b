#!/usr/bin/env bash
# `make run`: the embedded demo. A sparse 8 GiB pool file, a master serving
# the API on 127.0.0.1:7470 and a local agent with its FUSE mount, in the
# foreground.
#
# Ctrl-C unmounts and stops both, and so does every other way it can end:
# more Ctrl-Cs while it stops; SIGTERM, SIGHUP or SIGPIPE to this script or
# to the whole process group; SIGTERM to make (which passes on only that
# one); its terminal hanging up; its output pipe closing (`make run 2>&1 |
# tee run.log`, then Ctrl-C: tee goes first). Even if this script is killed
# with SIGKILL, the kernel stops the daemons (see start_daemon).
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

# Messages never fail: once the terminal hung up or the pipe closed, they
# are lost, and stopping the daemons goes on.
say() { printf 'run: %s\n' "$*" 2>/dev/null || true; }
die() { printf 'run: error: %s\n' "$*" >&2 2>/dev/null; exit 1; }

master_pid='' agent_pid='' stopping=''
# Taken first: the terminal may hang up at any time (see the last loop).
on_tty=false
[ -t 0 ] && on_tty=true

alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

# gone_within SECONDS PID: waits up to SECONDS for PID to end.
gone_within() {
	for _ in $(seq $(($1 * 10))); do alive "$2" || return 0; sleep 0.1; done
	! alive "$2"
}

mounted() { awk -v m="$MNT_ABS" '$2 == m { f = 1 } END { exit !f }' /proc/mounts; }

# Stops what this run started, agent first so the mount goes cleanly.
# Idempotent (a signal's trap calls it, then exits, and the EXIT trap calls
# it again) and it runs to the end: further signals are ignored from its
# first line on (a second Ctrl-C, make passing on a SIGTERM, SIGPIPE from a
# closed output), and so are those in the commands it runs; errors do not
# stop it, and every wait is bounded.
cleanup() {
	trap '' INT TERM HUP PIPE
	[ -z "$stopping" ] || return 0
	stopping=1
	set +e
	[ -n "$master_pid" ] || return 0
	printf '\n' 2>/dev/null
	if alive "$agent_pid"; then
		say "unmounting $MNT"
		# The agent ends its loop when its mount goes away.
		fusermount3 -u "$MNT" 2>/dev/null || kill -TERM "$agent_pid" 2>/dev/null
		if ! gone_within 5 "$agent_pid"; then
			say "agent still running: killing it"
			kill -KILL "$agent_pid" 2>/dev/null
			gone_within 2 "$agent_pid"
		fi
	fi
	# Left by an agent that died or was killed; ours, never another run's:
	# agent_pid is set only after the check that nothing was mounted there.
	if [ -n "$agent_pid" ] && mounted; then
		say "lazy unmount of $MNT"
		fusermount3 -uz "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null
	fi
	if alive "$master_pid"; then
		say "stopping the master"
		kill -TERM "$master_pid" 2>/dev/null
		if ! gone_within 10 "$master_pid"; then
			say "master still running: killing it"
			kill -KILL "$master_pid" 2>/dev/null
			gone_within 2 "$master_pid"
		fi
	fi
	# The daemons' last lines are in their prefixers' pipes yet: let
	# those drain (they end when the daemon's stderr closes) first.
	for p in $(cat "$VAR/.run-prefixers" 2>/dev/null); do
		gone_within 2 "$p"
	done
	rm -f "$VAR/.run-prefixers"
	say "stopped"
}
# stop_on STATUS: the signal traps. Ctrl-C is the documented way to stop,
# so it exits 0; the others exit 128 + their number.
stop_on() { cleanup; exit "$1"; }
trap 'stop_on 0' INT
trap 'stop_on 129' HUP
trap 'stop_on 141' PIPE
trap 'stop_on 143' TERM
trap cleanup EXIT

# Prefixes each line of a daemon's stderr (the process substitution of
# start_daemon). It ignores the stop signals, so it outlives its daemon's
# last lines, and once its output is gone (sed fails with EPIPE or EIO) it
# drains to the end: a daemon never blocks on, or fails to write, its log.
prefix() {
	trap '' INT TERM HUP PIPE
	echo "$BASHPID" >>"$VAR/.run-prefixers" 2>/dev/null
	sed -u "s/^/$1/" >&2 2>/dev/null
	exec cat >/dev/null
}

# start_daemon PREFIX ARGS...: famfsd ARGS in the background, $! its pid.
# In its own session (setsid): a terminal's Ctrl-C and hang-up reach this
# script only, which stops the daemons in order. setpriv --pdeathsig has
# the kernel send it SIGTERM when its parent, this shell, ends in any way,
# SIGKILL included (prctl PR_SET_PDEATHSIG, kept across exec): the
# daemons cannot outlive this script. That needs this shell to be the
# parent: setsid forks only in a group leader, and a script's background
# job never is one, so setsid and setpriv exec in place.
start_daemon() {
	local tag=$1
	shift
	setsid setpriv --pdeathsig TERM -- "$FAMFSD" "$@" 2> >(prefix "$tag") &
}

./scripts/deps.sh
make --no-print-directory -j2 "$FAMFSD" "$FAMFSCTL" >/dev/null

[ -e /dev/fuse ] || die "/dev/fuse is missing: the agent's mount needs FUSE"
command -v fusermount3 >/dev/null || die "fusermount3 is missing (apt-get install fuse3)"
command -v setpriv >/dev/null || die "setpriv is missing (apt-get install util-linux)"
mkdir -p "$VAR" "$MNT"
rm -f "$VAR/.run-prefixers"	# a run killed hard left it
if [ ! -e "$POOL" ]; then
	"$FAMFSCTL" mkfs "$POOL" --create "${FAMFSD_POOL_SIZE:-8G}"
fi
# A previous run killed hard leaves a dead mount ("not connected").
if ! stat "$MNT" >/dev/null 2>&1; then
	say "detaching a dead mount at $MNT"
	fusermount3 -uz "$MNT" 2>/dev/null || umount -l "$MNT"
fi
mountpoint -q "$MNT" && die "$MNT is already mounted (another make run?)"
MNT_ABS=$(cd "$MNT" && pwd -P)

rm -f "$TOKEN_FILE"
start_daemon '[master] ' master --pool "$POOL" --listen "$LISTEN" \
	--admin-token-file "$TOKEN_FILE"
master_pid=$!
for _ in $(seq 100); do
	kill -0 "$master_pid" 2>/dev/null || die "the master exited (see above)"
	if [ -s "$TOKEN_FILE" ] && curl -fsS -o /dev/null "$URL/healthz" 2>/dev/null; then
		break
	fi
	sleep 0.1
done
curl -fsS -o /dev/null "$URL/healthz" || die "the master does not answer on $URL"

start_daemon '[agent]  ' agent --pool "$POOL" --mount "$MNT" --master "$URL" \
	--token-file "$TOKEN_FILE"
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
  web page     $URL/ui/   (sign in with the admin token)
  admin token  $TOKEN   (in $TOKEN_FILE)
  mount        $MNT   (this host's agent, FUSE)

Try:
  curl -X PUT -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\
       -d '{"size": 1048576}' $URL/v1/files/hello
  $FAMFSCTL create /job1 --size 64M --url $URL --token-file $TOKEN_FILE
  ls -l $MNT; $FAMFSCTL status --url $URL --token-file $TOKEN_FILE

EOF

# Foreground until a signal, or until either daemon ends on its own, or
# until the terminal hangs up. A hang-up signals only the controlling
# process: when that is make (`ssh -t host make run` and the connection
# drops), make passes it on to no one and waits for this script; the
# terminal then answers every call with EIO, so stdin is no longer a tty.
while alive "$master_pid" && alive "$agent_pid"; do
	if $on_tty && [ ! -t 0 ]; then
		say "the terminal hung up"
		exit 129
	fi
	sleep 0.5
done
say "a daemon ended on its own"
exit 1
