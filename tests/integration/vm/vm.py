"""famfsd VM harness: Debian's 6.1 kernel in QEMU (TCG) with a shared pool.

Each Guest boots /boot/vmlinuz-6.1.*-amd64 with the busybox initramfs
built by mkinitramfs.sh. Its /init mounts the host's root read-only over
virtio-9p and runs every command chrooted into it, so the guest uses the
host's ndctl and this tree's binaries (build/famfsd, build/vm/kmodtool,
kmod/famfsd.ko) at their usual paths. Commands travel through a per-guest
exchange directory (a second, writable 9p share): the host writes cmd.N,
the guest answers with out.N, err.N and rc.N.

Guests that share a pool get one nvdimm each, backed by the same host file
(memory-backend-file, share=on): the same bytes, as hosts on one CXL pool
see them. Networking is QEMU user networking: a guest may forward a host
port to a guest port (hostfwd), and every guest reaches the host as
10.0.2.2, hence any forwarded port of another guest (the master's API).

Nothing here is pytest specific: bench/kmod_bench.sh uses it too.
"""

import glob
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
VM_SRC = os.path.join(ROOT, "tests", "integration", "vm")
VM_BUILD = os.path.join(ROOT, "build", "vm")
KMOD = os.path.join(ROOT, "kmod", "famfsd.ko")
KMODTOOL = os.path.join(VM_BUILD, "kmodtool")
QEMU = "qemu-system-x86_64"

# Kernel log lines that fail a test: warnings, bugs, oopses, sanitizers.
KERNEL_PROBLEMS = re.compile(
    r"WARNING:|BUG:|kernel BUG|Oops|general protection fault|Call Trace:|"
    r"KASAN|UBSAN|Kernel panic|list_(add|del) corruption|"
    r"unable to handle|soft lockup|hung_task|rcu_sched detected stall")


class VmError(Exception):
    """The guest died, timed out, or a command failed."""


def _kernel_versions():
    """Debian 6.1 amd64 kernels with image, modules and headers, newest last."""
    found = []
    for img in glob.glob("/boot/vmlinuz-6.1.*-amd64"):
        ver = img[len("/boot/vmlinuz-"):]
        if (os.path.isdir(f"/lib/modules/{ver}/kernel") and
                os.path.isdir(f"/usr/src/linux-headers-{ver}")):
            found.append(ver)

    def key(v):
        return [int(x) if x.isdigit() else x for x in re.split(r"[.-]", v)]
    return sorted(found, key=key)


def kernel():
    """(version, vmlinuz, headers) of the kernel the tests boot, or None."""
    vers = _kernel_versions()
    if not vers:
        return None
    v = vers[-1]
    return v, f"/boot/vmlinuz-{v}", f"/usr/src/linux-headers-{v}"


def missing():
    """What this host lacks to run the VM tests, as readable strings."""
    out = []
    if not shutil.which(QEMU):
        out.append(f"{QEMU} (package qemu-system-x86)")
    if not kernel():
        out.append("a Debian 6.1 kernel with its modules and headers "
                   "(packages linux-image-amd64 and linux-headers-amd64 of "
                   "Debian 12: /boot/vmlinuz-6.1.*-amd64, /lib/modules/..., "
                   "/usr/src/linux-headers-...)")
    if not os.path.exists("/bin/busybox"):
        out.append("/bin/busybox (package busybox-static)")
    for tool in ("cc", "make", "ndctl"):
        if not shutil.which(tool):
            out.append(f"{tool} (packages build-essential, ndctl)")
    return out


def _newer(target, sources):
    if not os.path.exists(target):
        return False
    t = os.path.getmtime(target)
    return all(os.path.getmtime(s) <= t for s in sources)


def build():
    """Builds the module, the guest tool and the initramfs; returns kernel()."""
    ver, _, headers = kernel()
    os.makedirs(VM_BUILD, exist_ok=True)
    p = subprocess.run(["make", "-s", "-C", os.path.join(ROOT, "kmod"),
                        f"KDIR={headers}"], capture_output=True, text=True)
    if p.returncode:
        raise VmError(f"building kmod failed:\n{p.stdout}\n{p.stderr}")
    src = os.path.join(VM_SRC, "kmodtool.c")
    hdr = os.path.join(ROOT, "kmod", "uapi", "famfsd_kmod.h")
    if not _newer(KMODTOOL, [src, hdr]):
        subprocess.run(["cc", "-O2", "-g", "-Wall", "-Wextra", "-Werror",
                        "-D_GNU_SOURCE", "-I" + os.path.dirname(hdr), "-o",
                        KMODTOOL, src], check=True)
    initrd = initramfs_path(ver)
    srcs = [os.path.join(VM_SRC, f) for f in ("init", "mkinitramfs.sh")]
    if not _newer(initrd, srcs):
        subprocess.run([os.path.join(VM_SRC, "mkinitramfs.sh"), ver, initrd],
                       check=True)
    return ver, f"/boot/vmlinuz-{ver}", headers


class Snapshot:
    """Copies of the binaries guests run, under build/vm/run.PID.*: visible in
    the guests through the host's root, and immune to a rebuild (or make
    clean) on the host while the guests run (their 9p cache would mix old
    and new pages of a binary replaced under them). close() removes them."""

    def __init__(self, famfsd, famfsctl):
        os.makedirs(VM_BUILD, exist_ok=True)
        self.dir = tempfile.mkdtemp(prefix=f"run.{os.getpid()}.", dir=VM_BUILD)
        os.chmod(self.dir, 0o755)
        self.famfsd = self._copy(famfsd, "famfsd")
        self.famfsctl = self._copy(famfsctl, "famfsctl")
        self.kmodtool = self._copy(KMODTOOL, "kmodtool")
        self.ko = self._copy(KMOD, "famfsd.ko")

    def _copy(self, src, name):
        dst = os.path.join(self.dir, name)
        shutil.copy2(src, dst)
        return dst

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def initramfs_path(ver):
    return os.path.join(VM_BUILD, f"initramfs-{ver}.cpio.gz")


class Result:
    def __init__(self, rc, out, err):
        self.rc, self.out, self.err = rc, out, err

    def __repr__(self):
        return f"rc={self.rc}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


class Guest:
    """One QEMU guest. Call start(), then wait_ready(); stop() always."""

    def kernel_cmdline(self):
        """The guest kernel's command line: its name, where this tree is
        (init keeps a tree under /tmp visible), and the caller's extras.
        panic_on_warn=1 in every guest: a WARN in the module (or anywhere)
        ends the guest at once, and its test fails loudly with the serial
        log, instead of a warning a later check might not look for."""
        return (f"console=ttyS0 panic=-1 panic_on_warn=1 "
                f"famfsd.name={self.name} famfsd.repo={ROOT} "
                f"{self.cmdline}").strip()

    def __init__(self, name, workdir, pool, pool_size, mem="1G",
                 hostfwd=(), cmdline="", scratch_size=0):
        """pool: the shared backing file (first nvdimm, region0, /dev/pmem0);
        scratch_size: a second nvdimm of that size on a private file
        (region1, /dev/pmem1 once set up), for tests that damage a pool."""
        self.name = name
        self.dir = os.path.join(str(workdir), name)
        self.xchg = os.path.join(self.dir, "x")
        self.pool = str(pool)
        self.pool_size = pool_size
        self.mem = mem
        self.hostfwd = list(hostfwd)	# [(host_port, guest_port)]
        self.cmdline = cmdline
        self.scratch_size = scratch_size
        self.scratch = os.path.join(self.dir, "scratch")
        self.proc = None
        self.n = 0
        self.serial = os.path.join(self.dir, "serial.log")
        self.qemu_log = os.path.join(self.dir, "qemu.log")
        self.boot_seconds = None

    def argv(self, ver):
        fwd = "".join(f",hostfwd=tcp:127.0.0.1:{h}-:{g}" for h, g in self.hostfwd)
        gib = -(-(self.pool_size + self.scratch_size) // (1 << 30))
        scratch = [
            "-object", f"memory-backend-file,id=scratch,share=on,"
                       f"mem-path={self.scratch},size={self.scratch_size},align=2M",
            "-device", "nvdimm,memdev=scratch,id=nv1",
        ] if self.scratch_size else []
        return [
            QEMU, "-accel", "tcg", "-M", "pc,nvdimm=on", "-cpu", "max",
            "-smp", "1", "-m", f"{self.mem},slots=2,maxmem={gib + 4}G",
            "-kernel", f"/boot/vmlinuz-{ver}", "-initrd", initramfs_path(ver),
            "-append", self.kernel_cmdline(),
            "-object", f"memory-backend-file,id=pool,share=on,mem-path={self.pool},"
                       f"size={self.pool_size},align=2M",
            "-device", "nvdimm,memdev=pool,id=nv0",
            *scratch,
            "-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,"
                       "readonly=on,multidevs=remap",
            "-virtfs", f"local,path={self.xchg},mount_tag=xchg,"
                       "security_model=none,multidevs=remap",
            "-netdev", f"user,id=net0{fwd}",
            "-device", "virtio-net-pci,netdev=net0",
            "-display", "none", "-monitor", "none", "-no-reboot",
            "-serial", f"file:{self.serial}",
        ]

    def start(self, ver):
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.xchg)
        self.prepare_xchg()
        if self.scratch_size:
            with open(self.scratch, "w") as f:
                f.truncate(self.scratch_size)
        self.t0 = time.monotonic()
        with open(self.qemu_log, "w") as log:
            self.proc = subprocess.Popen(self.argv(ver), stdout=log, stderr=log,
                                         stdin=subprocess.DEVNULL)
        return self

    def prepare_xchg(self):
        """Hook for subclasses: files the guest reads from the exchange
        directory at boot, written after it is made, before QEMU starts."""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def _died(self, what):
        raise VmError(f"{self.name}: {what}; QEMU exit {self.proc.poll()}\n"
                      f"--- qemu\n{_tail(self.qemu_log)}\n"
                      f"--- serial (tail)\n{_tail(self.serial, 60)}")

    def wait_ready(self, timeout=120):
        deadline = time.monotonic() + timeout
        while not os.path.exists(os.path.join(self.xchg, "ready")):
            if not self.alive():
                self._died("died while booting")
            if time.monotonic() > deadline:
                self._died(f"not ready after {timeout}s")
            time.sleep(0.05)
        self.boot_seconds = time.monotonic() - self.t0
        # Every guest's WARN must end it (kernel_cmdline): checked, not assumed.
        pow_ = self.run("cat /proc/sys/kernel/panic_on_warn")
        if pow_.rc or pow_.out.strip() != "1":
            raise VmError(f"{self.name}: panic_on_warn is not 1 in the guest: {pow_!r}")
        return self

    def run(self, script, timeout=60):
        """Runs a shell script in the guest (chrooted into the host's root)."""
        self.n += 1
        n, x = self.n, self.xchg
        tmp = os.path.join(x, f"cmd.{n}.tmp")
        with open(tmp, "w") as f:
            f.write(script + "\n")
        os.rename(tmp, os.path.join(x, f"cmd.{n}"))
        rc_path = os.path.join(x, f"rc.{n}")
        deadline = time.monotonic() + timeout
        while not os.path.exists(rc_path):
            if not self.alive():
                self._died(f"died running:\n{script}")
            if time.monotonic() > deadline:
                raise VmError(f"{self.name}: no answer after {timeout}s to:\n"
                              f"{script}\n--- serial (tail)\n{_tail(self.serial)}")
            time.sleep(0.01)

        def read(name):
            with open(os.path.join(x, f"{name}.{n}"), errors="replace") as f:
                return f.read()
        return Result(int(read("rc").strip() or "-1"), read("out"), read("err"))

    def check(self, script, timeout=60):
        """run() that must succeed; returns stdout."""
        r = self.run(script, timeout)
        if r.rc != 0:
            raise VmError(f"{self.name}: command failed:\n{script}\n{r}")
        return r.out

    def dmesg(self):
        return self.run("dmesg").out

    def kernel_problems(self):
        """Lines of the kernel log (dmesg, else the serial log) that fail a test."""
        text = self.dmesg() if self.alive() else _read(self.serial)
        return [ln for ln in text.splitlines() if KERNEL_PROBLEMS.search(ln)]

    def stop(self, timeout=20):
        """Powers the guest off (after unmounting what it can), else kills it."""
        if self.proc is None:
            return
        if self.alive():
            try:
                open(os.path.join(self.xchg, "poweroff"), "w").close()
                self.proc.wait(timeout)
            except (OSError, subprocess.TimeoutExpired):
                pass
        if self.alive():
            self.proc.kill()
            self.proc.wait(10)


def _read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def _tail(path, lines=30):
    return "\n".join(_read(path).splitlines()[-lines:])


# Guest-side shell snippets the tests and the bench share.

def sh_setup_namespace(ns="namespace0.0", dev="/dev/pmem0"):
    """Converts a raw namespace to fsdax, 2 MiB aligned, its page structs
    in the guest's RAM (--map=mem): with --map=dev they would live in the
    shared pool, where every guest would overwrite the others'."""
    return (f"ndctl create-namespace -f -e {ns} -m fsdax --map=mem "
            f"--align=2M >/dev/null && test -b {dev}")


def sh_rescan_namespace():
    """A guest booted before sh_setup_namespace() ran elsewhere sees the
    namespace raw: re-probing the region finds the fsdax info block."""
    return ("ndctl disable-region region0 >/dev/null && "
            "ndctl enable-region region0 >/dev/null && "
            "ndctl list -N | grep -q '\"mode\":\"fsdax\"' && test -b /dev/pmem0")


def sh_mkfs(famfsctl, log_size="8M", dev="/dev/pmem0"):
    """Formats a pool on a pmem block device (not mounted here: famfsctl
    opens it exclusively) and prints its data offset."""
    return f"""set -e
{famfsctl} mkfs {dev} --force --log-size {log_size} >/dev/null
{famfsctl} --json info {dev} | sed -n 's/.*"data_offset": *\\([0-9]*\\).*/\\1/p'
"""


# A devdax shared by several guests (DESIGN.md, "Device-dax facts"): the
# nvdimm all of them have over the same host file, converted once to
# device-dax in one guest; the others re-probe the region to see it.

def sh_setup_devdax(ns="namespace0.0", dev="/dev/dax0.0"):
    """Converts a namespace to devdax, 2 MiB aligned, page structs in the
    guest's RAM (--map=mem, as sh_setup_namespace() says why)."""
    return (f"ndctl create-namespace -f -e {ns} -m devdax --map=mem "
            f"--align=2M >/dev/null && test -c {dev}")


def sh_rescan_devdax(region="region0", dev="/dev/dax0.0"):
    """sh_rescan_namespace() for a namespace another guest made devdax."""
    return (f"ndctl disable-region {region} >/dev/null && "
            f"ndctl enable-region {region} >/dev/null && "
            "ndctl list -N | grep -q '\"mode\":\"devdax\"' && test -c " + dev)


def setup_shared_devdax(guests, famfsctl, log_size="8M", dev="/dev/dax0.0"):
    """Makes the first guest's namespace0.0 a devdax, formats a pool on it
    and has every other guest re-probe it; checks that each guest reads the
    same pool there. Returns the pool's famfsctl info (pool_uuid,
    data_offset, ...) and the device's size in bytes."""
    first = guests[0]
    first.check(sh_setup_devdax(dev=dev), timeout=120)
    first.check(f"{famfsctl} mkfs {dev} --force --log-size {log_size} "
                ">/dev/null", timeout=120)
    for g in guests[1:]:
        g.check(sh_rescan_devdax(dev=dev), timeout=120)
    infos = [json.loads(g.check(f"{famfsctl} --json info {dev}", timeout=60))
             for g in guests]
    for g, i in zip(guests, infos):
        if (i["pool_uuid"], i["data_offset"]) != (infos[0]["pool_uuid"],
                                                  infos[0]["data_offset"]):
            raise VmError(f"{g.name} reads another pool on {dev}: {i} "
                          f"(not {infos[0]})")
    name = os.path.basename(dev)
    size = int(first.check(f"cat /sys/bus/dax/devices/{name}/size"))
    return infos[0], size
