"""famfsctl's offline commands on a block device (a loop device here; a
pmem namespace in the kernel-module VM tests): mkfs and fsck --repair reach
the device itself, a device in use is refused with the reason, and the
daemons refuse a block device (its page cache is not shared) with the way
to serve it.
"""

import json
import mmap
import os
import shutil
import subprocess

import pytest

from conftest import FAMFSD, famfsctl, free_port, require

MiB = 1 << 20


def read_direct(dev, offset, length):
    """Bytes as they are on the device, not in this host's page cache."""
    fd = os.open(dev, os.O_RDONLY | os.O_DIRECT)
    try:
        buf = mmap.mmap(-1, length)     # page aligned, as O_DIRECT wants
        os.preadv(fd, [buf], offset)
        return bytes(buf)
    finally:
        os.close(fd)


def write_direct(dev, offset, data):
    fd = os.open(dev, os.O_WRONLY | os.O_DIRECT)
    try:
        buf = mmap.mmap(-1, len(data))
        buf.write(data)
        os.pwritev(fd, [buf], offset)
    finally:
        os.close(fd)


@pytest.fixture
def loopdev(tmp_path):
    require(os.geteuid() == 0, "root (loop devices)")
    require(shutil.which("losetup"), "losetup (util-linux)")
    img = tmp_path / "disk.img"
    with open(img, "wb") as f:
        f.truncate(64 * MiB)
    p = subprocess.run(["losetup", "--find", "--show", str(img)],
                       capture_output=True, text=True)
    require(p.returncode == 0, f"a loop device: {p.stderr.strip()}")
    dev = p.stdout.strip()
    yield dev
    subprocess.run(["losetup", "-d", dev], capture_output=True)


def test_mkfs_info_fsck_on_a_block_device(loopdev):
    out = json.loads(famfsctl("--json", "mkfs", loopdev, "--log-size", "1M",
                              check=0).stdout)
    assert out["device_size"] == 64 * MiB
    # Written back: both copies are on the device, not only in the cache.
    assert read_direct(loopdev, 0, 4096)[:8] == b"FAMFSD01"
    assert read_direct(loopdev, 4096, 4096)[:8] == b"FAMFSD01"
    info = json.loads(famfsctl("--json", "info", loopdev, check=0).stdout)
    assert info["pool_uuid"] == out["pool_uuid"]
    famfsctl("fsck", loopdev, check=0)

    # A torn copy A, repaired: the repair too reaches the device.
    write_direct(loopdev, 0, bytes(4096))
    p = famfsctl("fsck", loopdev, "--repair", check=1)
    assert "copy A" in p.stdout + p.stderr, p.stdout + p.stderr
    assert read_direct(loopdev, 0, 4096)[:8] == b"FAMFSD01"
    famfsctl("fsck", loopdev, check=0)


def test_a_block_device_in_use_is_refused(loopdev):
    famfsctl("mkfs", loopdev, "--log-size", "1M", check=0)
    holder = os.open(loopdev, os.O_RDONLY | os.O_EXCL)   # as a mount holds it
    try:
        for args, code in ((("fsck", loopdev), 8), (("info", loopdev), None),
                           (("mkfs", loopdev, "--force"), 8)):
            p = famfsctl(*args)
            assert p.returncode != 0 and (code is None or p.returncode == code), \
                (args, p.returncode, p.stderr)
            assert "in use (mounted?)" in p.stderr, (args, p.stderr)
    finally:
        os.close(holder)
    famfsctl("fsck", loopdev, check=0)


@pytest.mark.parametrize("role", ["master", "agent"])
def test_the_daemons_refuse_a_block_device(loopdev, tmp_path, role):
    famfsctl("mkfs", loopdev, "--log-size", "1M", check=0)
    if role == "master":
        argv = [FAMFSD, "master", "--pool", loopdev, "--listen",
                f"127.0.0.1:{free_port()}"]
    else:
        argv = [FAMFSD, "agent", "--pool", loopdev, "--mount", str(tmp_path / "mnt")]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
    assert "page cache is this host's alone" in p.stderr, p.stderr
    assert "MOUNT/.famfsd/pool" in p.stderr, p.stderr
    assert not os.path.ismount(tmp_path / "mnt")
