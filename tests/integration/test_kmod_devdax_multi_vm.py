"""Two QEMU guests share one nvdimm namespace in devdax mode (/dev/dax0.0 in
each, over the same host file), the real CXL case: the pool is found by
its UUID, the master in vm1 maps the devdax directly, and each guest's
agent runs with the default --backend auto.

Layout (tests/integration/vm/vm.py has the machinery):
  vm1  famfsd master --pool-uuid U (on /dev/dax0.0), API forwarded to
       127.0.0.1:PORT on the host; agent --pool-uuid U
  vm2  agent --pool-uuid U, heartbeats to the master at 10.0.2.2:PORT

First without the module (auto picks FUSE, files written in one guest are
read in the other), then with famfsd.ko loaded in both (auto picks the
module, which mounts the devdax): files created through the API in vm1,
written through mmap there, read through mmap and read() in vm2; PMD
fault counts; a file of three extents read and written across its extent
boundaries from both guests; umount and rmmod cycles with files open and
mapped. The single-guest details of the module on devdax (unbind,
HWPOISON) are test_kmod_devdax_vm.py's.

Every test ends by reading both guests' kernel logs (they boot with
panic_on_warn=1): a WARNING, BUG or oops fails the test that caused it.
The guests boot once for the whole file.
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
POOL_SIZE = 512 * MiB
MNT = "/tmp/famfs"
DEV = "/dev/dax0.0"
# What the guests run: copies made by the fixture (vm.Snapshot).
K = KO = D = CTL = None


class Cluster:
    def __init__(self, work):
        self.work = work
        self.port = free_port()
        pool = os.path.join(work, "pool")
        with open(pool, "w") as f:
            f.truncate(POOL_SIZE)
        self.vm1 = vm.Guest("vm1", work, pool, POOL_SIZE,
                            hostfwd=[(self.port, 7470)])
        self.vm2 = vm.Guest("vm2", work, pool, POOL_SIZE)
        self.guests = (self.vm1, self.vm2)
        self.api = None
        self.pool = self.dax_size = None
        self.times = {}

    def start(self, ver):
        t0 = time.monotonic()
        for g in self.guests:
            g.start(ver)
        for g in self.guests:
            g.wait_ready()
        self.times["boot"] = time.monotonic() - t0
        self.pool, self.dax_size = vm.setup_shared_devdax(self.guests, CTL)
        for g in self.guests:
            write_tokens(os.path.join(g.xchg, "tokens"))
            with open(os.path.join(g.xchg, "agent.token"), "w") as f:
                f.write(AGENT_TOKEN + "\n")
        self.vm1.check(f"cd /tmp && nohup {D} master --pool-uuid "
                       f"{self.uuid} --listen 0.0.0.0:7470 --tokens "
                       "/tmp/x/tokens --reclaim-grace-ms 0 "
                       "> /tmp/x/master.log 2>&1 &")
        self.wait_healthz()
        self.api = ApiClient(f"http://127.0.0.1:{self.port}", ADMIN_TOKEN)
        self.times["ready"] = time.monotonic() - t0

    @property
    def uuid(self):
        return self.pool["pool_uuid"]

    def master_url(self, g):
        return ("http://127.0.0.1:7470" if g is self.vm1 else
                f"http://10.0.2.2:{self.port}")

    def start_agents(self, guests, pre=""):
        """An agent in each guest (after the shell command pre), all
        started before any is waited for: the default back-end, the pool
        by UUID, its log in /tmp/x/agent.log (truncated). Returns the logs."""
        for g in guests:
            g.check(f"{pre or 'true'} && mkdir -p {MNT} && cd /tmp && nohup "
                    f"{D} agent --pool-uuid {self.uuid} --mount {MNT} --master "
                    f"{self.master_url(g)} --token-file /tmp/x/agent.token "
                    f"--agent-id {g.name} --poll-ms 20 > /tmp/x/agent.log 2>&1 & "
                    "echo $! > /tmp/agent.pid")
        logs = []
        for g in guests:
            self.wait_guest(g, f"grep -q 'mounted at {MNT}' /tmp/x/agent.log || "
                            "! kill -0 $(cat /tmp/agent.pid) 2>/dev/null",
                            "the agent's mount", 60)
            log = self.log(g, "agent.log")
            if f"mounted at {MNT}" not in log:
                pytest.fail(f"{g.name}: the agent exited:\n{log}\n--- dmesg\n"
                            + g.dmesg()[-1500:])
            logs.append(log)
        return logs

    def stop_agent(self, g):
        g.check("kill -TERM $(cat /tmp/agent.pid)")
        self.wait_stopped(g)

    def wait_stopped(self, g):
        self.wait_guest(g, "! kill -0 $(cat /tmp/agent.pid) 2>/dev/null",
                        "the agent to stop")
        assert g.run(f"grep -q ' {MNT} ' /proc/mounts").rc != 0

    def wait_healthz(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                url = f"http://127.0.0.1:{self.port}/healthz"
                if requests.get(url, timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        pytest.fail("master in vm1 did not answer /healthz:\n" +
                    self.log(self.vm1, "master.log"))

    def wait_guest(self, g, cond, what, timeout=20):
        """Polls a shell condition inside the guest (one round trip) until
        the guest's clock says timeout seconds passed."""
        r = g.run(f"end=$(($(date +%s) + {timeout})); until {cond}; do "
                  f"[ $(date +%s) -ge $end ] && exit 1; sleep 0.02; done",
                  timeout=timeout + 60)
        if r.rc != 0:
            pytest.fail(f"{g.name}: timed out waiting for {what}\n--- agent.log\n"
                        f"{self.log(g, 'agent.log')}")

    def wait_reclaimed(self, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.api.get("/v1/pool", expect=200).json()["pending_reclaim_bytes"]:
                return
            time.sleep(0.1)
        pytest.fail("deleted files were not reclaimed")

    @staticmethod
    def log(g, name):
        return read_log(os.path.join(g.xchg, name))

    def stop(self):
        for g in self.guests:
            g.stop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    ver, snap = vm_ready(vm)
    global K, KO, D, CTL
    K, KO, D, CTL = snap.kmodtool, snap.ko, snap.famfsd, snap.famfsctl
    c = Cluster(str(tmp_path_factory.mktemp("devdaxvm")))
    t0 = time.monotonic()
    try:
        c.start(ver)
        yield c
    finally:
        c.stop()
        snap.close()
        print(f"\ndevdax vms: boot {c.times.get('boot', 0):.1f}s, ready "
              f"{c.times.get('ready', 0):.1f}s, total {time.monotonic() - t0:.1f}s")


@pytest.fixture(autouse=True)
def clean_kernel_logs(request):
    """After each test: no WARNING/BUG/oops/sanitizer line in either guest."""
    yield
    c = request.getfixturevalue("cluster")
    bad = {g.name: g.kernel_problems() for g in c.guests}
    bad = {k: v for k, v in bad.items() if v}
    assert not bad, f"guest kernel log problems: {bad}"


def info(g, path=MNT):
    return json.loads(g.check(f"{K} info {path}"))


def extents(api, path):
    return [(e["offset"], e["length"]) for e in
            api.get(f"/v1/files/{path}", expect=200).json()["extents"]]


def test_both_guests_see_one_pool_on_the_devdax(cluster):
    assert cluster.dax_size > 400 * MiB
    assert cluster.pool["data_offset"] % (2 * MiB) == 0
    assert f"pool {cluster.uuid} is {DEV}" in cluster.log(cluster.vm1, "master.log")
    assert cluster.api.get("/v1/pool", expect=200).json()["uuid"] == cluster.uuid
    for g in cluster.guests:
        assert g.check("cat /sys/bus/dax/devices/dax0.0/align").strip() == str(2 * MiB)


def test_without_the_module_auto_is_fuse(cluster):
    """No famfsd.ko in either guest: the default back-end is FUSE on the
    devdax, and a file written in vm1 reads the same in vm2."""
    api = cluster.api
    logs = cluster.start_agents(cluster.guests,
                                "! [ -e /sys/module/famfsd ] && modprobe fuse")
    for g, log in zip(cluster.guests, logs):
        assert ("back-end fuse (--backend auto: the famfsd kernel module is "
                "not loaded)") in log, log
        assert f"pool {cluster.uuid} is {DEV}" in log, log
        assert g.run(f"grep -q ' {MNT} fuse' /proc/mounts").rc == 0
    api.put("/v1/files/viafuse", json={"size": 4 * MiB, "mode": 0o666}, expect=201)
    for g in cluster.guests:
        cluster.wait_guest(g, f"[ -e {MNT}/viafuse ]", "viafuse")
    want = cluster.vm1.check(
        f"dd if=/dev/urandom of={MNT}/viafuse bs=1M count=4 conv=notrunc,fsync "
        f"status=none && sha256sum < {MNT}/viafuse")
    assert cluster.vm2.check(f"sha256sum < {MNT}/viafuse") == want
    for g in cluster.guests:
        g.check("kill -TERM $(cat /tmp/agent.pid)")
    for g in cluster.guests:
        cluster.wait_stopped(g)


def test_with_the_module_auto_is_kmod_on_the_devdax(cluster):
    logs = cluster.start_agents(cluster.guests, f"insmod {KO}")
    for g, log in zip(cluster.guests, logs):
        assert ("back-end kmod (--backend auto: the famfsd kernel module is "
                "loaded and the pool is a dax device)") in log, log
        assert f"pool {cluster.uuid} is {DEV}" in log, log
        assert "kernel module, DAX" in log, log
        assert g.check(f"grep ' {MNT} ' /proc/mounts").split()[:3] == \
            [DEV, MNT, "famfsd"]
        i = info(g)
        assert i["alloc_unit"] == 2 * MiB
        assert i["data_offset"] == cluster.pool["data_offset"]
        stat = g.check(f"stat -f -c '%t %S' {MNT}").split()
        assert stat == ["46414d44", str(2 * MiB)]
        # The file FUSE wrote: the same bytes through the module.
        cluster.wait_guest(g, f"[ -e {MNT}/viafuse ]", "viafuse")
    sums = {g.name: g.check(f"sha256sum < {MNT}/viafuse") for g in cluster.guests}
    assert len(set(sums.values())) == 1, sums


def test_created_in_vm1_mmap_written_there_read_in_vm2(cluster):
    api = cluster.api
    api.put("/v1/dirs/jobs", json={"mode": 0o755}, expect=201)
    api.put("/v1/files/jobs/a", json={"size": 8 * MiB, "mode": 0o666}, expect=201)
    api.put("/v1/files/jobs/small", json={"size": 5000, "mode": 0o666}, expect=201)
    for g in cluster.guests:
        cluster.wait_guest(g, f"[ -e {MNT}/jobs/small ]", "jobs/small")
    cluster.vm1.check(f"{K} fill {MNT}/jobs/a 0 {8 * MiB} 4321")
    out = cluster.vm2.check(f"{K} check {MNT}/jobs/a 0 {8 * MiB} 4321")
    assert '"bad_words_mmap": 0' in out and '"bad_words_read": 0' in out, out
    # write() in vm2, read() and mmap in vm1.
    want = cluster.vm2.check(
        f"dd if=/dev/urandom of={MNT}/jobs/small bs=5000 count=1 conv=notrunc "
        f"status=none && sha256sum < {MNT}/jobs/small")
    assert cluster.vm1.check(f"sha256sum < {MNT}/jobs/small") == want
    assert cluster.vm1.check(
        f"python3 -c 'import mmap,sys,hashlib; f=open(sys.argv[1],\"rb\"); "
        f"print(hashlib.sha256(mmap.mmap(f.fileno(),0,prot=mmap.PROT_READ)[:])"
        f".hexdigest(), \" -\")' {MNT}/jobs/small").split()[0] == want.split()[0]


def test_aligned_mappings_are_pmd_faults(cluster):
    for g in cluster.guests:
        out = json.loads(g.check(f"{K} map-read {MNT} {MNT}/jobs/a"))
        assert out["addr_2m_aligned"], out
        assert out["pmd_faults"] == 4, out            # 8 MiB = 4 x 2 MiB
        assert out["pte_faults"] == 0 and out["pmd_fallbacks"] == 0, out


def test_file_of_three_extents_across_guests(cluster):
    """Holes left by deletes make the master give a file three extents;
    bytes written across each boundary in one guest read the same in the
    other, through mmap and read(), and each 2 MiB piece is a PMD fault."""
    api = cluster.api
    for name in ("h1", "k1", "h2", "k2"):
        api.put(f"/v1/files/{name}", json={"size": 4 * MiB}, expect=201)
    free = api.get("/v1/pool", expect=200).json()["free_bytes"]
    api.put("/v1/files/filler", json={"size": free - 6 * MiB}, expect=201)
    api.delete("/v1/files/h1", expect=200)
    api.delete("/v1/files/h2", expect=200)
    cluster.wait_reclaimed()
    size = 14 * MiB
    api.put("/v1/files/multi", json={"size": size, "mode": 0o666}, expect=201)
    ext = extents(api, "multi")
    assert len(ext) == 3 and sum(n for _, n in ext) == size, ext
    for g in cluster.guests:
        cluster.wait_guest(g, f"[ -e {MNT}/multi ]", "multi")
    a, b = ext[0][1], ext[0][1] + ext[1][1]          # the two boundaries
    cluster.vm1.check(f"{K} fill {MNT}/multi 0 {size} 77")
    out = cluster.vm2.check(f"{K} check {MNT}/multi 0 {size} 77")
    assert '"bad_words_mmap": 0' in out and '"bad_words_read": 0' in out, out
    # write() across both boundaries in vm2, read() in vm1.
    want = cluster.vm2.check(
        f"dd if=/dev/urandom of={MNT}/multi bs=1M seek={a // MiB - 1} count=2 "
        f"conv=notrunc status=none && dd if=/dev/urandom of={MNT}/multi bs=1M "
        f"seek={b // MiB - 1} count=2 conv=notrunc status=none && "
        f"sha256sum < {MNT}/multi")
    assert cluster.vm1.check(f"sha256sum < {MNT}/multi") == want
    out = json.loads(cluster.vm2.check(f"{K} map-read {MNT} {MNT}/multi"))
    assert out["pmd_faults"] == size // (2 * MiB), out
    assert out["pte_faults"] == 0 and out["pmd_fallbacks"] == 0, out
    for name in ("filler", "k1", "k2", "multi"):
        api.delete(f"/v1/files/{name}", expect=200)
    cluster.wait_reclaimed()


def test_umount_and_rmmod_cycles_with_open_and_mapped_files(cluster):
    """vm2: the agent stops with a file held open and mapped (the mount
    is detached and lives on, rmmod is refused), then the devdax is mounted
    by hand twice, each time with a meta file and a file held open
    and mapped: umount is refused while they are, and works, as does
    rmmod, once they close. vm1 goes on serving meanwhile."""
    g, api = cluster.vm2, cluster.api
    g.check(f"{K} hold {MNT}/jobs/a 600 > /tmp/hold.out 2>&1 & "
            "echo $! > /tmp/hold.pid")
    cluster.wait_guest(g, "grep -q held /tmp/hold.out", "the holder")
    cluster.stop_agent(g)
    assert "still open" in cluster.log(g, "agent.log")
    assert g.run("rmmod famfsd").rc != 0            # the detached mount lives
    out = g.check(f"{K} check /proc/$(cat /tmp/hold.pid)/fd/3 0 {8 * MiB} 4321")
    assert '"bad_words_read": 0' in out, out
    g.check("kill $(cat /tmp/hold.pid)")
    cluster.wait_guest(g, "rmmod famfsd 2>/dev/null", "rmmod")
    # A file of the hand-made mount over jobs/a's first 2 MiB (its bytes).
    off = extents(api, "jobs/a")[0][0]
    for i in range(2):
        g.check(f"insmod {KO} && mkdir -p /tmp/m2 && "
                f"mount -t famfsd {DEV} /tmp/m2 && "
                f"{K} create /tmp/m2 {100 + i} 1 a {2 * MiB} {off}:{2 * MiB}")
        out = g.check(f"{K} check /tmp/m2/a 0 {2 * MiB} 4321")
        assert '"bad_words_mmap": 0' in out, out
        g.check(f"{K} hold /tmp/m2/a 600 > /tmp/h{i}.out 2>&1 & "
                f"echo $! > /tmp/h{i}.pid; {K} hold /tmp/m2/.famfsd/pool 600 "
                f"> /tmp/l{i}.out 2>&1 & echo $! > /tmp/l{i}.pid")
        cluster.wait_guest(g, f"grep -q held /tmp/h{i}.out && "
                           f"grep -q held /tmp/l{i}.out", "the holders")
        assert g.run("umount /tmp/m2").rc != 0      # busy: files are open
        assert g.run("rmmod famfsd").rc != 0
        g.check(f"kill $(cat /tmp/h{i}.pid) $(cat /tmp/l{i}.pid)")
        cluster.wait_guest(g, "umount /tmp/m2 2>/dev/null", "umount")
        g.check("rmmod famfsd")
    assert g.run("grep -q '^famfsd ' /proc/modules").rc != 0
    # vm1 served on throughout; vm2 comes back with its agent.
    api.put("/v1/files/after_cycles", json={"size": 4096}, expect=201)
    log, = cluster.start_agents([g], f"insmod {KO}")
    assert "back-end kmod" in log, log
    cluster.wait_guest(g, f"[ -e {MNT}/after_cycles ]", "after_cycles")
    out = g.check(f"{K} check {MNT}/jobs/a 0 {8 * MiB} 4321")
    assert '"bad_words_mmap": 0' in out and '"bad_words_read": 0' in out, out
    assert g.check(f"ls -aR {MNT}") == cluster.vm1.check(f"ls -aR {MNT}")
