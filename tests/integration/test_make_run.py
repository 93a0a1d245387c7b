"""`make run`, the README's first command, driven as a person would: in a
terminal (a pty), reading what it prints, pasting its example commands,
then pressing Ctrl-C.

Cases: the banner names the API URL, an admin token and the mount; the
example curl and famfsctl lines it prints work as printed and their files
show in its mount; a second `make run` on the same directory refuses while
the first runs; Ctrl-C unmounts and stops every daemon; a new `make run`
keeps the pool and its files.
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


class Terminal:
    """`make run` in its own session, with a pty as controlling terminal."""

    def __init__(self, env):
        self.out = b""
        master, slave = os.openpty()

        def controlling_tty():
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen(
            ["make", "--no-print-directory", "run"], cwd=ROOT, env=env,
            stdin=slave, stdout=slave, stderr=slave,
            preexec_fn=controlling_tty)
        os.close(slave)
        self.fd = master

    def text(self):
        return self.out.decode(errors="replace").replace("\r\n", "\n")

    def _read(self, timeout):
        """Output that came within timeout: None if none, b"" at the end."""
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

    def close(self):
        if self.proc.poll() is None:
            self.kill()
        os.close(self.fd)


def pool_processes(pool):
    p = subprocess.run(["pgrep", "-f", pool], capture_output=True, text=True)
    return p.stdout.split()


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
        assert not os.path.ismount(mnt)
        assert pool_processes(pool) == []
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
        assert not os.path.ismount(mnt)
        assert pool_processes(pool) == []
    finally:
        term.close()
