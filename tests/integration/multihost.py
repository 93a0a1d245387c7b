"""Hosts as network namespaces, for multi-host tests of the agent.

A hub namespace holds a bridge; each host namespace has one veth (eth0)
on it with its own 10.77.0.N/24 address. These addresses exist only inside
these namespaces: the test process itself stays in the root namespace and
talks HTTP from a thread that entered a host's network namespace
(setns(CLONE_NEWNET) is per thread).

Each agent runs as `ip netns exec HOST unshare -m --propagation private
famfsd agent ...`, so its FUSE mount lives in its own mount namespace: one
host's mount is invisible to the others, as on real hosts. Commands look
into it with `ip netns exec HOST nsenter --mount=/proc/PID/ns/mnt -- ...`.

Everything started here is torn down by its owner's close(), which the
fixtures call even when a test fails: agents are stopped (SIGTERM, then
SIGKILL and a lazy unmount inside their namespace), namespaces deleted.
"""

import concurrent.futures
import contextlib
import ctypes
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import time

import pytest
import requests

from conftest import (AGENT_TOKEN, FAMFSD, SANITIZER_WORDS, ApiClient, Master,
                      read_log, require)

CLONE_NEWNET = 0x40000000
SUBNET = "10.77.0"
_libc = ctypes.CDLL(None, use_errno=True)


def run(argv, timeout=30, check=True, **kw):
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"{argv} exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
    return p


def wait_until(what, fn, timeout, interval=0.02):
    """Calls fn until it returns a true value; fails with what after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def check_capabilities():
    """Root, /dev/fuse, fusermount3, ip netns, unshare, nsenter: skip
    locally, fail under CI=true, saying what is missing."""
    require(os.geteuid() == 0, "multi-host tests need root (network and mount namespaces)")
    require(os.path.exists("/dev/fuse"), "/dev/fuse is missing (FUSE mounts)")
    for tool in ("ip", "unshare", "nsenter", "fusermount3"):
        require(shutil.which(tool) is not None, f"{tool} is not installed")
    probe = f"ffprobe{os.getpid()}"
    p = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    require(p.returncode == 0, f"cannot create network namespaces: {p.stderr.strip()}")
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)


def _enter_netns(name):
    fd = os.open(f"/var/run/netns/{name}", os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns into {name}: {os.strerror(err)}")
    finally:
        os.close(fd)


class Host:
    """One host: a network namespace with address 10.77.0.N."""

    def __init__(self, name, index):
        self.name = name
        self.index = index
        self.addr = f"{SUBNET}.{index}"
        self._pool = None

    def argv(self, argv):
        return ["ip", "netns", "exec", self.name, *map(str, argv)]

    @property
    def executor(self):
        """A thread living in this host's network namespace."""
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(
                1, thread_name_prefix=self.name, initializer=_enter_netns,
                initargs=(self.name,))
        return self._pool

    def call(self, fn, *args, timeout=120, **kw):
        return self.executor.submit(fn, *args, **kw).result(timeout)

    def link(self, up):
        run(["ip", "-n", self.name, "link", "set", "eth0", "up" if up else "down"])

    def close(self):
        if self._pool:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


class Cluster:
    """A hub with a bridge and n hosts on 10.77.0.0/24."""

    def __init__(self, n=3):
        self.tag = f"ff{os.getpid()}"
        self.hub = f"{self.tag}-hub"
        self.hosts = []
        self._reap_stale()
        try:
            run(["ip", "netns", "add", self.hub])
            run(["ip", "-n", self.hub, "link", "set", "lo", "up"])
            run(["ip", "-n", self.hub, "link", "add", "br0", "type", "bridge"])
            run(["ip", "-n", self.hub, "link", "set", "br0", "up"])
            for i in range(1, n + 1):
                self._add_host(i)
        except BaseException:
            self.close()
            raise

    def _add_host(self, i):
        h = Host(f"{self.tag}-h{i}", i)
        run(["ip", "netns", "add", h.name])
        self.hosts.append(h)
        run(["ip", "-n", self.hub, "link", "add", f"vh{i}", "type", "veth",
             "peer", "name", "eth0", "netns", h.name])
        run(["ip", "-n", self.hub, "link", "set", f"vh{i}", "master", "br0", "up"])
        run(["ip", "-n", h.name, "addr", "add", f"{h.addr}/24", "dev", "eth0"])
        run(["ip", "-n", h.name, "link", "set", "eth0", "up"])
        run(["ip", "-n", h.name, "link", "set", "lo", "up"])

    @staticmethod
    def _reap_stale():
        """Namespaces left by an earlier run that died (its pid is gone)."""
        p = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
        for line in p.stdout.splitlines():
            m = re.match(r"^(ff(\d+)-\S+)", line)
            if m and not os.path.exists(f"/proc/{m.group(2)}"):
                subprocess.run(["ip", "netns", "del", m.group(1)], capture_output=True)

    def close(self):
        for h in self.hosts:
            h.close()
            subprocess.run(["ip", "netns", "del", h.name], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.hub], capture_output=True)
        self.hosts = []


class NsApiClient(ApiClient):
    """An ApiClient whose requests leave from a host's network namespace."""

    def __init__(self, host, base, token=None):
        super().__init__(base, token)
        self.host = host

    def request(self, method, path, expect=None, validate=True, **kw):
        return self.host.call(ApiClient.request, self, method, path,
                              expect=expect, validate=validate, **kw)


class NsMaster(Master):
    """The conftest master, run inside a host namespace on its address."""

    def __init__(self, host, pool, workdir, port=7470, **kw):
        self.host = host
        super().__init__(pool, workdir, port=port, **kw)

    @property
    def url(self):
        return f"http://{self.host.addr}:{self.port}"

    def argv(self):
        return self.host.argv([FAMFSD, "master", "--pool", self.pool, "--listen",
                               f"{self.host.addr}:{self.port}", "--tokens",
                               self.tokens_file, *self.extra])

    def wait_ready(self, timeout=20):
        def healthy():
            try:
                return requests.get(self.url + "/healthz", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                pytest.fail(f"famfsd master exited with {rc} before serving:\n"
                            f"{self.stderr()}")
            if self.host.call(healthy):
                return
            time.sleep(0.05)
        pytest.fail(f"famfsd master did not serve /healthz within {timeout}s:\n"
                    f"{self.stderr()}")

    def client(self, token="admin"):
        tok = {"admin": self.admin_token, "agent": self.agent_token}.get(token, token)
        return NsApiClient(self.host, self.url, tok)


def pattern(seed, n):
    """n deterministic bytes, different per seed (WRITE_PY writes the same)."""
    out = bytearray()
    block = hashlib.sha256(str(seed).encode()).digest()
    while len(out) < n:
        block = hashlib.sha256(block).digest()
        out += block * 64
    return bytes(out[:n])


# Runs inside an agent's mount namespace: writes pattern(argv[2], argv[3])
# into the file argv[1] through the mount, prints its sha256.
WRITE_PY = r"""
import hashlib, os, sys
path, seed, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
out = bytearray(); block = hashlib.sha256(seed.encode()).digest()
while len(out) < size:
    block = hashlib.sha256(block).digest(); out += block * 64
fd = os.open(path, os.O_WRONLY)
done = 0
while done < size:
    done += os.pwrite(fd, out[done:done + (1 << 20)], done)
os.close(fd)
print(hashlib.sha256(out[:size]).hexdigest())
"""

# The sha256 of the file argv[1], read through the mount.
READ_PY = r"""
import hashlib, sys
with open(sys.argv[1], "rb") as f:
    print(hashlib.sha256(f.read()).hexdigest())
"""


# Runs inside an agent's mount namespace: the tree under argv[1] as JSON.
TREE_PY = r"""
import json, os, stat, sys
root = sys.argv[1]
out = {}
for d, dirs, files in os.walk(root):
    for n in dirs + files:
        p = os.path.join(d, n)
        try:
            st = os.lstat(p)
        except FileNotFoundError:   # deleted while we walk: not there now
            continue
        isdir = stat.S_ISDIR(st.st_mode)
        out[p[len(root):]] = ["dir" if isdir else "file", 0 if isdir else st.st_size,
                              st.st_mode & 0o7777, st.st_uid, st.st_gid, st.st_ino]
print(json.dumps(out))
"""

# Waits until every path in argv[2:] exists (or none does, argv[1] == "gone").
WAIT_PY = r"""
import os, sys, time
want_gone = sys.argv[1] == "gone"
deadline = time.monotonic() + float(sys.argv[2])
paths = sys.argv[3:]
while time.monotonic() < deadline:
    left = [p for p in paths if os.path.exists(p) == want_gone]
    if not left:
        sys.exit(0)
    time.sleep(0.005)
print(" ".join(left[:5]))
sys.exit(1)
"""


class Agent:
    """famfsd agent on a host, in its own mount namespace."""

    def __init__(self, host, pool, workdir, master_url=None, token=AGENT_TOKEN,
                 agent_id=None, extra=()):
        self.host = host
        self.pool = str(pool)
        self.workdir = str(workdir)
        self.name = agent_id or f"agent-h{host.index}"
        self.mount = os.path.join(self.workdir, f"{self.name}.mnt")
        self.master_url = master_url
        self.extra = list(extra)
        self.proc = None
        self.runs = 0
        self.stderr_path = os.path.join(self.workdir, f"{self.name}.stderr")
        self.token_file = os.path.join(self.workdir, f"{self.name}.token")
        with open(self.token_file, "w") as f:
            f.write(token + "\n")
        os.chmod(self.token_file, 0o600)
        os.makedirs(self.mount, exist_ok=True)

    def argv(self):
        master = (["--master", self.master_url, "--token-file", self.token_file]
                  if self.master_url else [])
        return self.host.argv(["unshare", "-m", "--propagation", "private",
                               FAMFSD, "agent", "--pool", self.pool, "--mount",
                               self.mount, "--agent-id", self.name, *master,
                               *self.extra])

    @property
    def pid(self):
        return self.proc.pid

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def mounted(self):
        """The agent's namespace has its FUSE mount (read from /proc)."""
        try:
            with open(f"/proc/{self.pid}/mountinfo") as f:
                return any(f" {self.mount} " in line and "fuse.famfsd" in line
                           for line in f)
        except OSError:
            return False

    def start(self, timeout=15):
        assert not self.running(), "already running"
        self.runs += 1
        with open(self.stderr_path, "w" if self.runs == 1 else "a") as err:
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"agent {self.name} exited with {self.proc.returncode} "
                            f"before mounting:\n{self.stderr()}")
            if self.mounted():
                return self
            time.sleep(0.02)
        pytest.fail(f"agent {self.name} did not mount within {timeout}s:\n{self.stderr()}")

    def ns_argv(self, argv):
        """argv run on this host, inside this agent's mount namespace."""
        return self.host.argv(["nsenter", f"--mount=/proc/{self.pid}/ns/mnt",
                               "--", *argv])

    def sh(self, *argv, timeout=30, check=True, **kw):
        return run(self.ns_argv(argv), timeout=timeout, check=check, **kw)

    def py(self, code, *args, timeout=30, check=True):
        return self.sh("/usr/bin/python3", "-c", code, *args, timeout=timeout,
                       check=check)

    def popen_py(self, code, *args):
        """A long-lived python process in the mount namespace, on pipes."""
        return subprocess.Popen(self.ns_argv(["/usr/bin/python3", "-u", "-c", code,
                                              *args]),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def path(self, rel):
        return self.mount + "/" + rel.lstrip("/")

    def tree(self):
        return json.loads(self.py(TREE_PY, self.mount, timeout=60).stdout)

    def wait_paths(self, rels, gone=False, timeout=10):
        p = self.py(WAIT_PY, "gone" if gone else "present", str(timeout),
                    *[self.path(r) for r in rels], timeout=timeout + 20,
                    check=False)
        if p.returncode != 0:
            pytest.fail(f"{self.name}: paths still {'present' if gone else 'missing'} "
                        f"after {timeout}s: {p.stdout.strip()}\n{self.stderr()[-3000:]}")

    def stderr(self):
        return read_log(self.stderr_path)

    def kill(self):
        """SIGKILL, like a crash: the mount dies with its namespace."""
        if self.running():
            self.proc.kill()
        if self.proc:
            self.proc.wait(20)

    def stop(self, timeout=10):
        """SIGTERM: the agent unmounts and exits. Returns the exit code."""
        if not self.running():
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            # Stuck: detach the mount inside its namespace, then kill.
            subprocess.run(self.ns_argv(["umount", "-l", self.mount]),
                           capture_output=True, timeout=10)
            self.kill()
            pytest.fail(f"agent {self.name} ignored SIGTERM for {timeout}s")

    def close(self, allow_errors=False):
        """Stops the agent; checks its log for sanitizer reports and errors."""
        try:
            if self.running():
                self.stop()
        finally:
            self.kill()
        text = self.stderr()
        bad = [w for w in SANITIZER_WORDS if w in text]
        assert not bad, f"sanitizer report in {self.stderr_path}:\n{text}"
        if not allow_errors:
            errors = [l for l in text.splitlines() if "error:" in l]
            assert not errors, f"errors in {self.stderr_path}:\n" + "\n".join(errors)


# ---- what the multi-host test files share -----------------------------------

@contextlib.contextmanager
def hard_deadline(seconds):
    """Fails a test that runs past seconds instead of hanging CI (SIGALRM)."""
    def expired(signum, frame):
        pytest.fail(f"test exceeded {seconds}s")

    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def three_hosts():
    """A module fixture's body: three network-namespace hosts, closed after."""
    check_capabilities()
    c = Cluster(3)
    yield c
    c.close()


class Fleet:
    """A master on host 1 and an agent on every host, on one pool."""

    def __init__(self, cluster, pool, workdir, master_args=(), agent_args=()):
        self.cluster = cluster
        self.workdir = workdir
        self.master = NsMaster(cluster.hosts[0], pool, workdir,
                               args=["--reclaim-grace-ms", "0", *master_args])
        self.api = self.master.client("admin")
        self.agents = [Agent(h, pool, workdir, master_url=self.master.url,
                             extra=list(agent_args)) for h in cluster.hosts]
        for a in self.agents:
            a.start()

