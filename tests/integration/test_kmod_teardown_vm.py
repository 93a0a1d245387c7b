"""The kernel module's teardown paths in one QEMU guest: what happens to
the mappings, the DAX entries and the superblock when a file is revoked,
when the mount drops meta_rw, when the pmem device is unbound under the
mount, and when a memory failure arrives while the mount goes away.

No agent and no master: the tests mount the pool themselves and build the
namespace with kmodtool's raw ioctls, so each one sets up exactly the
state it needs. The guest boots with panic_on_warn=1: a WARNING kills it,
and the test that caused it fails with the guest's serial log. After every
test the kernel log must hold no WARNING, BUG, oops or "Busy inodes".
"""

import json
import os
import re
import sys

import pytest

from conftest import vm_ready

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "vm"))
import vm  # noqa: E402

MiB = 1 << 20
POOL_SIZE = 256 * MiB
MNT = "/tmp/m"
DEV = "/dev/pmem0"
K = KO = CTL = None           # what the guest runs: the fixture's copies
ROUNDS = 1                    # remount races (each failed before the fix)
RACE_FILES = 60000            # inodes the failure callback walks
PROBLEMS = re.compile(vm.KERNEL_PROBLEMS.pattern + "|Busy inodes")


@pytest.fixture(scope="module")
def guest(tmp_path_factory):
    ver, snap = vm_ready(vm)
    global K, KO, CTL
    K, KO, CTL = snap.kmodtool, snap.ko, snap.famfsctl
    work = str(tmp_path_factory.mktemp("kmodteardown"))
    pool = os.path.join(work, "pool")
    with open(pool, "w") as f:
        f.truncate(POOL_SIZE)
    g = vm.Guest("td", work, pool, POOL_SIZE)       # panic_on_warn=1: vm.py
    try:
        g.start(ver)
        g.wait_ready()
        g.check(vm.sh_setup_namespace())
        g.check(vm.sh_mkfs(CTL, "1M"))
        g.check(f"insmod {KO} && mkdir -p {MNT}")
        yield g
    finally:
        g.stop()
        snap.close()


@pytest.fixture(autouse=True)
def clean_kernel_log(request):
    yield
    g = request.getfixturevalue("guest")
    text = g.dmesg() if g.alive() else vm._read(g.serial)
    bad = [ln for ln in text.splitlines() if PROBLEMS.search(ln)]
    assert not bad, f"guest kernel log problems: {bad}"


def info(g):
    return json.loads(g.check(f"{K} info {MNT}"))


def wait(g, cond, what, timeout=20):
    r = g.run(f"i=0; until {cond}; do i=$((i+1)); [ $i -gt {timeout * 50} ] "
              f"&& exit 1; sleep 0.02; done", timeout=timeout + 10)
    assert r.rc == 0, f"timed out waiting for {what}"


def start_probe(g, path, mode, tag):
    """kmodtool probe in the background: mapped, waiting for SIGUSR1."""
    g.check(f"{K} probe {path} {mode} > /tmp/{tag}.out 2>&1 & echo $! > /tmp/{tag}.pid")
    wait(g, f"grep -q held /tmp/{tag}.out", f"the {tag} probe")


def finish_probe(g, tag):
    """Wakes the probe; returns what it saw after the change."""
    g.check(f"kill -USR1 $(cat /tmp/{tag}.pid)")
    wait(g, f"! kill -0 $(cat /tmp/{tag}.pid) 2>/dev/null", f"the {tag} probe to end")
    out = g.check(f"cat /tmp/{tag}.out").splitlines()
    return json.loads(out[-1])


def mount(g, opts=""):
    g.check(f"mount -t famfsd {opts} {DEV} {MNT}")
    return info(g)["data_offset"]


def test_revoke_drops_the_dax_entries(guest):
    """A deleted file held mapped is revoked and its extent given to a new
    file: mapping the new file must not find the old inode's DAX entries on
    the same pages (before the fix: WARNING in dax_insert_entry)."""
    g = guest
    data = mount(g)
    ext = f"{data}:{2 * MiB}"
    g.check(f"{K} create {MNT} 10 1 old {2 * MiB} {ext}")
    start_probe(g, f"{MNT}/old", "r", "rv")
    g.check(f"{K} delete {MNT} 10 1 old && {K} revoke {MNT} 10")
    g.check(f"{K} create {MNT} 11 1 new {2 * MiB} {ext}")
    g.check(f"{K} hold {MNT}/new 0")                # maps and touches it
    out = finish_probe(g, "rv")
    assert out == {"sigbus": True, "io_errno": 5}, out
    g.check(f"umount {MNT}")


def test_remount_without_meta_rw_cuts_writable_meta_mappings(guest):
    """The master's host loses meta_rw (the agent's fspick reconfigure)
    while a process keeps writing through a shared writable mapping of
    .famfsd/pool (the one meta file that maps): from then on its stores
    must fault (SIGBUS) and write() must get
    EPERM. Before the fix the remount synced first and cleared meta_rw
    after, so a write fault in between kept a writable PTE."""
    g = guest
    mount(g, "-o meta_rw")
    for i in range(ROUNDS):
        start_probe(g, f"{MNT}/.famfsd/pool", "w", f"mw{i}")
        # As the agent does it, at nice 19 (kmodtool's own): once woken from
        # the sync the remount waits for the writer's time slice (one vCPU),
        # so the writer faults in whatever window the remount leaves.
        g.check(f"sleep 0.2 && {K} reconfigure {MNT}")
        assert not info(g)["flags"] & 2, "meta_rw still set after the remount"
        out = finish_probe(g, f"mw{i}")
        assert out == {"sigbus": True, "io_errno": 1}, (i, out)
        g.check(f"{K} reconfigure {MNT} meta_rw")
        assert info(g)["flags"] & 2
    g.check(f"{K} reconfigure {MNT}")
    r = g.run(f"{K} probe {MNT}/.famfsd/pool w")
    assert r.rc != 0 and "Operation not permitted" in r.err, r
    g.check(f"head -c 4096 {MNT}/.famfsd/log > /dev/null")   # reads still work
    g.check(f"umount {MNT}")


def nd_device(g):
    """The nd device the pmem driver serves /dev/pmem0 from (pfn0.0)."""
    return g.check("basename $(readlink -f /sys/block/pmem0/device)").strip()


def test_unbind_under_a_mapped_file_fences_and_umount_is_clean(guest):
    """The pmem device is unbound while a file is mapped: the mapping gets
    SIGBUS, read() EIO, and munmap, umount and rmmod are clean (before the
    fix umount oopsed in dax_disassociate_entry on the freed pages)."""
    g = guest
    data = mount(g)
    g.check(f"{K} create {MNT} 20 1 f {4 * MiB} {data}:{4 * MiB}")
    start_probe(g, f"{MNT}/f", "r", "ub")
    nd = nd_device(g)
    g.check(f"echo {nd} > /sys/bus/nd/drivers/nd_pmem/unbind")
    assert info(g)["flags"] & 1                       # fenced
    out = finish_probe(g, "ub")
    assert out == {"sigbus": True, "io_errno": 5}, out
    r = g.run(f"cat {MNT}/f > /dev/null")
    assert r.rc != 0 and "Input/output error" in r.err, r
    g.check(f"umount {MNT} && rmmod famfsd")
    assert "device removed" in g.dmesg()
    # The device comes back and mounts again, its pool intact.
    g.check(f"echo {nd} > /sys/bus/nd/drivers/nd_pmem/bind && test -b {DEV}")
    g.check(f"insmod {KO}")
    mount(g)
    assert not info(g)["flags"] & 1
    g.check(f"umount {MNT}")


def test_memory_failure_racing_umount_is_waited_for(guest):
    """A memory failure arrives (hwpoison-inject's corrupt-pfn: no process
    needs the file mapped, so nothing keeps the mount) while the mount is
    unmounted. The callback walks every inode; kill_sb must wait for it
    and never free what it uses, and a callback after kill_sb dropped the
    holder must find nothing. Many empty files make the walk long (before
    the fix: "Busy inodes after unmount", the callback then on freed
    memory)."""
    g = guest
    mount(g)
    g.check(f"{K} create-empty {MNT} 1000 {RACE_FILES}", timeout=120)
    start = g.check(r"sed -n 's/^ *\([0-9a-f]*\)-[0-9a-f]* : namespace0\.0$/\1/p' "
                    "/proc/iomem | head -1").strip()
    assert start, g.check("cat /proc/iomem")
    pfn = (int(start, 16) + 64 * MiB) >> 12          # inside the pool's data
    g.check("insmod /lib/modules/$(uname -r)/kernel/mm/hwpoison-inject.ko; "
            "grep -q ' /sys/kernel/debug ' /proc/mounts || "
            "mount -t debugfs debugfs /sys/kernel/debug; "
            "test -e /sys/kernel/debug/hwpoison/corrupt-pfn")
    g.check("umount --version > /dev/null")         # umount's pages cached
    # kmodtool polls the fenced flag at nice 0 and unmounts the moment it
    # is set; the failure comes at nice 19: on one vCPU the callback then
    # runs only when umount sleeps, and waits at each cond_resched()
    # holding an inode, as a slow callback on a busy host would.
    g.check(f"{K} umount-when-fenced {MNT} 60 > /tmp/uwf.out & "
            "until grep -q polling /tmp/uwf.out; do sleep 0.01; done; "
            "nice -n 19 sh -c 'echo %d > /sys/kernel/debug/hwpoison/corrupt-pfn'; "
            "wait $! && cat /tmp/uwf.out" % pfn, timeout=120)
    log = g.dmesg()

    def when(text):
        t = [float(m.group(1)) for m in re.finditer(
            r"^\[ *([0-9.]+)\] .*" + re.escape(text), log, re.M)]
        assert t, f"no '{text}' in the kernel log:\n{log[-2000:]}"
        return t[-1]
    # The callback was still at work when umount began (the generic
    # handler's line comes after the callback returns).
    assert (when("famfsd pmem0: memory failure") < when("umount now") <
            when("recovery action for dax page")), log[-2000:]
    assert g.run(f"grep -q ' {MNT} ' /proc/mounts").rc != 0
    g.check("rmmod famfsd")
