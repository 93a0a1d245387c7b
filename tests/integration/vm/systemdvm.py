"""A guest that boots the host's systemd as PID 1 (the vm.Guest harness).

The kernel command line carries famfsd.systemd=1: the shared initramfs
(init) then puts a tmpfs overlay on the host's read-only root, copies the
files staged under x/root over it, and switch_roots into
/lib/systemd/systemd. Stage files with put() before start(); `make install
DESTDIR=...` can target root_dir() directly.

The boot goal is famfsd-vm.target (basic.target and the command server),
not the host's default target, so nothing of the host's multi-user setup
(databases, gettys, timers' jobs) runs in the guest. The command server
is a plain service serving the same exchange protocol as the busybox
init (cmd.N -> out.N, err.N, rc.N; "poweroff" ends the VM, cleanly,
through systemctl), so Guest.run()/check()/stop() work unchanged; commands
run as root in the host's userland, in systemd's namespace (they see the
mounts services make).
"""

import os
import subprocess

import vm

# The command server; its state (the next command number) lives in the
# exchange directory so a restart of the service resumes where it was.
SERVE = r"""#!/bin/sh
X=/famfsd-vm/x
n=1
[ -e $X/next ] && n=$(cat $X/next)
echo ready > $X/ready
while :; do
	if [ -e $X/cmd.$n ]; then
		/bin/sh $X/cmd.$n > $X/out.$n 2> $X/err.$n < /dev/null
		echo $? > $X/rc.$n.tmp
		mv $X/rc.$n.tmp $X/rc.$n
		n=$((n + 1))
		echo $n > $X/next
	elif [ -e $X/poweroff ]; then
		sync
		systemctl --no-block poweroff
		sleep 60
	else
		sleep 0.02
	fi
done
"""

TARGET = """\
[Unit]
Description=famfsd VM test: basic system and the command server
Requires=basic.target
Wants=famfsd-vm-cmd.service
After=basic.target
AllowIsolate=yes
"""

SERVICE = """\
[Unit]
Description=famfsd VM test command server
After=basic.target
DefaultDependencies=no
Conflicts=shutdown.target
Before=shutdown.target

[Service]
Type=simple
ExecStart=/famfsd-vm/serve
Environment=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
Environment=HOME=/root TERM=dumb SYSTEMD_PAGER= SYSTEMD_COLORS=0
KillMode=process
"""

# Host units that make no sense in a throw-away guest (and would wait for
# hardware or the network): masked in the overlay.
MASKED = ("systemd-timesyncd.service", "systemd-pstore.service",
          "e2scrub_reap.service", "ndctl-monitor.service",
          "systemd-networkd-wait-online.service",
          "NetworkManager-wait-online.service", "apt-daily.timer",
          "apt-daily-upgrade.timer", "man-db.timer", "e2scrub_all.timer",
          "fstrim.timer", "dpkg-db-backup.timer")


def missing():
    """What this host lacks for systemd guests, beyond vm.missing()."""
    out = [m for m in vm.missing() if "ndctl" not in m]
    for path, pkg in (("/lib/systemd/systemd", "systemd"),):
        if not os.path.exists(path):
            out.append(f"{path} (package {pkg})")
    ver = vm.kernel()
    if ver:
        deps = f"/lib/modules/{ver[0]}/modules.dep"
        try:
            text = open(deps).read()
        except OSError:
            text = ""
        for mod in ("overlay.ko", "fuse.ko"):
            if f"/{mod}" not in text:
                out.append(f"the {mod} module in {deps} (linux-image-amd64)")
    return out


def build_initramfs():
    """The shared initramfs only (no kernel module build); returns the
    kernel version."""
    ver = vm.kernel()[0]
    os.makedirs(vm.VM_BUILD, exist_ok=True)
    initrd = vm.initramfs_path(ver)
    srcs = [os.path.join(vm.VM_SRC, f) for f in ("init", "mkinitramfs.sh")]
    if not (os.path.exists(initrd) and
            all(os.path.getmtime(s) <= os.path.getmtime(initrd) for s in srcs)):
        subprocess.run([os.path.join(vm.VM_SRC, "mkinitramfs.sh"), ver, initrd],
                       check=True)
    return ver


class SystemdGuest(vm.Guest):
    """A guest running systemd; files staged with put() appear in its root.

    pool/pool_size: the nvdimm backing file of vm.Guest (a small sparse
    file is enough when the test keeps its pool in a file in the guest).
    """

    def __init__(self, name, workdir, pool, pool_size, cmdline="", **kw):
        cmd = (f"famfsd.systemd=1 systemd.unit=famfsd-vm.target "
               f"systemd.hostname={name} systemd.show_status=1 "
               f"{cmdline}").strip()
        super().__init__(name, workdir, pool, pool_size, cmdline=cmd, **kw)
        self.staged = {}		# path in the guest -> (bytes, mode)

    def root_dir(self):
        """Where x/root is (valid after start() made the directory)."""
        return os.path.join(self.xchg, "root")

    def put(self, path, text, mode=0o644):
        """Stages a file at path in the guest's root."""
        data = text.encode() if isinstance(text, str) else text
        self.staged[path.lstrip("/")] = (data, mode)

    def prepare_xchg(self):
        with open(self.pool, "a") as f:
            f.truncate(self.pool_size)
        files = dict(self.staged)
        files["famfsd-vm/serve"] = (SERVE.encode(), 0o755)
        files["etc/systemd/system/famfsd-vm.target"] = (TARGET.encode(), 0o644)
        files["etc/systemd/system/famfsd-vm-cmd.service"] = (SERVICE.encode(), 0o644)
        files["etc/fstab"] = (b"# famfsd VM test: nothing to mount\n", 0o644)
        for path, (data, mode) in files.items():
            full = os.path.join(self.root_dir(), path)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "wb") as f:
                f.write(data)
            os.chmod(full, mode)
        mask = os.path.join(self.root_dir(), "etc/systemd/system")
        for unit in MASKED:
            os.symlink("/dev/null", os.path.join(mask, unit))
        self.on_prepare(self.root_dir())

    def on_prepare(self, root):
        """Hook: more files under root (e.g. make install DESTDIR=root)."""

    def wait_system(self, timeout=120):
        """Waits until systemd finished booting; returns its state
        ("running" or "degraded", with the failed units named)."""
        self.wait_ready(timeout)
        r = self.run("systemctl is-system-running --wait", timeout=timeout)
        state = r.out.strip()
        if state != "running":
            failed = self.run("systemctl --failed --no-legend --plain").out
            state += ": " + " ".join(ln.split()[0] for ln in failed.splitlines()
                                     if ln.strip())
        return state
