"""A guest with an emulated CXL type-3 memory device (QEMU 7.2, q35).

It extends vm.Guest (same initramfs, same 9p command exchange, same
stop()) with the CXL topology Debian's QEMU and 6.1 kernel handle: a
pxb-cxl host bridge with TWO cxl-rp root ports (with one, writes to the
device are silently lost on 7.2/6.1), a cxl-type3 device backed by a file
(7.2 emulates persistent memory only) with a label storage area (LSA),
and one fixed memory window over the host bridge. The CXL drivers are
loaded from the guest's chroot (modprobe, see sh_load_cxl()), so the
shared initramfs does not change.

CXL memory is emulated MMIO under TCG: every access traps into QEMU.
Use it for discovery and small pools, never for speed.
"""


import vm

CXL_MODULES = ("cxl_acpi", "cxl_pci", "cxl_mem", "cxl_pmem", "kmem")


class CxlGuest(vm.Guest):
    """One q35 guest with one CXL type-3 pmem device of pool_size bytes
    backed by the file pool, and a label area of lsa_size bytes."""

    def __init__(self, name, workdir, pool, pool_size, lsa_size=1 << 20,
                 window=4 << 30, **kw):
        super().__init__(name, workdir, pool, pool_size, **kw)
        self.lsa = self.dir + ".lsa"
        self.lsa_size = lsa_size
        self.window = window

    def argv(self, ver):
        fwd = "".join(f",hostfwd=tcp:127.0.0.1:{h}-:{g}" for h, g in self.hostfwd)
        return [
            vm.QEMU, "-accel", "tcg", "-cpu", "max", "-smp", "1",
            "-M", f"q35,cxl=on,cxl-fmw.0.targets.0=cxl.1,"
                  f"cxl-fmw.0.size={self.window >> 30}G",
            "-m", self.mem,
            "-kernel", f"/boot/vmlinuz-{ver}", "-initrd", vm.initramfs_path(ver),
            "-append", self.kernel_cmdline(),
            "-object", f"memory-backend-file,id=cxl-mem0,share=on,"
                       f"mem-path={self.pool},size={self.pool_size}",
            "-object", f"memory-backend-file,id=cxl-lsa0,share=on,"
                       f"mem-path={self.lsa},size={self.lsa_size}",
            "-device", "pxb-cxl,bus_nr=12,bus=pcie.0,id=cxl.1",
            "-device", "cxl-rp,port=0,bus=cxl.1,id=rp0,chassis=0,slot=2",
            "-device", "cxl-rp,port=1,bus=cxl.1,id=rp1,chassis=0,slot=3",
            "-device", "cxl-type3,bus=rp0,memdev=cxl-mem0,lsa=cxl-lsa0,id=cxl-pmem0",
            "-fsdev", "local,id=hostroot,path=/,security_model=none,readonly=on,"
                      "multidevs=remap",
            "-device", "virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot,bus=pcie.0",
            "-fsdev", f"local,id=xchg,path={self.xchg},security_model=none,"
                      "multidevs=remap",
            "-device", "virtio-9p-pci,fsdev=xchg,mount_tag=xchg,bus=pcie.0",
            "-netdev", f"user,id=net0{fwd}",
            "-device", "virtio-net-pci,netdev=net0,bus=pcie.0",
            "-display", "none", "-monitor", "none", "-no-reboot",
            "-serial", f"file:{self.serial}",
        ]

    def prepare_files(self):
        """The backing files: a sparse pool and a zeroed label area."""
        for path, size in ((self.pool, self.pool_size), (self.lsa, self.lsa_size)):
            with open(path, "w") as f:
                f.truncate(size)


def sh_load_cxl():
    """Loads the CXL stack (and kmem for system-ram mode) from the chroot's
    /lib/modules, then waits for the memdev to appear."""
    mods = " ".join(CXL_MODULES)
    return (f"for m in {mods}; do modprobe $m || exit 1; done; i=0; "
            "until [ -e /sys/bus/cxl/devices/mem0 ]; do i=$((i+1)); "
            "[ $i -gt 500 ] && exit 1; sleep 0.02; done")


def sh_create_region(ways=1, granularity=256):
    """A pmem region over mem0 in the first root decoder, then a devdax
    namespace on it: /dev/dax0.0 (DESIGN.md, checked commands)."""
    return (f"cxl create-region -m -t pmem -d decoder0.0 -w {ways} "
            f"-g {granularity} mem0 >/dev/null && "
            "ndctl create-namespace -r region0 -m devdax >/dev/null && "
            "test -c /dev/dax0.0")
