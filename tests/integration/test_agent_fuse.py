"""The agent's FUSE mount on one host, without a master: records are written
with tests/integration/tools/logtool.c (build/tools/famfs-logtool), which
appends and publishes through the library as the master does. Two agents
on one pool stand for two hosts.

Cases: long listings resume across pages (and across deletes), files of
many extents read and write across extent boundaries, mmap stores reach
the pool and another mount after msync, --direct-io reads see another
mount's writes on a descriptor that stays open, reclaim and statfs, the
refusals, and a clean stop; damaged copies of a record or checkpoint item
read from the other copy and logged once; new log generations (the tool's
compaction) followed by moving the reader, or by a rebuild when the agent
was stopped across two of them or the record at its position is another.
"""

import errno
import json
import mmap
import os
import signal
import socket
import struct
import subprocess
import time

import pytest

from conftest import (BUILD, FAMFSD, LOG_HDR_SIZE,
                      format_h, famfsctl, log_area, make_pool,
                      require, stop_local, assert_no_sanitizer_report)

LOGTOOL = os.path.join(BUILD, "tools", "famfs-logtool")
MiB = 1 << 20


def tool(pool, *args):
    p = subprocess.run([LOGTOOL, pool, *map(str, args)], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, (args, p.stdout, p.stderr)
    return p.stdout


def wait_until(what, fn, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if fn():
            return
        time.sleep(0.01)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


class LocalAgent:
    def __init__(self, pool, workdir, name, extra=(), env=None):
        self.mount = os.path.join(str(workdir), name)
        os.makedirs(self.mount, exist_ok=True)
        self.log = os.path.join(str(workdir), name + ".stderr")
        with open(self.log, "w") as err:
            self.proc = subprocess.Popen(
                [FAMFSD, "agent", "--pool", pool, "--mount", self.mount,
                 "--poll-ms", "10", *extra],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                env=env)
        wait_until(f"{name} mounted", lambda: self.proc.poll() is not None or
                   os.path.ismount(self.mount))
        assert self.proc.poll() is None, self.stderr()

    def p(self, rel):
        return os.path.join(self.mount, rel)

    def stderr(self):
        with open(self.log) as f:
            return f.read()

    def close(self, allow_errors=False):
        stop_local(self.proc, self.mount, 10)
        text = self.stderr()
        assert_no_sanitizer_report(text)
        assert allow_errors or "error:" not in text, text


@pytest.fixture
def agents(tmp_path):
    require(os.geteuid() == 0, "FUSE mounts with allow_other need root")
    require(os.path.exists("/dev/fuse"), "/dev/fuse is missing")
    require(os.access(LOGTOOL, os.X_OK), f"{LOGTOOL} is not built (run make)")
    started = []

    def start(pool, name=None, extra=(), env=None):
        a = LocalAgent(pool, tmp_path, name or f"mnt{len(started)}", extra, env)
        started.append(a)
        return a

    yield start
    for a in started:
        a.close(allow_errors=getattr(a, "allow_errors", False))


def test_backend_auto_is_fuse_without_the_module(agents, tmp_path):
    """The default back-end (auto) on a host without famfsd.ko (this one:
    no module can be loaded) is FUSE, and the start-up says why; the
    module's case is in the guests (test_kmod_devdax_multi_vm.py)."""
    loaded = os.path.exists("/sys/module/famfsd")
    with open("/proc/filesystems") as f:
        loaded = loaded or any(ln.split()[-1:] == ["famfsd"] for ln in f)
    assert not loaded, "this case needs a host without the famfsd module"
    pool = make_pool(tmp_path / "pool.img", size="128M")
    a = agents(pool)
    assert ("back-end fuse (--backend auto: the famfsd kernel module is not "
            "loaded)") in a.stderr(), a.stderr()
    with open("/proc/mounts") as f:
        assert any(ln.split()[1] == a.mount and ln.split()[2].startswith("fuse")
                   for ln in f), a.mount
    b = agents(pool, extra=("--backend", "fuse"))
    assert "back-end fuse (--backend fuse)" in b.stderr(), b.stderr()


def test_listing_resumes_across_pages_and_deletes(agents, tmp_path):
    pool = make_pool(tmp_path / "pool.img", size="1G", alloc_unit="4K")
    tool(pool, "fill", "d", 3000, 1)
    a = agents(pool)
    names = sorted(os.listdir(a.p("d")))
    assert names == [f"f{i:07d}" for i in range(3000)]
    # Delete entries while a listing is open: the entries that stay are
    # seen exactly once.
    it = os.scandir(a.p("d"))
    first = [next(it).name for _ in range(100)]
    gone = range(100, 3000, 7)
    for i in gone:
        tool(pool, "delete", f"d/f{i:07d}")
    wait_until("deletes replayed",
               lambda: not os.path.exists(a.p(f"d/f{gone[-1]:07d}")))
    rest = [e.name for e in it]
    it.close()
    seen = first + rest
    assert len(seen) == len(set(seen))
    kept = {f"f{i:07d}" for i in range(3000) if i < 100 or (i - 100) % 7}
    assert kept <= set(seen)
    assert sorted(os.listdir(a.p("d"))) == sorted(kept)
    st = os.stat(a.p("d/f0000000"))
    assert (st.st_size, st.st_nlink, st.st_mode & 0o7777) == (1, 1, 0o644)


def test_many_extents_and_two_mounts(agents, tmp_path):
    # 32 MiB pool, 2 MiB units: fill it, free every other unit, then a
    # 7-unit file must take seven separate extents.
    pool = make_pool(tmp_path / "pool.img", size="32M", log_size="1M")
    for i in range(14):
        tool(pool, "create", f"u{i}", 2 * MiB)
    for i in range(0, 14, 2):
        ino = tool(pool, "delete", f"u{i}").split()[1]
        tool(pool, "reclaim", ino)
    tool(pool, "create", "frag", 7 * 2 * MiB - 100)
    a, b = agents(pool), agents(pool)
    size = os.stat(a.p("frag")).st_size
    data = os.urandom(size)
    fd = os.open(a.p("frag"), os.O_WRONLY)
    # Writes that straddle extent boundaries, in odd sizes.
    off = 0
    while off < size:
        n = min(size - off, 777777)
        assert os.pwrite(fd, data[off:off + n], off) == n
        off += n
    # Past the end: EFBIG; across the end: cut short.
    with pytest.raises(OSError) as e:
        os.pwrite(fd, b"x", size)
    assert e.value.errno == errno.EFBIG
    assert os.pwrite(fd, data[-10:] + b"overflow", size - 10) == 10
    os.close(fd)
    with open(b.p("frag"), "rb") as f:
        assert f.read() == data
    with open(b.p("frag"), "rb") as f:
        f.seek(2 * MiB - 5)
        assert f.read(10) == data[2 * MiB - 5:2 * MiB + 5]
        f.seek(size)
        assert f.read(10) == b""
    # statfs: all 14 units used, none free; sizes in allocation units.
    s = os.statvfs(b.mount)
    assert (s.f_frsize, s.f_bfree) == (2 * MiB, 0)
    assert s.f_blocks * s.f_frsize == 14 * 2 * MiB


def test_mmap_stores_reach_another_mount(agents, tmp_path):
    pool = make_pool(tmp_path / "pool.img", size="256M", log_size="1M")
    tool(pool, "create", "m", 4 * MiB)
    a, b = agents(pool), agents(pool)
    with open(a.p("m"), "r+b") as f:
        m = mmap.mmap(f.fileno(), 4 * MiB)
        m[MiB:MiB + 11] = b"from a mmap"
        m.flush()                       # msync: written back through W1-W3
        m.close()
    with open(b.p("m"), "rb") as f:
        f.seek(MiB)
        assert f.read(11) == b"from a mmap"
        m = mmap.mmap(f.fileno(), 4 * MiB, prot=mmap.PROT_READ)
        assert m[MiB:MiB + 11] == b"from a mmap"
        m.close()


def test_direct_io_sees_writes_on_an_open_descriptor(agents, tmp_path):
    pool = make_pool(tmp_path / "pool.img", size="256M", log_size="1M")
    tool(pool, "create", "x", MiB)
    a, b = agents(pool), agents(pool, extra=["--direct-io"])
    reader = os.open(b.p("x"), os.O_RDONLY)
    try:
        assert os.pread(reader, 5, 0) == b"\0" * 5
        for word in (b"first", b"again"):
            fd = os.open(a.p("x"), os.O_WRONLY)
            os.pwrite(fd, word, 0)
            os.close(fd)
            # Same descriptor, no reopen: direct I/O goes to the pool.
            assert os.pread(reader, 5, 0) == word
    finally:
        os.close(reader)
    # Shared writable mmap needs the page cache (docs/fuse.md).
    with open(b.p("x"), "r+b") as f:
        with pytest.raises(OSError):
            mmap.mmap(f.fileno(), MiB)


def test_refusals_and_clean_stop(agents, tmp_path):
    pool = make_pool(tmp_path / "pool.img", size="256M", log_size="1M")
    tool(pool, "mkdir", "d")
    tool(pool, "create", "d/f", 100)
    a = agents(pool)
    for fn in (lambda: os.mkdir(a.p("d/new")),
               lambda: open(a.p("d/new"), "w"),
               lambda: os.unlink(a.p("d/f")),
               lambda: os.rmdir(a.p("d")),
               lambda: os.rename(a.p("d/f"), a.p("d/g")),
               lambda: os.link(a.p("d/f"), a.p("d/g")),
               lambda: os.symlink("f", a.p("d/s")),
               lambda: os.truncate(a.p("d/f"), 1),
               lambda: open(a.p("d/f"), "w"),
               lambda: os.chmod(a.p("d/f"), 0o600)):
        with pytest.raises(OSError) as e:
            fn()
        assert e.value.errno == errno.EPERM
    os.truncate(a.p("d/f"), 100)        # its own size: a no-op, allowed
    assert "use the famfsd API (famfsctl create ...)" in a.stderr()
    a.proc.send_signal(signal.SIGTERM)
    assert a.proc.wait(10) == 0
    assert not os.path.ismount(a.mount)
    assert "stopping" in a.stderr()


# The record layout of kmod/uapi/famfsd_format.h, its sizes checked against
# the header's static asserts.
REC_HDR = struct.Struct("<IHHIIQQ")         # crc type flags len reserved seq epoch
REC_CREATE = struct.Struct("<QQQQIIIIHB5x")  # ino parent size mtime_ns mode uid
                                             # gid n_extents name_len tenant_len
assert REC_HDR.size == format_h(r"sizeof\(struct famfs_rec_hdr\) == (\d+)")
assert REC_CREATE.size == format_h(r"sizeof\(struct famfs_rec_create\) == (\d+)")
EXTENT_SIZE = format_h(r"sizeof\(struct famfs_extent\) == (\d+)")


def record_offsets(pool, copy=0):
    """Pool offset of each record in a copy of the log, walked by its len
    field and checked against famfsctl logdump's seq and type: {seq:
    (offset, record)}."""
    info = json.loads(famfsctl("--json", "info", pool, check=0).stdout)
    dump = json.loads(famfsctl("--json", "logdump", pool, check=0).stdout)
    types = {"mkdir": 1, "create": 2}
    out = {}
    off = log_area(info, copy) + LOG_HDR_SIZE + info["checkpoint_bytes"]
    with open(pool, "rb") as f:
        for rec in dump["records"]:
            f.seek(off)
            _, rtype, _, length, _, seq, _ = REC_HDR.unpack(f.read(REC_HDR.size))
            assert (seq, rtype) == (rec["seq"], types[rec["type"]]), (off, rec)
            out[seq] = (off, rec)
            off += length
    return out


class Notifications:
    """An sd_notify(3) socket: the agent reports READY=1, then WATCHDOG=1
    with its applied seq after a follow step, at most once a second."""

    def __init__(self):
        self.name = f"famfsd-test-{os.getpid()}-{time.monotonic_ns()}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + self.name)
        self.messages = []

    def env(self):
        return dict(os.environ, NOTIFY_SOCKET="@" + self.name)

    def wait_for(self, what, pred, timeout=15):
        """Receives until pred(messages) holds, within a deadline."""
        deadline = time.monotonic() + timeout
        while not pred(self.messages):
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"timed out after {timeout}s waiting for {what}: "
                            f"{self.messages}")
            self.sock.settimeout(left)
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except socket.timeout:
                pass

    def close(self):
        self.sock.close()


def test_damaged_record_mounts_what_replays(agents, tmp_path):
    """Both copies of record 3 damaged (one bad copy is read from the other:
    test_log_damage.py)."""
    pool = make_pool(tmp_path / "pool.img", size="256M", log_size="1M")
    tool(pool, "mkdir", "d")
    tool(pool, "create", "d/a", 10)
    tool(pool, "create", "d/b", 10)
    size_at = []
    for copy in (0, 1):
        off, rec = record_offsets(pool, copy)[3]
        assert (rec["type"], rec["name"]) == ("create", "b")
        with open(pool, "rb") as f:
            f.seek(off + REC_HDR.size)
            ino, _, size, *_ = REC_CREATE.unpack(f.read(REC_CREATE.size))
        assert (ino, size) == (rec["ino"], 10)
        size_at.append(off + REC_HDR.size + 16)     # record 3's file size field
    for at in size_at:
        with open(pool, "r+b") as f:
            f.seek(at)
            f.write(bytes([10 ^ 0x80]))
    rep = json.loads(famfsctl("--json", "fsck", pool, check=4).stdout)
    assert (rep["error_record"], rep["error_in"]) == (3, "record"), rep
    note = Notifications()
    try:
        a = agents(pool, env=note.env())
        a.allow_errors = True
        assert sorted(os.listdir(a.p("d"))) == ["a"]
        assert os.stat(a.p("d/a")).st_size == 10
        # Two watchdog notes are a second of follow steps apart (~100 at
        # 10 ms), each one retrying record 3.
        note.wait_for("two follow-step notes", lambda m: sum(
            "WATCHDOG=1" in x for x in m) >= 2)
        assert "READY=1" in note.messages[0], note.messages
        for m in note.messages:
            assert "STATUS=agent: applied seq 2," in m, note.messages
        err = a.stderr()
        assert "seq 2, 1 files, 1 directories;" in err, err
        reports = [l for l in err.splitlines() if "error:" in l]
        assert reports == ["famfsd agent: error: Failed to read the log at "
                           "record 3: record CRC mismatch; serving the state "
                           "as of the record before, will retry"], err
        # Each place once, though every follow step reads it again.
        damage = [l for l in err.splitlines() if "log damage" in l]
        assert len(damage) == 1 and "copy 0 of record 3" in damage[0] and \
            "the other copy is bad too" in damage[0], err

        # Mended (one copy is enough): the follower resumes at record 3,
        # and says so once.
        with open(pool, "r+b") as f:
            f.seek(size_at[1])
            f.write(bytes([10]))
        wait_until("d/b replayed", lambda: os.path.exists(a.p("d/b")))
        assert os.stat(a.p("d/b")).st_size == 10
        note.wait_for("applied seq 3", lambda m: "applied seq 3," in m[-1])
        err = a.stderr()
        assert err.count("log readable again after record 3, resuming") == 1, err
        assert len([l for l in err.splitlines() if "error:" in l]) == 1, err
    finally:
        note.close()
    # Copy 0 is still bad: named, and mended from copy 1.
    rep = json.loads(famfsctl("--json", "fsck", pool, check=4).stdout)
    assert [(e["copy"], e["seq"]) for e in rep["damage"]] == [(0, 3)], rep
    famfsctl("fsck", pool, "--repair", check=1)
    famfsctl("fsck", pool, check=0)


def test_one_damaged_copy_is_read_from_the_other_and_logged_once(agents, tmp_path):
    """The agent reads past a damaged copy and says once where it is (the
    master repairs; agents only read)."""
    pool = make_pool(tmp_path / "pool.img", size="256M", log_size="1M")
    tool(pool, "mkdir", "d")
    tool(pool, "create", "d/a", 10)
    tool(pool, "create", "d/b", 10)
    info = json.loads(famfsctl("--json", "info", pool, check=0).stdout)
    off, rec = record_offsets(pool, 0)[3]
    assert (rec["type"], rec["name"]) == ("create", "b")
    with open(pool, "r+b") as f:
        f.seek(off + REC_HDR.size + 16)         # record 3's file size field
        f.write(bytes([10 ^ 0x80]))
    a = agents(pool)
    assert sorted(os.listdir(a.p("d"))) == ["a", "b"]
    assert os.stat(a.p("d/b")).st_size == 10
    tool(pool, "create", "d/c", 10)             # more follow steps
    wait_until("d/c", lambda: os.path.exists(a.p("d/c")))
    err = a.stderr()
    place = off - info["log_offset"]            # from the log region's start
    lines = [l for l in err.splitlines() if "log damage" in l]
    assert lines == ["famfsd agent: warning: log damage in generation 1: copy 0 "
                     f"of record 3 at log offset {place} (body offset "
                     f"{place - LOG_HDR_SIZE}): record CRC mismatch; read from "
                     "the other copy (the master repairs it)"], err
    assert "error:" not in err, err


def test_pool_formatted_anew_under_a_running_agent(agents, tmp_path):
    """The one case (with a new log generation) where an agent reads the
    log from its start again: the tail went backwards. The old tree goes,
    the new pool's files come, and nothing is served from the old one."""
    pool = make_pool(tmp_path / "pool.img", size="256M", log_size="1M")
    tool(pool, "mkdir", "old")
    tool(pool, "create", "old/f", MiB)
    a = agents(pool)
    assert os.listdir(a.p("old")) == ["f"]
    famfsctl("mkfs", pool, "--force", "--log-size", "1M", check=0)
    wait_until("the old tree gone", lambda: os.listdir(a.mount) == [])
    tool(pool, "create", "new", 4096)
    wait_until("the new pool's file", lambda: os.listdir(a.mount) == ["new"])
    assert os.stat(a.p("new")).st_size == 4096
    assert "replayed the log from the start (the pool was formatted " \
        "anew; every open file revoked)" in a.stderr(), a.stderr()
    famfsctl("fsck", pool, check=0)


def extents_of(pool, name):
    """The extents (offset, length) of the live create of name, from the log."""
    recs = json.loads(famfsctl("logdump", pool, "--json", check=0).stdout)["records"]
    found = [r for r in recs if r["type"] == "create" and r["name"] == name]
    assert found, recs
    return [(e["offset"], e["length"]) for e in found[-1]["extents"]]


def test_handle_open_across_a_reformat_fails_with_eio(agents, tmp_path):
    """A handle opened on the old pool must not reach the new pool's files:
    the new pool reuses inode numbers, names and space, so the old handle
    on "a" (ino 3) would otherwise write into the new "y" or "a"."""
    pool = make_pool(tmp_path / "pool.img", size="256M", log_size="1M")
    tool(pool, "create", "x", MiB)          # ino 2
    tool(pool, "create", "a", MiB)          # ino 3
    a = agents(pool)
    fd = os.open(a.p("a"), os.O_RDWR)
    try:
        famfsctl("mkfs", pool, "--force", "--log-size", "1M", check=0)
        tool(pool, "create", "y", 8 * MiB)  # ino 2 again, over a's old space
        tool(pool, "create", "a", MiB)      # ino 3 again, same name
        wait_until("the new pool's files",
                   lambda: sorted(os.listdir(a.mount)) == ["a", "y"])
        wait_until("the rebuild", lambda: "from the start" in a.stderr())
        with pytest.raises(OSError) as e:
            os.pwrite(fd, b"OLD-HANDLE-WRITE", 0)
        assert e.value.errno == errno.EIO
        with pytest.raises(OSError) as e:
            os.pread(fd, 16, 0)
        assert e.value.errno == errno.EIO
    finally:
        os.close(fd)
    # A handle opened now is on the new file and works.
    with open(a.p("a"), "r+b") as f:
        f.write(b"new-a")
    with open(pool, "rb") as f:
        for name in ("y", "a"):
            for off, length in extents_of(pool, name):
                f.seek(off)
                assert b"OLD-HANDLE-WRITE" not in f.read(length), name
        off = extents_of(pool, "a")[0][0]
        f.seek(off)
        assert f.read(5) == b"new-a"
    famfsctl("fsck", pool, check=0)


@pytest.mark.parametrize("before,after", [("16M", "1M"), ("1M", "16M")])
def test_reformat_moving_the_data_area(agents, tmp_path, before, after):
    """A reformat with another --log-size moves the data area: bytes written
    through the mount afterwards must land at the new file's extents."""
    pool = make_pool(tmp_path / "pool.img", size="256M", log_size=before)
    for i in range(3):
        tool(pool, "create", f"o{i}", MiB)
    a = agents(pool)
    with open(a.p("o0"), "r+b") as f:
        f.write(b"before")
    famfsctl("mkfs", pool, "--force", "--log-size", after, check=0)
    wait_until("the old tree gone", lambda: os.listdir(a.mount) == [])
    tool(pool, "create", "new", 2 * MiB)
    wait_until("the new file", lambda: os.listdir(a.mount) == ["new"])
    payload = os.urandom(MiB) + b"tail-of-the-new-file"
    with open(a.p("new"), "r+b") as f:
        f.write(payload)
    with open(a.p("new"), "rb") as f:
        assert f.read(len(payload)) == payload
    ext = extents_of(pool, "new")
    with open(pool, "rb") as f:
        got = b""
        for off, length in ext:
            f.seek(off)
            got += f.read(length)
    assert got[:len(payload)] == payload
    famfsctl("fsck", pool, check=0)


def test_empty_pool_reformatted_with_another_layout(agents, tmp_path):
    """An empty pool formatted anew with a smaller log: the tail reads fine
    at the old place (both logs start there), but the first record's extent
    lies in what the old layout calls the log, so the old state refuses it;
    the agent must notice the new pool and follow it."""
    pool = make_pool(tmp_path / "pool.img", size="256M", log_size="16M")
    a = agents(pool)
    famfsctl("mkfs", pool, "--force", "--log-size", "1M", check=0)
    tool(pool, "create", "first", MiB)
    wait_until("the new pool's file",
               lambda: os.listdir(a.mount) == ["first"], timeout=20)
    with open(a.p("first"), "r+b") as f:
        f.write(b"first!")
    off = extents_of(pool, "first")[0][0]
    with open(pool, "rb") as f:
        f.seek(off)
        assert f.read(6) == b"first!"


def generation_of(pool):
    return json.loads(famfsctl("--json", "info", pool, check=0).stdout)["log_generation"]


def test_new_log_generations_keep_state_and_handles(agents, tmp_path):
    """Compactions (the tool's, as the master's C1-C7): an agent at or past
    the new checkpoint only moves its reader; one stopped across two of
    them (its areas reused meanwhile) rebuilds from the checkpoint; open
    handles stay, a file deleted meanwhile reads on (pending reclaim),
    one deleted and reclaimed meanwhile is revoked."""
    pool = make_pool(tmp_path / "pool.img", size="256M", log_size="1M")
    tool(pool, "mkdir", "d")
    for name in ("a", "b", "x"):
        tool(pool, "create", f"d/{name}", MiB)
    a = agents(pool, extra=["-v"])
    fds = {n: os.open(a.p(f"d/{n}"), os.O_RDWR) for n in ("a", "b", "x")}
    try:
        for n, fd in fds.items():
            os.pwrite(fd, n.encode() * 4096, 0)
        tool(pool, "compact")                       # S = P: nothing to walk
        wait_until("generation 2", lambda: "followed log generation 2 (from 1)"
                   ": state kept at seq 4, 0 record(s)" in a.stderr())
        tool(pool, "create", "d/c", 10)
        wait_until("d/c", lambda: os.path.exists(a.p("d/c")))
        tool(pool, "compact", 1)                    # S = P - 1: walk one
        wait_until("generation 3", lambda: "followed log generation 3 (from 2)"
                   ": state kept at seq 5, 1 record(s)" in a.stderr())
        assert sorted(os.listdir(a.p("d"))) == ["a", "b", "c", "x"]

        # Stopped across two compactions: the second writes the areas of
        # the generation the agent follows.
        os.kill(a.proc.pid, signal.SIGSTOP)
        try:
            tool(pool, "delete", "d/b")                 # pending, open here
            ino_x = tool(pool, "delete", "d/x").split()[1]
            tool(pool, "reclaim", ino_x)                # reclaimed, open here
            tool(pool, "create", "d/e", 10)
            tool(pool, "compact")
            tool(pool, "create", "d/f", 10)
            tool(pool, "compact")
        finally:
            os.kill(a.proc.pid, signal.SIGCONT)
        assert generation_of(pool) == 5
        wait_until("the rebuild", lambda: "rebuilt the state from the "
                   "checkpoint of log generation 5" in a.stderr())
        assert sorted(os.listdir(a.p("d"))) == ["a", "c", "e", "f"]
        assert os.pread(fds["a"], 4, 0) == b"aaaa"          # still there
        assert os.pread(fds["b"], 4, 0) == b"bbbb"          # deleted, pending
        assert os.fstat(fds["b"]).st_nlink == 0
        with pytest.raises(OSError) as e:                   # reclaimed: revoked
            os.pread(fds["x"], 4, 0)
        assert e.value.errno == errno.EIO
        # And it goes on following: one more record, one more compaction.
        tool(pool, "create", "d/g", 10)
        wait_until("d/g", lambda: os.path.exists(a.p("d/g")))
        tool(pool, "compact")
        wait_until("generation 6", lambda: "followed log generation 6 (from 5)"
                   in a.stderr())
    finally:
        for fd in fds.values():
            os.close(fd)
    err = a.stderr()
    # The reused areas read as what they are: no error, no damage.
    assert "error:" not in err and "log damage" not in err, err
    assert "reclaimed while this agent was behind" in err, err
    famfsctl("fsck", pool, check=0)


def test_damaged_checkpoint_item_copy_is_reported(agents, tmp_path):
    pool = make_pool(tmp_path / "pool.img", size="256M", log_size="1M")
    tool(pool, "mkdir", "d")
    tool(pool, "create", "d/a", 10)
    tool(pool, "compact")
    info = json.loads(famfsctl("--json", "info", pool, check=0).stdout)
    assert info["log_generation"] == 2
    # Its first item is the mkdir, at the start of the body.
    item0 = log_area(info, 0) + LOG_HDR_SIZE
    with open(pool, "r+b") as f:
        f.seek(item0 + REC_HDR.size)
        b = f.read(1)
        f.seek(item0 + REC_HDR.size)
        f.write(bytes([b[0] ^ 0x01]))
    a = agents(pool)
    assert os.listdir(a.p("d")) == ["a"]
    err = a.stderr()
    damage = [l for l in err.splitlines() if "log damage" in l]
    assert damage == ["famfsd agent: warning: log damage in generation 2: copy 0 "
                      f"of checkpoint item 1 at log offset "
                      f"{item0 - info['log_offset']} (body offset 0): "
                      "record CRC mismatch; read from the other copy (the "
                      "master repairs it)"], err


def test_new_generation_with_another_record_at_our_position_rebuilds(agents, tmp_path):
    """The pool's metadata restored to an older copy, then another history
    written from there (same pool, same sequence numbers, same epoch): the
    record at the agent's position in the new generation is another create
    of the same type and length. Only its bytes tell, and the agent must
    not take it for the one it applied."""
    pool = make_pool(tmp_path / "pool.img", size="256M", log_size="1M")
    tool(pool, "mkdir", "d")
    tool(pool, "create", "d/a", 10)
    meta = json.loads(famfsctl("--json", "info", pool, check=0).stdout)["data_offset"]
    with open(pool, "rb") as f:
        before = f.read(meta)
    tool(pool, "create", "d/b", 10)             # seq 3, applied by the agent
    a = agents(pool, extra=["-v"])
    assert sorted(os.listdir(a.p("d"))) == ["a", "b"]
    os.kill(a.proc.pid, signal.SIGSTOP)
    try:
        with open(pool, "r+b") as f:            # in place: the agent maps it
            f.write(before)
        tool(pool, "create", "d/c", 10)         # seq 3 again, another file
        tool(pool, "compact", 1)                # its checkpoint at seq 2
    finally:
        os.kill(a.proc.pid, signal.SIGCONT)
    wait_until("the rebuild", lambda: "rebuilt the state from the checkpoint of "
               "log generation 2 (record 3 there is not the one this agent "
               "applied)" in a.stderr())
    assert sorted(os.listdir(a.p("d"))) == ["a", "c"]
    assert "followed log generation" not in a.stderr()
