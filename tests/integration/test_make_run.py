"""`make run`, the README's first command, driven as a person would: in a
terminal (a pty), reading what it prints, pasting its example commands,
then pressing Ctrl-C.

Cases: the banner names the API URL, an admin token and the mount; the
example curl and famfsctl lines it prints work as printed and their files
show in its mount; a second `make run` on the same directory refuses while
the first runs; Ctrl-C unmounts and stops every daemon; a new `make run`
keeps the pool and its files.

Then every other way it can be stopped: more Ctrl-Cs while it stops,
SIGTERM to the process group, to make alone or to scripts/run.sh alone,
SIGHUP to the group, the terminal hanging up, SIGKILL to run.sh, and
`make run 2>&1 | tee` then Ctrl-C. Each time nothing started by that run is
left (no process carries its FAMFSD_VAR), its mount is gone from
/proc/mounts, and a new `make run` starts on the same pool, port and mount
point (the lease is free).
"""

import fcntl
import os
import re
import select
import signal
import subprocess
import termios
import time

import pytest

from conftest import ROOT, free_port, require

MiB = 1 << 20


MAKE_RUN = ["make", "--no-print-directory", "run"]


class Terminal:
    """`make run` (or argv) in its own session, with a pty as controlling
    terminal: the session leader is the controlling process, its process
    group the foreground one."""

    def __init__(self, env, argv=MAKE_RUN):
        self.out = b""
        master, slave = os.openpty()

        def controlling_tty():
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen(
            argv, cwd=ROOT, env=env,
            stdin=slave, stdout=slave, stderr=slave,
            preexec_fn=controlling_tty)
        os.close(slave)
        self.fd = master

    def text(self):
        return self.out.decode(errors="replace").replace("\r\n", "\n")

    def _read(self, timeout):
        """Output that came within timeout: None if none, b"" at the end."""
        if self.fd is None:  # hung up
            time.sleep(timeout)
            return None
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return None
        try:
            chunk = os.read(self.fd, 65536)
        except OSError:  # EIO: every process on the terminal is gone
            chunk = b""
        self.out += chunk
        return chunk

    def expect(self, pattern, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(pattern, self.text())
            if m:
                return m
            if self._read(0.2) == b"" and self.proc.poll() is not None:
                break
        pytest.fail(f"`make run` never printed {pattern!r}:\n{self.text()}")

    def ctrl_c(self, timeout=30):
        """What the terminal does on Ctrl-C: SIGINT to its foreground group."""
        os.write(self.fd, b"\x03")
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self._read(0.2)
        while self._read(0.1):  # the rest of what it printed
            pass
        if self.proc.poll() is None:
            self.kill()
            pytest.fail(f"`make run` still running {timeout}s after Ctrl-C:\n"
                        + self.text())

    def kill(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(10)

    def hang_up(self):
        """Closes the terminal (as a window or an ssh connection going away):
        the kernel hangs up the pty and sends SIGHUP to the controlling
        process only."""
        os.close(self.fd)
        self.fd = None

    def close(self):
        if self.proc.poll() is None:
            self.kill()
        if self.fd is not None:
            os.close(self.fd)


def pool_processes(pool):
    p = subprocess.run(["pgrep", "-f", pool], capture_output=True, text=True)
    return p.stdout.split()


def run_processes(var):
    """{pid: command line} of every process started by the `make run` whose
    FAMFSD_VAR is var: make, run.sh and its helpers, the daemons (all
    inherit the environment; a zombie shows none)."""
    mark = f"\0FAMFSD_VAR={var}\0".encode()
    found = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if mark not in b"\0" + f.read():
                    continue
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                found[int(pid)] = f.read().replace(b"\0", b" ").decode().strip()
        except OSError:  # gone meanwhile
            pass
    return found


def mounted(mnt):
    """mnt in /proc/mounts; os.path.ismount misses a mount whose daemon is
    gone (its stat fails with ENOTCONN)."""
    with open("/proc/mounts") as f:
        return any(line.split()[1] == mnt for line in f)


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except FileNotFoundError:
        return []


def make_child(make_pid):
    """The pid of scripts/run.sh, the recipe make runs."""
    kids = children(make_pid)
    assert len(kids) == 1, kids
    return kids[0]


def wait_for_file(path, size, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if os.stat(path).st_size == size:
                return
        except FileNotFoundError:
            pass
        time.sleep(0.02)
    pytest.fail(f"{path} ({size} bytes) did not show in the mount")


def wait_stopped(term, var, mnt, timeout=30):
    """Within timeout, nothing of the run is left and its mount is gone."""
    deadline = time.monotonic() + timeout
    while run_processes(var) or mounted(mnt):
        if time.monotonic() > deadline:
            pytest.fail(f"{timeout}s after the stop, left: {run_processes(var)}, "
                        f"{mnt} mounted: {mounted(mnt)}\n{term.text()}")
        term._read(0.1)


def example_commands(text):
    """The lines under "Try:", continuation lines joined as a shell would."""
    block = text.split("Try:\n", 1)[1].split("\n\n", 1)[0]
    return [c.strip() for c in block.replace("\\\n", " ").splitlines() if c.strip()]


def shell(cmd):
    return subprocess.run(["bash", "-c", cmd], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


@pytest.fixture
def run_env(tmp_path):
    require(os.geteuid() == 0, "root (make run mounts FUSE)")
    require(os.path.exists("/dev/fuse"), "/dev/fuse")
    env = dict(os.environ)
    env.update(FAMFSD_VAR=str(tmp_path / "var"),
               FAMFSD_LISTEN=f"127.0.0.1:{free_port()}",
               FAMFSD_POOL_SIZE="1G")
    env.pop("MAKEFLAGS", None)
    env.pop("MAKELEVEL", None)
    yield env
    # What a failed case left: run.sh looping on, the daemons.
    for pid in run_processes(env["FAMFSD_VAR"]):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    leftover = pool_processes(str(tmp_path / "var" / "pool.img"))
    for pid in leftover:
        os.kill(int(pid), signal.SIGKILL)
    # Unconditionally: a mount whose daemon was killed is not "a mount"
    # to os.path.ismount (ENOTCONN), yet must go.
    subprocess.run(["umount", "-l", str(tmp_path / "var" / "mnt")],
                   capture_output=True)


def test_make_run_as_a_newcomer_uses_it(run_env):
    var = run_env["FAMFSD_VAR"]
    pool, mnt = os.path.join(var, "pool.img"), os.path.join(var, "mnt")
    url = "http://" + run_env["FAMFSD_LISTEN"]

    term = Terminal(run_env)
    try:
        term.expect(r"Try:\n(.*\n)+?\n")
        text = term.text()
        assert re.search(rf"API\s+{re.escape(url)}\s", text), text
        token = re.search(r"admin token\s+([0-9a-zA-Z_-]{16,})\s", text).group(1)
        with open(os.path.join(var, "admin.token")) as f:
            assert f.read().strip() == token
        assert os.path.ismount(mnt)
        assert os.path.getsize(pool) == 1 << 30

        curl, create, listing = example_commands(text)
        assert curl.startswith("curl ") and create.startswith("build/famfsctl create")
        r = shell(curl)
        assert r.returncode == 0 and '"path":"/hello"' in r.stdout, (r.stdout, r.stderr)
        wait_for_file(os.path.join(mnt, "hello"), MiB)
        r = shell(create)
        assert r.returncode == 0, (r.stdout, r.stderr)
        wait_for_file(os.path.join(mnt, "job1"), 64 * MiB)
        r = shell(listing)
        assert r.returncode == 0 and "hello" in r.stdout and "job1" in r.stdout, \
            (r.stdout, r.stderr)

        # The bytes live in the pool: written through the mount, read by
        # a fresh open.
        with open(os.path.join(mnt, "job1"), "r+b") as f:
            f.write(b"make run works")
        with open(os.path.join(mnt, "job1"), "rb") as f:
            assert f.read(14) == b"make run works"

        # A second `make run` on the same directory refuses, harmlessly.
        second = subprocess.run(["make", "--no-print-directory", "run"],
                                cwd=ROOT, env=run_env, capture_output=True,
                                text=True, timeout=120)
        assert second.returncode != 0
        assert "already mounted" in second.stderr, second.stderr
        assert os.path.ismount(mnt) and os.path.exists(os.path.join(mnt, "hello"))

        term.ctrl_c()
        text = term.text()
        assert "run: unmounting" in text and "run: stopped" in text, text
        assert "error" not in text.split("Try:", 1)[1].lower(), text
        assert pool_processes(pool) == []
        wait_stopped(term, var, mnt, timeout=10)
    finally:
        term.close()

    # Again: the pool is kept (no mkfs) and so are its files and bytes.
    term = Terminal(run_env)
    try:
        term.expect(r"Try:\n(.*\n)+?\n")
        assert "mkfs" not in term.text() and "formatted" not in term.text()
        wait_for_file(os.path.join(mnt, "hello"), MiB)
        with open(os.path.join(mnt, "job1"), "rb") as f:
            assert f.read(14) == b"make run works"
        term.ctrl_c()
        assert "run: stopped" in term.text()
        assert pool_processes(pool) == []
        wait_stopped(term, var, mnt, timeout=10)
    finally:
        term.close()


# The ways `make run` gets stopped besides one Ctrl-C. Each takes the
# terminal and returns the lines it must then show, in order: run.sh
# stopping the daemons itself, agent first, and their last lines. None
# where run.sh cannot (SIGKILL: the kernel stops them) or the terminal is
# gone.
STOPS_IN_ORDER = ["run: unmounting", "[agent]  famfsd agent: stopping",
                  "run: stopping the master", "[master] famfsd master: stopped",
                  "run: stopped"]


def ctrl_c_again(term, var):
    """Impatient Ctrl-Cs while it waits for an agent that is slow to end
    (stopped with SIGSTOP here, so they surely come while run.sh waits)."""
    agent, = [pid for pid, cmd in run_processes(var).items()
              if cmd.startswith("build/famfsd agent ")]
    os.kill(agent, signal.SIGSTOP)
    os.write(term.fd, b"\x03")
    term.expect(r"run: unmounting", timeout=30)
    for _ in range(3):
        os.write(term.fd, b"\x03")
        time.sleep(0.3)
    return ["run: unmounting", "run: agent still running: killing it",
            "run: stopping the master", "[master] famfsd master: stopped",
            "run: stopped"]


def sigterm_group(term, var):
    """kill -TERM -PGID: a supervisor stopping the whole job."""
    os.killpg(term.proc.pid, signal.SIGTERM)
    return STOPS_IN_ORDER


def sigterm_make(term, var):
    """kill PID_OF_MAKE, as `timeout make run` would."""
    os.kill(term.proc.pid, signal.SIGTERM)
    return STOPS_IN_ORDER


def sigterm_script(term, var):
    os.kill(make_child(term.proc.pid), signal.SIGTERM)
    return STOPS_IN_ORDER


def sighup_group(term, var):
    """What an interactive shell sends its jobs when its terminal closes."""
    os.killpg(term.proc.pid, signal.SIGHUP)
    return STOPS_IN_ORDER


def terminal_hangs_up(term, var):
    """The terminal itself closes with make as its controlling process
    (`ssh -t host make run` and the connection drops): only make gets
    SIGHUP, and make passes it on to no one."""
    term.hang_up()
    return None


def sigkill_script(term, var):
    """run.sh can run no cleanup at all: the daemons must still end."""
    os.kill(make_child(term.proc.pid), signal.SIGKILL)
    return None


STOPS = [ctrl_c_again, sigterm_group, sigterm_make, sigterm_script,
         sighup_group, terminal_hangs_up, sigkill_script]


@pytest.mark.parametrize("stop", STOPS, ids=[f.__name__ for f in STOPS])
def test_make_run_stopped_any_way_leaves_nothing(run_env, stop):
    var = run_env["FAMFSD_VAR"]
    mnt = os.path.join(var, "mnt")
    term = Terminal(run_env)
    try:
        term.expect(r"Try:\n(.*\n)+?\n")
        assert mounted(mnt)
        shows = stop(term, var)
        wait_stopped(term, var, mnt)
        while term._read(0.1):
            pass
        text = term.text()
        at = 0
        for line in shows or []:
            at = text.find(line, at)
            assert at >= 0, f"no {line!r} (in this order) in:\n{text}"
    finally:
        term.close()
    assert_starts_again(run_env)


@pytest.mark.parametrize("stderr", ["2>&1", "2>stderr.log"])
def test_make_run_piped_to_tee_then_ctrl_c_leaves_nothing(run_env, tmp_path, stderr):
    """Ctrl-C kills tee along with make and run.sh: every line run.sh
    writes to stdout while it stops the daemons meets a closed pipe (EPIPE,
    SIGPIPE). With 2>&1 (the issue's command) so does every line the daemons
    log on their way out; with stderr in a file, their last lines show that
    run.sh itself stopped them, in order, so the kernel's SIGTERM at
    run.sh's end (which would also leave nothing) did not do it."""
    var = run_env["FAMFSD_VAR"]
    mnt = os.path.join(var, "mnt")
    log = tmp_path / "run.log"
    err = tmp_path / "stderr.log"
    term = Terminal(run_env, ["bash", "-c", f"{' '.join(MAKE_RUN)} "
                              f"{stderr.replace('stderr.log', str(err))} | tee {log}"])
    try:
        term.expect(r"Try:\n(.*\n)+?\n")
        assert mounted(mnt)
        # The output goes through tee (which writes the file after stdout).
        deadline = time.monotonic() + 10
        while "Try:" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        os.write(term.fd, b"\x03")
        wait_stopped(term, var, mnt)
    finally:
        term.close()
    if stderr != "2>&1":
        lines = err.read_text()
        agent = lines.find("[agent]  famfsd agent: stopping (unmounted)")
        assert 0 <= agent < lines.find("[master] famfsd master: stopped"), lines
    assert_starts_again(run_env)


def assert_starts_again(env):
    """A new `make run` on the same pool, port and mount point comes up:
    the lease is free, the port too, the mount point is not in use."""
    var = env["FAMFSD_VAR"]
    mnt = os.path.join(var, "mnt")
    term = Terminal(env)
    try:
        term.expect(r"Try:\n(.*\n)+?\n", timeout=60)
        assert mounted(mnt)
        term.ctrl_c()
        wait_stopped(term, var, mnt, timeout=10)
    finally:
        term.close()
