"""The kernel module builds cleanly: no compiler warning with W=1, no sparse
complaint (C=1), no kernel-doc warning. Built in a copy of kmod/ so it never
races the VM tests' build in place."""

import glob
import os
import shutil
import subprocess

from conftest import require

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KMOD = os.path.join(ROOT, "kmod")


def headers():
    found = sorted(glob.glob("/usr/src/linux-headers-6.1.*-amd64"))
    return found[-1] if found else None


def test_kmod_builds_without_warnings_w1_sparse(tmp_path):
    kdir = headers()
    require(kdir, "Debian 6.1 kernel headers (package linux-headers-amd64)")
    require(shutil.which("sparse"), "sparse (package sparse)")
    src = tmp_path / "kmod"
    shutil.copytree(KMOD, src, ignore=shutil.ignore_patterns(
        "*.o", "*.ko", "*.mod", "*.mod.c", "*.cmd", "*.order", "*.symvers"))
    p = subprocess.run(["make", "-C", str(src), f"KDIR={kdir}", "W=1", "C=1"],
                       capture_output=True, text=True, timeout=300)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out
    assert (src / "famfsd.ko").exists(), out
    bad = [ln for ln in out.splitlines()
           if "warning" in ln.lower() or "error" in ln.lower()]
    assert not bad, "\n".join(bad)


def test_kmod_kernel_doc_is_clean():
    kdir = headers()
    require(kdir, "Debian 6.1 kernel headers (package linux-headers-amd64)")
    common = kdir.replace("-amd64", "-common")
    script = os.path.join(common, "scripts", "kernel-doc")
    require(os.path.exists(script), f"{script} (package linux-headers-amd64)")
    files = sorted(glob.glob(os.path.join(KMOD, "*.c")))
    p = subprocess.run(["perl", script, "-none", *files],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and not p.stderr.strip(), p.stderr
