"""CXL and dax discovery on emulated hardware (QEMU 7.2, Debian's 6.1).

Two guests boot side by side:
  cxl1  q35 with a CXL type-3 pmem device behind two root ports
        (vm/cxlvm.py); the test creates a region and a devdax namespace on
        it, checks `famfsctl devices --json` against sysfs, formats a pool
        on /dev/dax0.0 (log 1 MiB: CXL memory is emulated MMIO, slow) and
        finds it again by pool UUID: famfsd master and a FUSE agent both
        start with --pool-uuid, and the agent's report reaches the
        master's GET /v1/devices. Then with famfsd.ko loaded the default
        back-end (auto) mounts dax0.0 through the module: a file created
        through the API, written and read through mmap and read(), the
        same bytes as the raw devdax's, PMD faults, a clean stop and rmmod
        with the file mapped.
  nv1   an nvdimm (vm/vm.py, as the kernel module tests boot): an fsdax
        namespace (misaligned, then 2 MiB) as a pool candidate with the
        pool found on it, then devdax, system-ram and back with
        `famfsctl devices prepare`.

Every test ends by reading the guests' kernel logs (WARNING, BUG, oops).
"""

import json
import os
import shutil
import sys
import time

import pytest
import requests

from conftest import (ADMIN_TOKEN, AGENT_TOKEN, FAMFSCTL, FAMFSD, SPEC_PATH,
                      ApiClient, Spec, free_port, read_log, require,
                      write_tokens)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "vm"))
import cxlvm  # noqa: E402
import vm  # noqa: E402

MiB = 1 << 20
CXL_SIZE = 256 * MiB
NV_SIZE = 256 * MiB
SPEC = Spec(SPEC_PATH)
# The guests run copies (vm.Snapshot), set by the fixture: a rebuild on the
# host mid-run cannot reach them.
CTL = FAMFSCTL
DAEMON = FAMFSD
KO = K = None


def missing():
    out = vm.missing()
    for tool, pkg in (("cxl", "ndctl"), ("daxctl", "daxctl")):
        if not shutil.which(tool):
            out.append(f"{tool} (package {pkg})")
    return out


class Guests:
    def __init__(self, work):
        self.work = work
        self.port = free_port()
        self.cxl = cxlvm.CxlGuest("cxl1", work, os.path.join(work, "cxl.mem"),
                                  CXL_SIZE, hostfwd=[(self.port, 7470)])
        nv_pool = os.path.join(work, "nv.pool")
        with open(nv_pool, "w") as f:
            f.truncate(NV_SIZE)
        self.nv = vm.Guest("nv1", work, nv_pool, NV_SIZE)
        self.all = (self.cxl, self.nv)
        self.times = {}

    def start(self, ver):
        t0 = time.monotonic()
        self.cxl.prepare_files()
        for g in self.all:
            g.start(ver)
        for g in self.all:
            g.wait_ready()
        self.times["boot"] = time.monotonic() - t0

    def stop(self):
        for g in self.all:
            g.stop()


@pytest.fixture(scope="module")
def guests(tmp_path_factory):
    miss = missing()
    require(not miss, "the CXL VM tests need " + "; ".join(miss))
    global CTL, DAEMON, KO, K
    ver, _, _ = vm.build()
    snap = vm.Snapshot(FAMFSD, FAMFSCTL)
    CTL, DAEMON, KO, K = snap.famfsctl, snap.famfsd, snap.ko, snap.kmodtool
    g = Guests(str(tmp_path_factory.mktemp("cxlvm")))
    t0 = time.monotonic()
    try:
        g.start(ver)
        yield g
    finally:
        g.stop()
        snap.close()
        print(f"\ncxl vm: boot {g.times.get('boot', 0):.1f}s, "
              f"total {time.monotonic() - t0:.1f}s")


@pytest.fixture(autouse=True)
def clean_kernel_logs(request):
    yield
    g = request.getfixturevalue("guests")
    bad = {x.name: x.kernel_problems() for x in g.all if x.alive()}
    bad = {k: v for k, v in bad.items() if v}
    assert not bad, f"guest kernel log problems: {bad}"


def devices(g):
    inv = json.loads(g.check(f"{CTL} devices --json"))
    SPEC.validate_component(inv, "DeviceInventory")
    return inv


def sysfs(g, paths):
    """{path: stripped content} of sysfs attributes, read in one round trip."""
    script = "".join(f"printf '%s\\0' \"$(cat {p} 2>/dev/null)\"\n" for p in paths)
    vals = g.check(script).split("\0")
    return dict(zip(paths, vals))


def only(items, **match):
    found = [x for x in items if all(x.get(k) == v for k, v in match.items())]
    assert len(found) == 1, (match, items)
    return found[0]


# ---- the CXL guest -----------------------------------------------------------

def test_cxl_region_and_devdax_seen_as_sysfs_says(guests):
    g = guests.cxl
    g.check(cxlvm.sh_load_cxl(), timeout=60)
    # Before the region: the memdev, no region, no dax device.
    inv = devices(g)
    mem = only(inv["memdevs"], memdev="mem0")
    assert mem["pmem_size"] == CXL_SIZE and mem["regions"] == []
    assert inv["regions"] == [] and inv["dax_devices"] == []
    g.check(cxlvm.sh_create_region(), timeout=120)
    inv = devices(g)
    M = "/sys/bus/cxl/devices/mem0"
    R = "/sys/bus/cxl/devices/region0"
    D = "/sys/bus/dax/devices/dax0.0"
    s = sysfs(g, [f"{M}/serial", f"{M}/pmem/size", f"{M}/ram/size",
                  f"{M}/numa_node", f"{R}/uuid", f"{R}/size", f"{R}/resource",
                  f"{R}/interleave_ways", f"{R}/interleave_granularity",
                  f"{R}/commit", f"{D}/size", f"{D}/align", f"{D}/target_node",
                  f"{D}/resource"])
    mem = only(inv["memdevs"], memdev="mem0")
    assert mem["serial"] == int(s[f"{M}/serial"], 0)
    assert mem["pmem_size"] == int(s[f"{M}/pmem/size"], 0)
    assert mem["ram_size"] == int(s[f"{M}/ram/size"], 0)
    if s[f"{M}/numa_node"] not in ("", "-1"):
        assert mem["numa_node"] == int(s[f"{M}/numa_node"])
    assert mem["regions"] == ["region0"]
    reg = only(inv["regions"], region="region0")
    assert reg["uuid"] == s[f"{R}/uuid"]
    assert reg["size"] == int(s[f"{R}/size"], 0)
    assert reg["resource"] == int(s[f"{R}/resource"], 0)
    assert reg["interleave_ways"] == int(s[f"{R}/interleave_ways"]) == 1
    assert reg["interleave_granularity"] == int(s[f"{R}/interleave_granularity"]) == 256
    assert reg["decode_state"] == "commit" and s[f"{R}/commit"] == "1"
    assert reg["type"] == "pmem"
    assert reg["mappings"] == [{"position": 0, "memdev": "mem0",
                                "decoder": reg["mappings"][0]["decoder"]}]
    ns = only(inv["namespaces"], mode="devdax")
    assert ns["chardev"] == "dax0.0" and ns["region"] == "region0"
    dax = only(inv["dax_devices"], chardev="dax0.0")
    assert dax["size"] == int(s[f"{D}/size"], 0)
    assert dax["align"] == int(s[f"{D}/align"], 0) == 2 * MiB
    assert dax["target_node"] == int(s[f"{D}/target_node"])
    assert dax["mode"] == "devdax" and dax["path"] == "/dev/dax0.0"
    # memdev -> region -> dax device, by address as well as by name.
    start = int(s[f"{D}/resource"], 0)
    assert reg["resource"] <= start < reg["resource"] + reg["size"]
    assert dax["region"] == "region0" and dax["memdevs"] == ["mem0"]
    assert only(inv["dax_regions"], id=dax["dax_region"])["devices"] == ["dax0.0"]
    assert dax["pool_capable"] and dax["problems"] == []
    assert "pool_uuid" not in dax
    text = g.check(f"{CTL} devices")
    assert "region0 <- mem0" in text and "can hold a pool" in text


def test_cxl_pool_found_by_uuid(guests):
    g = guests.cxl
    out = json.loads(g.check(f"{CTL} --json mkfs /dev/dax0.0 --log-size 1M",
                             timeout=120))
    uuid = out["pool_uuid"]
    dax = only(devices(g)["dax_devices"], chardev="dax0.0")
    assert dax["pool_uuid"] == uuid and dax["pool_capable"]
    # Held open: in use, and still found.
    r = g.run(f"exec 3</dev/dax0.0; {CTL} devices --json")
    held = only(json.loads(r.out)["dax_devices"], chardev="dax0.0")
    assert not held["pool_capable"] and held["pool_uuid"] == uuid
    assert [p["code"] for p in held["problems"]] == ["in-use"]
    assert "sh[" in held["problems"][0]["message"]
    # The roles take the pool by UUID.
    write_tokens(os.path.join(g.xchg, "tokens"))
    with open(os.path.join(g.xchg, "agent.token"), "w") as f:
        f.write(AGENT_TOKEN + "\n")
    g.check(f"cd /tmp && nohup {DAEMON} master --pool-uuid {uuid} --listen "
            "0.0.0.0:7470 --tokens /tmp/x/tokens > /tmp/x/master.log 2>&1 &")
    api = ApiClient(f"http://127.0.0.1:{guests.port}", ADMIN_TOKEN)
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(f"{api.base}/healthz", timeout=2).status_code == 200:
                break
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            pytest.fail("master in cxl1 did not start:\n" + log(g, "master.log"))
        time.sleep(0.2)
    assert f"pool {uuid} is /dev/dax0.0" in log(g, "master.log")
    assert api.get("/v1/pool", expect=200).json()["uuid"] == uuid
    g.check("modprobe fuse && mkdir -p /tmp/mnt && cd /tmp && nohup "
            f"{DAEMON} agent --pool-uuid {uuid} --mount /tmp/mnt --master "
            "http://127.0.0.1:7470 --token-file /tmp/x/agent.token --agent-id "
            "cxl1 > /tmp/x/agent.log 2>&1 &")
    deadline = time.monotonic() + 60
    while True:
        hosts = api.get("/v1/devices", expect=200).json()["hosts"]
        if hosts and "devices" in hosts[0]:
            break
        if time.monotonic() > deadline:
            pytest.fail("no device report from cxl1's agent:\n" +
                        log(g, "agent.log"))
        time.sleep(0.2)
    assert f"pool {uuid} is /dev/dax0.0" in log(g, "agent.log")
    # No famfsd.ko loaded yet: the default back-end is FUSE.
    assert ("back-end fuse (--backend auto: the famfsd kernel module is not "
            "loaded)") in log(g, "agent.log")
    h = hosts[0]
    assert (h["agent_id"], h["host"], h["state"]) == ("cxl1", "cxl1", "live")
    seen = only(h["devices"]["dax_devices"], chardev="dax0.0")
    assert seen["pool_uuid"] == uuid and seen["memdevs"] == ["mem0"]
    assert any(p["code"] == "in-use" and "famfsd[" in p["message"]
               for p in seen["problems"])
    assert only(h["devices"]["regions"], region="region0")["interleave_ways"] == 1
    st = g.check(f"{CTL} status --url http://127.0.0.1:7470 --token {ADMIN_TOKEN}")
    assert "cxl1 (cxl1, live)" in st and f"pool {uuid}" in st
    g.check("kill $(pidof famfsd); i=0; while pidof famfsd >/dev/null; do "
            "i=$((i+1)); [ $i -gt 500 ] && exit 1; sleep 0.02; done; "
            "! grep -q ' /tmp/mnt ' /proc/mounts || umount -l /tmp/mnt", timeout=30)


def log(g, name):
    return read_log(os.path.join(g.xchg, name))


def wait_for(g, cond, what, timeout=60):
    """Polls a shell condition in the guest until the guest's clock says
    timeout seconds passed (a count of rounds runs long under TCG)."""
    r = g.run(f"end=$(($(date +%s) + {timeout})); until {cond}; do "
              f"[ $(date +%s) -ge $end ] && exit 1; sleep 0.1; done",
              timeout=timeout + 60)
    if r.rc:
        pytest.fail(f"{g.name}: timed out waiting for {what}\n--- agent.log\n"
                    + log(g, "agent.log"))


def test_cxl_devdax_through_the_module(guests):
    """famfsd.ko loaded: the master and the default back-end (auto) take
    the CXL region's dax0.0 by pool UUID, the agent through the module; a
    file created through the API is written through mmap and read back
    through mmap and read(), its 2 MiB pieces PMD faults; the agent's stop
    with the file mapped, then umount and rmmod, stay clean."""
    g = guests.cxl
    uuid = only(devices(g)["dax_devices"], chardev="dax0.0")["pool_uuid"]
    g.check(f"insmod {KO}")
    g.check(f"cd /tmp && nohup {DAEMON} master --pool-uuid {uuid} --listen "
            "0.0.0.0:7470 --tokens /tmp/x/tokens --reclaim-grace-ms 0 "
            "> /tmp/x/master2.log 2>&1 &")
    api = ApiClient(f"http://127.0.0.1:{guests.port}", ADMIN_TOKEN)
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(f"{api.base}/healthz", timeout=2).status_code == 200:
                break
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            pytest.fail("master in cxl1 did not start:\n" + log(g, "master2.log"))
        time.sleep(0.2)
    g.check("mkdir -p /tmp/kmnt && cd /tmp && nohup "
            f"{DAEMON} agent --pool-uuid {uuid} --mount /tmp/kmnt --master "
            "http://127.0.0.1:7470 --token-file /tmp/x/agent.token --agent-id "
            "cxl1k --poll-ms 20 > /tmp/x/agent.log 2>&1 & echo $! > /tmp/agent.pid")
    wait_for(g, "grep -q 'mounted at /tmp/kmnt' /tmp/x/agent.log || "
             "! kill -0 $(cat /tmp/agent.pid) 2>/dev/null", "the mount")
    text = log(g, "agent.log")
    assert "mounted at /tmp/kmnt" in text, text + "\n--- dmesg\n" + \
        g.dmesg()[-1500:]
    assert f"pool {uuid} is /dev/dax0.0" in text, text
    assert ("back-end kmod (--backend auto: the famfsd kernel module is "
            "loaded and the pool is a dax device)") in text, text
    assert g.check("grep ' /tmp/kmnt ' /proc/mounts").split()[:3] == \
        ["/dev/dax0.0", "/tmp/kmnt", "famfsd"]
    api.put("/v1/files/cxlfile", json={"size": 4 * MiB, "mode": 0o666},
            expect=201)
    wait_for(g, "[ -e /tmp/kmnt/cxlfile ]", "cxlfile")
    g.check(f"{K} fill /tmp/kmnt/cxlfile 0 {4 * MiB} 99", timeout=120)
    out = g.check(f"{K} check /tmp/kmnt/cxlfile 0 {4 * MiB} 99", timeout=120)
    assert '"bad_words_mmap": 0' in out and '"bad_words_read": 0' in out, out
    fm = json.loads(g.check(f"{K} map-read /tmp/kmnt /tmp/kmnt/cxlfile",
                            timeout=120))
    assert (fm["pmd_faults"], fm["pte_faults"], fm["pmd_fallbacks"]) == (2, 0, 0), fm
    # The bytes are the CXL device's: the raw devdax at the file's extent.
    ext = api.get("/v1/files/cxlfile", expect=200).json()["extents"]
    assert [e["length"] for e in ext] == [4 * MiB], ext
    raw = g.check("python3 -c 'import hashlib, mmap, os, sys; "
                  "fd = os.open(\"/dev/dax0.0\", os.O_RDONLY); m = mmap.mmap("
                  "fd, int(sys.argv[2]), mmap.MAP_SHARED, mmap.PROT_READ, "
                  "offset=int(sys.argv[1])); print(hashlib.sha256(m[:])"
                  f".hexdigest())' {ext[0]['offset']} {4 * MiB}", timeout=120)
    via = g.check("sha256sum < /tmp/kmnt/cxlfile", timeout=120)
    assert raw.split()[0] == via.split()[0]
    g.check(f"{K} hold /tmp/kmnt/cxlfile 600 > /tmp/hold.out 2>&1 & "
            "echo $! > /tmp/hold.pid")
    wait_for(g, "grep -q held /tmp/hold.out", "the holder")
    g.check("kill $(pidof famfsd); i=0; while pidof famfsd >/dev/null; do "
            "i=$((i+1)); [ $i -gt 500 ] && exit 1; sleep 0.02; done", timeout=30)
    assert g.run("grep -q ' /tmp/kmnt ' /proc/mounts").rc != 0   # detached
    assert g.run("rmmod famfsd").rc != 0            # the held file keeps it
    g.check("kill $(cat /tmp/hold.pid)")
    wait_for(g, "rmmod famfsd 2>/dev/null", "rmmod")


# ---- the nvdimm guest --------------------------------------------------------

def test_nvdimm_fsdax_namespace_as_candidate(guests):
    g = guests.nv
    # 4 KiB alignment: a candidate that cannot hold a pool, and says why.
    g.check("ndctl create-namespace -f -e namespace0.0 -m fsdax --map=mem "
            "--align=4K >/dev/null && test -b /dev/pmem0", timeout=60)
    ns = only(devices(g)["namespaces"], blockdev="pmem0")
    assert ns["mode"] == "fsdax" and ns["align"] == 4096
    assert [p["code"] for p in ns["problems"]] == ["align"]
    assert not ns["pool_capable"] and ns["path"] == "/dev/pmem0"
    assert "region" not in ns            # an nvdimm, no CXL region under it
    g.check(vm.sh_setup_namespace(), timeout=60)
    inv = devices(g)
    assert inv["memdevs"] == [] and inv["regions"] == []
    ns = only(inv["namespaces"], blockdev="pmem0")
    size = int(g.check("blockdev --getsize64 /dev/pmem0"))
    assert ns["size"] == size and ns["align"] == 2 * MiB
    assert ns["pool_capable"] and "pool_uuid" not in ns
    g.check(vm.sh_mkfs(CTL, log_size="1M"), timeout=60)
    ns = only(devices(g)["namespaces"], blockdev="pmem0")
    uuid = ns["pool_uuid"]
    r = g.run(f"exec 3</dev/pmem0; {CTL} devices --json")
    held = only(json.loads(r.out)["namespaces"], blockdev="pmem0")
    assert held["pool_uuid"] == uuid and not held["pool_capable"]
    assert held["problems"][0]["code"] == "in-use"
    assert "can hold a pool" in g.check(f"{CTL} devices")
    assert len(uuid) == 36


def test_nvdimm_devdax_system_ram_and_prepare(guests):
    g = guests.nv
    g.check("ndctl create-namespace -f -e namespace0.0 -m devdax --map=mem "
            "--align=2M >/dev/null && test -c /dev/dax0.0", timeout=60)
    dax = only(devices(g)["dax_devices"], chardev="dax0.0")
    assert dax["mode"] == "devdax" and dax["pool_capable"]
    assert dax["namespace"] == "namespace0.0" and dax["memdevs"] == []
    # --force: the fsdax namespace's pool may still be there at that offset.
    out = g.check(f"{CTL} --json mkfs /dev/dax0.0 --log-size 1M --force")
    uuid = json.loads(out)["pool_uuid"]
    assert only(devices(g)["dax_devices"], chardev="dax0.0")["pool_uuid"] == uuid
    # Stopped once it said where the pool is (up to 30 s: a TCG guest on a
    # busy host took more than the 2 s this once waited).
    r = g.run(f"{DAEMON} master --pool-uuid {uuid} --listen 127.0.0.1:1 "
              "--lease-seconds 2 2>/tmp/master.err & p=$!; i=0; "
              "until grep -q 'is /dev/dax0.0' /tmp/master.err || [ $i -ge 300 ]; "
              "do sleep 0.1; i=$((i+1)); done; kill $p; wait $p; "
              "cat /tmp/master.err >&2", timeout=60)
    assert f"pool {uuid} is /dev/dax0.0" in r.err, r
    # system-ram (memory offline): refused as a candidate, prepare undoes it.
    g.check("modprobe kmem && daxctl reconfigure-device -m system-ram "
            "--no-online dax0.0 >/dev/null", timeout=60)
    dax = only(devices(g)["dax_devices"], chardev="dax0.0")
    assert dax["mode"] == "system-ram" and dax["online_memblocks"] == 0
    assert [p["code"] for p in dax["problems"]] == ["system-ram"]
    assert "pool_uuid" not in dax        # not mapped while kmem holds it
    out = g.check(f"{CTL} devices prepare dax0.0")
    assert "switched from system-ram to devdax" in out
    assert only(devices(g)["dax_devices"], chardev="dax0.0")["mode"] == "devdax"
    # Online memory: refused without --offline; offlined with it.
    g.check("daxctl reconfigure-device -m system-ram dax0.0 >/dev/null",
            timeout=60)
    dax = only(devices(g)["dax_devices"], chardev="dax0.0")
    assert dax["mode"] == "system-ram" and dax["online_memblocks"] > 0
    r = g.run(f"{CTL} devices prepare /dev/dax0.0")
    assert r.rc == 1 and "online as system RAM" in r.err, r
    assert only(devices(g)["dax_devices"], chardev="dax0.0")["mode"] == "system-ram"
    r = g.run(f"{CTL} devices prepare /dev/dax0.0 --offline --json", timeout=120)
    assert r.rc == 0, r
    dax = json.loads(r.out)
    assert dax["mode"] == "devdax" and dax["pool_capable"], dax
