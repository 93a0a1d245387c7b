"""The kernel module on a device-dax pool, in one QEMU guest.

The guest's nvdimm is converted to a devdax (`--map=mem --align=2M`,
/dev/dax0.0), famfsctl formats the pool on it, and the agent runs with
--backend kmod on /dev/dax0.0 (meta_rw) with the master on the mount's
meta file, its API forwarded to the host. Files come from the API, or
straight from the ioctls (kmodtool) where a test needs a layout the
allocator would not make (several extents, out of order).

The tests that take the module away (unbind, memory failure, umount and
rmmod cycles) run last, after the agent and master stopped, on mounts of
their own. After every test the guest's kernel log must be free of
WARNING/BUG/oops lines (every guest boots with panic_on_warn=1).
"""

import json
import os
import sys
import time

import pytest
import requests

from conftest import (ADMIN_TOKEN, AGENT_TOKEN, ApiClient, free_port, read_log,
                      vm_ready, write_tokens)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "vm"))
import vm  # noqa: E402

MiB = 1 << 20
POOL_SIZE = 1 << 30
MNT = "/tmp/famfs"
DAX = "/dev/dax0.0"
K = KO = D = CTL = None     # the guest's copies (vm.Snapshot)

# A shell snippet: SHA-256 of LEN bytes at OFF of /dev/dax0.0, read
# through a mapping of the device itself (devdax has no read(), and maps
# only whole 2 MiB units).
RAW_SUM = ("python3 -c 'import mmap,os,sys,hashlib; o,n=int(sys.argv[1]),"
           "int(sys.argv[2]); f=os.open(\"/dev/dax0.0\",os.O_RDONLY); "
           "u=2<<20; m=mmap.mmap(f,(n+u-1)//u*u,mmap.MAP_SHARED,mmap.PROT_READ,"
           "offset=o); print(hashlib.sha256(m[:n]).hexdigest())'")


class Guest:
    def __init__(self, work):
        self.port = free_port()
        pool = os.path.join(work, "pool")
        with open(pool, "w") as f:
            f.truncate(POOL_SIZE)
        self.g = vm.Guest("dd1", work, pool, POOL_SIZE,
                          hostfwd=[(self.port, 7470)])
        self.api = None
        self.data_offset = None
        self.times = {}

    def start(self, ver):
        t0 = time.monotonic()
        g = self.g
        g.start(ver)
        g.wait_ready()
        self.times["boot"] = time.monotonic() - t0
        g.check("ndctl create-namespace -f -e namespace0.0 -m devdax "
                f"--map=mem --align=2M >/dev/null && test -c {DAX}")
        g.check(f"{CTL} mkfs {DAX} --force --log-size 8M >/dev/null")
        out = json.loads(g.check(f"{CTL} --json info {DAX}"))
        self.data_offset = out["data_offset"]
        self.pool_size = out["device_size"]
        write_tokens(os.path.join(g.xchg, "tokens"))
        with open(os.path.join(g.xchg, "agent.token"), "w") as f:
            f.write(AGENT_TOKEN + "\n")
        g.check(f"insmod {KO}")
        g.check(f"cd /tmp && nohup {D} agent --backend kmod --pool {DAX} "
                f"--mount {MNT} --master http://127.0.0.1:7470 --token-file "
                "/tmp/x/agent.token --agent-id dd1 --poll-ms 20 --meta-rw "
                "> /tmp/x/agent.log 2>&1 & echo $! > /tmp/agent.pid")
        self.wait(f"grep -q 'mounted at {MNT}' /tmp/x/agent.log", "the agent's mount")
        g.check(f"cd /tmp && nohup {D} master --pool {MNT}/.famfsd/pool "
                "--listen 0.0.0.0:7470 --tokens /tmp/x/tokens "
                "> /tmp/x/master.log 2>&1 & echo $! > /tmp/master.pid")
        self.wait_healthz()
        self.api = ApiClient(f"http://127.0.0.1:{self.port}", ADMIN_TOKEN)
        self.times["ready"] = time.monotonic() - t0

    def wait(self, cond, what, timeout=20):
        r = self.g.run(f"i=0; until {cond}; do i=$((i+1)); [ $i -gt {timeout * 50} ] "
                       f"&& exit 1; sleep 0.02; done", timeout=timeout + 10)
        if r.rc != 0:
            pytest.fail(f"timed out waiting for {what}\n--- agent.log\n"
                        f"{read_log(os.path.join(self.g.xchg, 'agent.log'))}")

    def wait_healthz(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                url = f"http://127.0.0.1:{self.port}/healthz"
                if requests.get(url, timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        pytest.fail("master did not answer /healthz:\n" +
                    read_log(os.path.join(self.g.xchg, "master.log")))

    def info(self, path=MNT):
        return json.loads(self.g.check(f"{K} info {path}"))

    def top(self, n):
        """Device offset of the n-th 2 MiB unit below the pool's end: room
        the master (which allocates from the bottom) leaves alone here."""
        return self.pool_size - 2 * MiB * n


@pytest.fixture(scope="module")
def dd(tmp_path_factory):
    ver, snap = vm_ready(vm)
    global K, KO, D, CTL
    K, KO, D, CTL = snap.kmodtool, snap.ko, snap.famfsd, snap.famfsctl
    c = Guest(str(tmp_path_factory.mktemp("kmoddevdax")))
    try:
        c.start(ver)
        yield c
    finally:
        c.g.stop()
        snap.close()


@pytest.fixture(autouse=True)
def clean_kernel_log(request):
    yield
    g = request.getfixturevalue("dd").g
    bad = g.kernel_problems()
    assert not bad, f"guest kernel log problems: {bad}"


def test_devdax_mount_geometry_statfs_and_meta_files(dd):
    g = dd.g
    size = int(g.check("cat /sys/bus/dax/devices/dax0.0/size"))
    i = dd.info()
    assert i["device_size"] == size and i["pool_size"] == size, i
    assert i["data_offset"] == dd.data_offset and i["flags"] & 2, i  # meta_rw
    assert "famfsd dax0.0: mounted pool" in g.dmesg()
    mounts = g.check("cat /proc/mounts")
    assert f"{DAX} {MNT} famfsd rw" in mounts, mounts
    stat = g.check(f"stat -f -c '%t %S %b' {MNT}").split()
    assert stat[0] == "46414d44" and int(stat[1]) == 2 * MiB
    assert int(stat[2]) == (size - dd.data_offset) // (2 * MiB)
    # The meta files are the device's first bytes, through the module
    # (superblock copy A: the master keeps renewing its lease further on).
    sizes = g.check(f"stat -c '%n %s' {MNT}/.famfsd/pool {MNT}/.famfsd/super "
                    f"{MNT}/.famfsd/log").split()
    assert sizes[1::2] == [str(size), str(i["log_offset"]), str(i["log_size"])]
    via_meta = g.check(f"head -c 4096 {MNT}/.famfsd/super | sha256sum")
    assert via_meta.split()[0] == g.check(f"{RAW_SUM} 0 4096").strip()
    out = json.loads(g.check(f"{CTL} --json info {MNT}/.famfsd/pool"))
    assert out["data_offset"] == dd.data_offset and out["device_size"] == size
    r = g.run(f"dd if={MNT}/.famfsd/pool bs=4096 skip={dd.data_offset // 4096} "
              "count=1 of=/dev/null")
    assert r.rc != 0 and "Input/output error" in r.err, r   # data area: EIO


def test_api_file_mmap_is_served_by_pmd_faults(dd):
    g = dd.g
    dd.api.put("/v1/dirs/jobs", json={"mode": 0o755}, expect=201)
    dd.api.put("/v1/files/jobs/a", json={"size": 8 * MiB, "mode": 0o666}, expect=201)
    dd.wait(f"[ -e {MNT}/jobs/a ]", "jobs/a")
    g.check(f"{K} fill {MNT}/jobs/a 0 {8 * MiB} 4321")
    out = g.check(f"{K} check {MNT}/jobs/a 0 {8 * MiB} 4321")
    assert '"bad_words_mmap": 0' in out and '"bad_words_read": 0' in out, out
    m = json.loads(g.check(f"{K} map-read {MNT} {MNT}/jobs/a"))
    assert m["addr_2m_aligned"], m
    assert m["pmd_faults"] == 4 and m["pte_faults"] == 0, m   # 8 MiB = 4 x 2 MiB
    assert m["pmd_fallbacks"] == 0, m


def test_three_extent_file_reads_across_extents(dd):
    """Three 2 MiB extents out of device order, the last one partly used:
    the file's bytes must be the devices's bytes at those offsets, through
    mmap and read(); the aligned extents take PMD faults, the partial one
    (the mapping ends inside it) pages."""
    g = dd.g
    offs = [dd.top(2), dd.top(6), dd.top(4)]
    size = 6 * MiB - 4096
    ext = ",".join(f"{o}:{2 * MiB}" for o in offs)
    r = g.run(f"{K} create {MNT} {1 << 40} 1 three {size} {ext}")
    assert '"errno": 0' in r.out, r
    g.check(f"{K} fill {MNT}/three 0 {size} 99")
    out = g.check(f"{K} check {MNT}/three 0 {size} 99")
    assert '"bad_words_mmap": 0' in out and '"bad_words_read": 0' in out, out
    for k, o in enumerate(offs):
        n = 2 * MiB if k < 2 else 2 * MiB - 4096
        via_file = g.check(f"dd if={MNT}/three bs=4096 skip={k * 512} "
                           f"count={n // 4096} status=none | sha256sum").split()[0]
        assert via_file == g.check(f"{RAW_SUM} {o} {n}").strip(), k
    m = json.loads(g.check(f"{K} map-read {MNT} {MNT}/three"))
    assert m["pmd_faults"] == 2 and m["pte_faults"] == 511, m


def test_write_and_read_through_the_module(dd):
    g = dd.g
    f = f"{MNT}/jobs/a"
    out = g.check(f"dd if=/dev/urandom of=/tmp/r bs=64K count=20 status=none && "
                  f"dd if=/tmp/r of={f} bs=64K seek=3 conv=notrunc status=none && "
                  f"dd if={f} bs=64K skip=3 count=20 status=none | cmp - /tmp/r "
                  "&& echo same")
    assert "same" in out
    # write() then a mapping sees it, and the device holds it
    sums = g.check(f"dd if={f} bs=64K skip=3 count=20 status=none | sha256sum; "
                   f"sha256sum < /tmp/r").split()
    assert sums[0] == sums[2]
    # A private mapping's writes (the first access a write: the COW fault
    # path) stay private; the pool keeps the bytes write() put there.
    out = g.check("python3 -c 'import mmap,os,sys\n"
                  "fd=os.open(sys.argv[1],os.O_RDONLY); b=os.pread(fd,8,3<<16)\n"
                  "m=mmap.mmap(fd,4<<20,mmap.MAP_PRIVATE,mmap.PROT_READ|mmap.PROT_WRITE)\n"
                  "m[3<<16:(3<<16)+8]=b\"XXXXXXXX\"; m[(2<<20)+8]=1\n"
                  "print(m[3<<16:(3<<16)+8]==b\"XXXXXXXX\", os.pread(fd,8,3<<16)==b)'"
                  f" {f}")
    assert out.split() == ["True", "True"], out
    r = g.run(f"dd if=/tmp/r of={f} bs=1M seek=8 count=1 conv=notrunc status=none")
    assert r.rc != 0 and "File too large" in r.err, r      # sizes are the log's
    r = g.run(f"head -c 100 /tmp/r >> {f}")
    assert r.rc != 0, r


def test_second_mount_shares_the_superblock_and_bad_sources_are_refused(dd):
    g = dd.g
    g.check(f"mkdir -p /tmp/m2 && mount -t famfsd {DAX} /tmp/m2 && "
            "test -e /tmp/m2/jobs/a && test -e /tmp/m2/three && umount /tmp/m2")
    r = g.run("mount -t famfsd /dev/null /tmp/m2")
    assert r.rc != 0, r
    assert "not a device-dax" in g.dmesg().splitlines()[-1], g.dmesg()[-400:]


# A guest-side holder: maps FILE, pread works, signals "ready", waits for
# the go file, then pread (prints its error) and touches the mapping
# (SIGBUS kills it: exit status 135 from the shell).
HOLDER = ("python3 -c 'import mmap,os,sys,time\n"
          "fd=os.open(sys.argv[1],os.O_RDONLY); m=mmap.mmap(fd,4096,mmap.MAP_SHARED,"
          "mmap.PROT_READ)\n"
          "assert m[0:8]==os.pread(fd,8,0); print(\"ready\",flush=True)\n"
          "while not os.path.exists(sys.argv[2]): time.sleep(0.05)\n"
          "try: os.pread(fd,8,0)\n"
          "except OSError as e: print(\"pread\",e.errno,flush=True)\n"
          "m[0]\n"
          "print(\"no SIGBUS\",flush=True)'")


def test_delete_and_revoke_of_a_mapped_file(dd):
    """DELETE, OPEN_INOS and REVOKE on a devdax mount: the deleted file
    lives on for its holder until revoked, then its mapping faults SIGBUS
    and its read() gets EIO."""
    g = dd.g
    ino = (1 << 40) + 1
    g.check(f"{K} create {MNT} {ino} 1 rv {2 * MiB} {dd.top(16)}:{2 * MiB}")
    g.check(f"rm -f /tmp/go; ({HOLDER} {MNT}/rv /tmp/go > /tmp/rv.out 2>&1; "
            "echo $? > /tmp/rv.rc) & ")
    dd.wait("grep -q ready /tmp/rv.out", "the holder")
    assert '"errno": 0' in g.run(f"{K} delete {MNT} {ino} 1 rv").out
    assert str(ino) in g.check(f"{K} open-inos {MNT}")
    assert '"errno": 0' in g.run(f"{K} revoke {MNT} {ino}").out
    assert str(ino) not in g.check(f"{K} open-inos {MNT}")
    g.check("touch /tmp/go")
    dd.wait("test -e /tmp/rv.rc", "the holder to finish")
    out = g.check("cat /tmp/rv.out /tmp/rv.rc")
    assert "pread 5" in out and out.split()[-1] == "135", out   # EIO, SIGBUS
    assert not dd.info()["flags"] & 1                           # not fenced


def stop_daemons(dd):
    g = dd.g
    g.check("kill -TERM $(cat /tmp/master.pid)")
    dd.wait("! kill -0 $(cat /tmp/master.pid) 2>/dev/null", "the master to stop")
    g.check("kill -TERM $(cat /tmp/agent.pid)")
    dd.wait("! kill -0 $(cat /tmp/agent.pid) 2>/dev/null", "the agent to stop")
    dd.wait(f"! grep -q ' {MNT} ' /proc/mounts", "the mount to go")
    dd.wait("rmmod famfsd 2>/dev/null", "rmmod")


def test_unbind_fences_the_mount_then_rebind_keeps_the_data(dd):
    g = dd.g
    stop_daemons(dd)
    off = dd.top(8)
    g.check(f"insmod {KO} && mkdir -p /tmp/m && mount -t famfsd {DAX} /tmp/m")
    g.check(f"{K} create /tmp/m 5 1 u {8 * MiB} {off}:{8 * MiB}")
    g.check(f"{K} fill /tmp/m/u 0 {8 * MiB} 777")
    g.check(f"rm -f /tmp/go; ({HOLDER} /tmp/m/u /tmp/go > /tmp/holder.out 2>&1; "
            "echo $? > /tmp/holder.rc) & ")
    dd.wait("grep -q ready /tmp/holder.out", "the holder")
    g.check("echo dax0.0 > /sys/bus/dax/drivers/device_dax/unbind")
    assert "the device is being unbound from its driver: mount fenced" in g.dmesg()
    assert dd.info("/tmp/m")["flags"] & 1                    # fenced
    g.check("touch /tmp/go")
    dd.wait("test -e /tmp/holder.rc", "the holder to finish")
    out = g.check("cat /tmp/holder.out /tmp/holder.rc")
    assert "pread 5" in out, out                             # EIO
    assert out.split()[-1] == "135", out                     # SIGBUS
    r = g.run("cat /tmp/m/u > /dev/null")
    assert r.rc != 0 and "Input/output error" in r.err, r
    g.check("umount /tmp/m && rmmod famfsd")
    g.check("echo dax0.0 > /sys/bus/dax/drivers/device_dax/bind && test -c /dev/dax0.0")
    g.check(f"insmod {KO} && mount -t famfsd {DAX} /tmp/m")
    g.check(f"{K} create /tmp/m 5 1 u {8 * MiB} {off}:{8 * MiB}")
    out = g.check(f"{K} check /tmp/m/u 0 {8 * MiB} 777")
    assert '"bad_words_mmap": 0' in out and '"bad_words_read": 0' in out, out
    # A mount of an unbound device is refused with the reason.
    g.check("umount /tmp/m && echo dax0.0 > /sys/bus/dax/drivers/device_dax/unbind")
    r = g.run(f"mount -t famfsd {DAX} /tmp/m")
    assert r.rc != 0, r
    assert f"mount of {DAX} refused" in g.dmesg().splitlines()[-1], g.dmesg()[-400:]
    g.check("echo dax0.0 > /sys/bus/dax/drivers/device_dax/bind && test -c /dev/dax0.0")


def test_memory_failure_signals_the_mapper_and_fences(dd):
    g = dd.g
    off = dd.top(10)
    g.check(f"mount -t famfsd {DAX} /tmp/m")
    g.check(f"{K} create /tmp/m 6 1 p {4 * MiB} {off}:{4 * MiB}")
    r = g.run(f"{K} poison-signal /tmp/m/p 3")
    assert r.rc == 0, r
    out = json.loads(r.out)
    assert out["si_code"] == 5, out                           # BUS_MCEERR_AO
    log = g.dmesg()
    assert f"memory failure at device offset {off + 3 * 4096}" in log, log[-2000:]
    assert "SIGBUS sent to kmodtool" in log, log[-2000:]
    assert "recovery action for dax page: Recovered" in log, log[-2000:]
    assert dd.info("/tmp/m")["flags"] & 1                     # fenced
    r = g.run(f"{K} mkdir /tmp/m 1000 1 after")
    assert '"errno": 5,' in r.out, r                          # EIO
    g.check("umount /tmp/m && rmmod famfsd && echo alive")


def test_umount_and_rmmod_with_files_open_and_mapped(dd):
    g = dd.g
    off = dd.top(14)
    for i in range(2):
        g.check(f"insmod {KO} && mount -t famfsd {DAX} /tmp/m && "
                f"{K} create /tmp/m 7 1 h {2 * MiB} {off}:{2 * MiB}")
        g.check(f"{K} hold /tmp/m/h 600 > /tmp/h{i}.out 2>&1 & echo $! > /tmp/h{i}.pid")
        dd.wait(f"grep -q held /tmp/h{i}.out", "the holder")
        assert g.run("umount /tmp/m").rc != 0                 # busy
        g.check("umount -l /tmp/m")                           # detached, alive
        assert g.run("rmmod famfsd").rc != 0
        g.check(f"kill $(cat /tmp/h{i}.pid)")
        dd.wait("rmmod famfsd 2>/dev/null", "rmmod")
    assert g.run("grep -q '^famfsd ' /proc/modules").rc != 0
