"""The kernel module's namespace in one QEMU guest, driven by raw ioctls
(kmodtool, no agent): which pool bytes an inode may map, attribute changes,
the order of an open against a DELETE, and a DELETE against a mount on the
name. Each case is a regression test of a defect of issue 14 (it failed
before its fix: the guest boots with panic_on_warn=1, so a WARN in
dax_insert_entry takes it down and fails the test).

The races use the module's test-only delay knobs (docs/kmod.md, "Test
knobs"), off by default, to hold one side inside the window.
"""

import json
import os
import sys

import pytest

from conftest import vm_ready

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "vm"))
import vm  # noqa: E402

MiB = 1 << 20
POOL_SIZE = 256 * MiB
MNT = "/tmp/ns"
PARAMS = "/sys/module/famfsd/parameters"
K = CTL = None


class NsGuest:
    """One guest with the pool mounted at MNT by hand; the tests make files
    with kmodtool. next_ino() and unit() hand out fresh numbers and space."""

    def __init__(self, g):
        self.g = g
        self.ino = 100
        self.info = None
        self.next_unit = 0

    def setup(self):
        self.g.check(vm.sh_setup_namespace())
        self.g.check(vm.sh_mkfs(CTL, "1M"))
        self.g.check(f"insmod {KO} && mkdir -p {MNT} && "
                     f"mount -t famfsd /dev/pmem0 {MNT}")
        self.info = json.loads(self.g.check(f"{K} info {MNT}"))

    def next_ino(self):
        self.ino += 1
        return self.ino

    def units(self, n=1):
        """Device offset of n fresh allocation units nobody used yet."""
        u = self.info["alloc_unit"]
        off = self.info["data_offset"] + self.next_unit * u
        self.next_unit += n
        assert off + n * u <= self.info["pool_size"]
        return off

    def create(self, name, ext, size=None, ino=None):
        """kmodtool create in the root; ext: [(off, len)]. Its JSON reply."""
        ino = ino or self.next_ino()
        size = sum(n for _, n in ext) if size is None else size
        spec = ",".join(f"{o}:{n}" for o, n in ext)
        r = self.g.run(f"{K} create {MNT} {ino} 1 {name} {size} {spec}")
        out = json.loads(r.out)
        out["ino"] = ino
        return out

    def delete(self, name, ino):
        return json.loads(self.g.run(f"{K} delete {MNT} {ino} 1 {name}").out)

    def revoke(self, ino):
        return json.loads(self.g.run(f"{K} revoke {MNT} {ino}").out)

    def open_inos(self):
        return json.loads(self.g.check(f"{K} open-inos {MNT}"))["inos"]


@pytest.fixture(scope="module")
def ns(tmp_path_factory):
    ver, snap = vm_ready(vm)
    global K, KO, CTL
    K, KO, CTL = snap.kmodtool, snap.ko, snap.famfsctl
    work = str(tmp_path_factory.mktemp("kmodns"))
    pool = os.path.join(work, "pool")
    with open(pool, "w") as f:
        f.truncate(POOL_SIZE)
    # panic_on_warn: a WARN (dax_insert_entry's) takes the guest down at once.
    g = vm.Guest("ns", work, pool, POOL_SIZE)
    try:
        g.start(ver)
        g.wait_ready()
        n = NsGuest(g)
        n.setup()
        yield n
    finally:
        g.stop()
        snap.close()


@pytest.fixture(autouse=True)
def clean_kernel_log(request):
    """After each test: no WARNING/BUG/oops line in the guest, knobs off."""
    yield
    n = request.getfixturevalue("ns")
    bad = n.g.kernel_problems()
    assert not bad, f"guest kernel log problems: {bad}"
    if n.g.alive():
        n.g.check(f"echo 0 > {PARAMS}/test_open_delay_ms && "
                  f"echo 0 > {PARAMS}/test_delete_delay_ms")


def test_touch_sets_times_but_not_sizes(ns):
    """touch -d (utimensat with explicit times: ATTR_TIMES_SET) changes the
    times locally; sizes, modes and owners stay the log's."""
    u = ns.info["alloc_unit"]
    assert ns.create("timed", [(ns.units(), u)])["errno"] == 0
    f = f"{MNT}/timed"
    r = ns.g.run(f"touch -d '2021-02-03 04:05:06 UTC' {f}")
    assert r.rc == 0, r
    assert ns.g.check(f"stat -c %Y {f}").strip() == "1612325106"
    r = ns.g.run(f"touch -a -d '2020-01-01 00:00:00 UTC' {f}")
    assert r.rc == 0, r
    assert ns.g.check(f"stat -c '%X %Y' {f}").split() == ["1577836800", "1612325106"]
    assert ns.g.run(f"touch {f}").rc == 0          # now: ATTR_TOUCH
    for cmd in (f"truncate -s 0 {f}", f"chmod 600 {f}", f"chown 1 {f}"):
        assert ns.g.run(cmd).rc != 0, cmd
    assert ns.g.check(f"stat -c '%s %a %u' {f}").split() == [str(u), "644", "0"]


def test_read_to_the_end_returns_eof(ns):
    """read() at the end of a file whose size is its extents' sum, and of
    the meta files, returns 0 (it asked iomap_begin for an extent past the
    last one: WARN_ON_ONCE, or EIO for a meta file)."""
    u = ns.info["alloc_unit"]
    assert ns.create("whole", [(ns.units(), u)])["errno"] == 0
    assert ns.create("part", [(ns.units(), u)], size=5000)["errno"] == 0
    for name, size in (("whole", u), ("part", 5000),
                       (".famfsd/super", ns.info["log_offset"]),
                       (".famfsd/log", ns.info["log_size"])):
        r = ns.g.run(f"cat {MNT}/{name} | wc -c")
        assert r.rc == 0 and r.err == "" and int(r.out) == size, (name, r)


def test_meta_files_cannot_alias(ns):
    """.famfsd/pool covers super and log: were both mappable, the same pool
    page would go into two inodes' mappings (WARNING in dax_insert_entry).
    Only pool maps; super and log are read()/write() windows onto the same
    bytes, and famfs_pool_open on pool works."""
    g = ns.g
    assert g.run(f"{K} map-touch {MNT}/.famfsd/pool 0").rc == 0
    for name in ("super", "log"):
        r = g.run(f"{K} map-touch {MNT}/.famfsd/{name} 0")
        assert json.loads(r.out)["mmap_errno"] == 19, r     # ENODEV
    lo = ns.info["log_offset"]
    r = g.run(f"head -c {lo} {MNT}/.famfsd/pool > /tmp/sb && "
              f"cmp /tmp/sb {MNT}/.famfsd/super && "
              f"tail -c +{lo + 1} {MNT}/.famfsd/pool | head -c "
              f"{ns.info['log_size']} > /tmp/lg && cmp /tmp/lg {MNT}/.famfsd/log")
    assert r.rc == 0, r
    out = json.loads(g.check(f"{CTL} --json info {MNT}/.famfsd/pool"))
    assert out["data_offset"] == ns.info["data_offset"], out


def test_files_cannot_share_pool_bytes(ns):
    """A create whose extent overlaps a live file's is refused (EBUSY, one
    log line naming the other inode); adjacent extents are fine, the
    metadata area stays refused (EINVAL), and nothing refused is left."""
    u = ns.info["alloc_unit"]
    off = ns.units(4)
    a = ns.create("ov_a", [(off, 2 * u)])
    assert a["errno"] == 0, a
    for name, ext in (("ov_same", [(off, 2 * u)]),
                      ("ov_part", [(off + u, 2 * u)]),
                      ("ov_second", [(off + 3 * u, u), (off + u, u)])):
        r = ns.create(name, ext)
        assert r["errno"] == 16, (name, r)                  # EBUSY
    assert f"overlaps inode {a['ino']}" in ns.g.dmesg()
    assert ns.create("ov_meta", [(0, u)])["errno"] == 22     # EINVAL
    e = ns.create("ov_e", [(off + 2 * u, 2 * u)])
    assert e["errno"] == 0, e
    assert ns.g.check(f"ls {MNT} | grep ^ov_").split() == ["ov_a", "ov_e"]
    for name in ("ov_a", "ov_e"):
        ns.g.check(f"{K} map-touch {MNT}/{name} 0")
    assert ns.delete("ov_a", a["ino"])["errno"] == 0
    assert ns.create("ov_after", [(off, 2 * u)])["errno"] == 0   # evicted: free


def test_deleted_file_held_open_keeps_its_space_until_revoked(ns):
    """Live means: named, or deleted but still open here and not revoked.
    A create over such a file's space is refused until the revoke (the
    master reclaimed it), then accepted."""
    g, u = ns.g, ns.info["alloc_unit"]
    off = ns.units(1)
    h = ns.create("held", [(off, u)])
    assert h["errno"] == 0, h
    g.check(f"sleep 600 < {MNT}/held & echo $! > /tmp/held.pid")
    assert ns.delete("held", h["ino"])["errno"] == 0
    assert h["ino"] in ns.open_inos()
    assert ns.create("reuse", [(off, u)])["errno"] == 16     # still in use
    assert ns.revoke(h["ino"])["errno"] == 0
    r = ns.create("reuse", [(off, u)])
    assert r["errno"] == 0, r
    g.check(f"{K} map-touch {MNT}/reuse 0")
    g.check("kill $(cat /tmp/held.pid)")


def wait_in(g, func, what, timeout=30):
    """Until some process sleeps in module function func (its stack)."""
    r = g.run(f"i=0; until grep -qs '{func}' /proc/[0-9]*/stack; do "
              f"i=$((i+1)); [ $i -gt {timeout * 20} ] && exit 1; sleep 0.05; "
              "done", timeout=timeout + 10)
    assert r.rc == 0, f"nobody reached {func} ({what})"


def wait_file(g, path, pattern, timeout=30):
    r = g.run(f"i=0; until grep -qs '{pattern}' {path}; do i=$((i+1)); "
              f"[ $i -gt {timeout * 20} ] && exit 1; sleep 0.05; done",
              timeout=timeout + 10)
    assert r.rc == 0, f"{path}: no '{pattern}':\n" + g.run(f"cat {path}").out


def test_open_racing_a_delete_is_refused_or_listed(ns):
    """An open that resolved the name before a DELETE and finishes after
    it: the open-inode listing taken after the DELETE (what a heartbeat
    sends, so the master may reclaim) must show it, or the open must fail.
    test_open_delay_ms holds the open inside the window."""
    g, u = ns.g, ns.info["alloc_unit"]
    f = ns.create("racy", [(ns.units(1), u)])
    assert f["errno"] == 0, f
    g.check(f"echo 3000 > {PARAMS}/test_open_delay_ms")
    g.check(f"( {K} hold {MNT}/racy 600; echo rc=$? ) > /tmp/racy.out 2>&1 & "
            "echo $! > /tmp/racy.pid")
    wait_in(g, "famfsd_open", "the delayed open")
    assert ns.delete("racy", f["ino"])["errno"] == 0
    listed = f["ino"] in ns.open_inos()        # the heartbeat's snapshot
    wait_file(g, "/tmp/racy.out", "held\\|rc=")
    out = g.run("cat /tmp/racy.out").out
    if not listed:
        assert "rc=2" in out and "No such file" in out, out
        assert f["ino"] not in ns.open_inos(), out
    g.run("pkill -P $(cat /tmp/racy.pid)")


def test_mount_racing_a_delete_never_lands_on_a_deleted_file(ns):
    """A DELETE checks that nothing is mounted on the name and unlinks it
    under the file's lock, marking it unmountable (dont_mount), as
    vfs_unlink does: a bind mount that comes in between either makes the
    DELETE fail (EBUSY) or fails itself. test_delete_delay_ms holds the
    DELETE between its check and its unlink."""
    g, u = ns.g, ns.info["alloc_unit"]
    f = ns.create("target", [(ns.units(1), u)])
    assert f["errno"] == 0, f
    g.check(f"touch /tmp/bindsrc && echo 2000 > {PARAMS}/test_delete_delay_ms")
    g.check(f"( {K} delete {MNT} {f['ino']} 1 target; echo rc=$? ) "
            "> /tmp/del.out 2>&1 &")
    wait_in(g, "famfsd_ns_delete", "the delayed delete")
    m = g.run(f"mount --bind /tmp/bindsrc {MNT}/target", timeout=30)
    wait_file(g, "/tmp/del.out", "rc=")
    deleted = '"errno": 0' in g.run("cat /tmp/del.out").out
    mounted = g.run(f"grep -q ' {MNT}/target' /proc/self/mountinfo").rc == 0
    if mounted:
        g.run(f"umount -l {MNT}/target")
    assert not (deleted and mounted), (m, g.run("cat /tmp/del.out").out)
    assert deleted and m.rc != 0, m
