"""famfsctl offline commands on real pool files: mkfs refusals, fsck exit
codes and messages for torn superblocks, bit flips, truncation and a tail
that points past the end of the log, and --repair of a torn copy."""

import json
import os
import struct
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CTL = os.path.join(ROOT, os.environ.get("BUILD", "build"), "famfsctl")

SB_A, SB_B = 0, 4096
LOG_OFFSET = 2 << 20          # log header: line 0 header, lines 1-2 tail slots


def ctl(*args, check=None):
    p = subprocess.run([CTL, *args], capture_output=True, text=True, timeout=60)
    if check is not None:
        assert p.returncode == check, (p.returncode, p.stdout, p.stderr)
    return p


def _crc32c_table():
    poly, table = 0x82F63B78, []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def flip(path, offset, mask=0x01):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)[0]
        f.seek(offset)
        f.write(bytes([b ^ mask]))


@pytest.fixture
def pool(tmp_path):
    path = str(tmp_path / "pool.img")
    ctl("mkfs", path, "--create", "64M", "--log-size", "1M", "--alloc-unit", "4K",
        check=0)
    return path


def test_crc32c_helper_matches_the_standard_check_value():
    assert crc32c(b"123456789") == 0xE3069283


def test_mkfs_then_fsck_clean_and_info(pool):
    r = ctl("--json", "fsck", pool, check=0)
    rep = json.loads(r.stdout)
    assert rep["clean"] is True and rep["records"] == 0
    info = json.loads(ctl("--json", "info", pool, check=0).stdout)
    assert info["device_size"] == 64 << 20
    assert info["alloc_unit"] == 4096
    assert info["log_offset"] == LOG_OFFSET
    assert info["data_offset"] % (2 << 20) == 0
    assert info["master_lease"]["state"] == "never held"


def test_mkfs_refuses_existing_pool_naming_it(pool):
    info = json.loads(ctl("--json", "info", pool, check=0).stdout)
    r = ctl("mkfs", pool, check=8)
    assert info["pool_uuid"] in r.stderr and "--force" in r.stderr
    r = ctl("mkfs", pool, "--force", "--log-size", "1M", check=0)
    assert json.loads(ctl("--json", "info", pool).stdout)["pool_uuid"] != info["pool_uuid"]


def test_mkfs_refuses_too_small_with_minimum(tmp_path):
    path = str(tmp_path / "small.img")
    r = ctl("mkfs", path, "--create", "3M", check=8)
    assert "too small" in r.stderr and "at least" in r.stderr


def test_mkfs_rejects_bad_alloc_unit(tmp_path):
    path = str(tmp_path / "p.img")
    r = ctl("mkfs", path, "--create", "64M", "--alloc-unit", "3000", check=8)
    assert "power of two" in r.stderr


@pytest.mark.parametrize("copy,offset", [("A", SB_A), ("B", SB_B)])
def test_torn_superblock_copy_is_named_and_repaired(pool, copy, offset):
    flip(pool, offset + 40)                     # inside device_size
    r = ctl("fsck", pool, check=4)
    assert f"superblock copy {copy}" in r.stdout and "CRC" in r.stdout
    r = ctl("fsck", pool, "--repair", check=1)
    assert "repaired" in r.stdout
    ctl("fsck", pool, check=0)


def test_both_superblocks_bad_is_uncorrected(pool):
    flip(pool, SB_A + 40)
    flip(pool, SB_B + 40)
    r = ctl("--json", "fsck", pool, check=4)
    rep = json.loads(r.stdout)
    assert rep["error_in"] == "superblock"


def test_not_a_pool(tmp_path):
    path = str(tmp_path / "zero.img")
    with open(path, "wb") as f:
        f.truncate(8 << 20)
    r = ctl("fsck", path)
    assert r.returncode == 4 and "no famfsd superblock" in r.stdout


def test_truncated_image_is_detected(pool):
    os.truncate(pool, 32 << 20)
    r = ctl("--json", "fsck", pool, check=4)
    rep = json.loads(r.stdout)
    assert rep["error_in"] == "superblock"
    assert any("truncated" in (e or "") for e in rep["superblock_errors"])


def test_log_header_corruption_is_named(pool):
    flip(pool, LOG_OFFSET + 9)                  # generation field
    r = ctl("fsck", pool, check=4)
    assert "log header" in r.stdout


def test_one_torn_tail_slot_is_named_and_repaired(pool):
    flip(pool, LOG_OFFSET + 64 + 3)             # tail slot 0
    r = ctl("--json", "fsck", pool, check=4)
    rep = json.loads(r.stdout)
    assert rep["tail_slot_errors"][0] and rep["tail_slot_errors"][1] is None
    assert "error_in" not in rep                # the other slot carries on
    ctl("fsck", pool, "--repair", check=1)
    ctl("fsck", pool, check=0)


def test_corrupt_lease_is_named_and_cleared(pool):
    with open(pool, "r+b") as f:
        f.seek(8192)
        f.write(b"\x07" * 16)
    r = ctl("fsck", pool, check=4)
    assert "master lease" in r.stdout
    ctl("fsck", pool, "--repair", check=1)
    ctl("fsck", pool, check=0)
    info = json.loads(ctl("--json", "info", pool, check=0).stdout)
    assert info["master_lease"]["state"] == "never held"


def test_both_tail_slots_torn(pool):
    flip(pool, LOG_OFFSET + 64 + 3)
    flip(pool, LOG_OFFSET + 128 + 3)
    r = ctl("fsck", pool, check=4)
    assert "tail" in r.stdout


def test_tail_pointing_past_end_of_log(pool):
    # A well-formed tail slot (valid CRC) whose end lies beyond the log.
    seq, end, generation, epoch = 5, 1 << 30, 1, 1
    slot = struct.pack("<QQQQ28x", seq, end, generation, epoch)
    slot += struct.pack("<I", crc32c(slot))
    assert len(slot) == 64
    with open(pool, "r+b") as f:
        f.seek(LOG_OFFSET + 64)
        f.write(slot)
    r = ctl("--json", "fsck", pool, check=4)
    rep = json.loads(r.stdout)
    assert rep["error_in"] == "log tail"
    assert "past the end" in rep["error"]


def test_tail_naming_records_that_are_not_there(pool):
    # A valid tail claiming one 64-byte record over zeroed log bytes.
    slot = struct.pack("<QQQQ28x", 1, 64, 1, 1)
    slot += struct.pack("<I", crc32c(slot))
    with open(pool, "r+b") as f:
        f.seek(LOG_OFFSET + 128)
        f.write(slot)
    r = ctl("--json", "fsck", pool, check=4)
    rep = json.loads(r.stdout)
    assert rep["error_in"] == "record" and rep["error_record"] == 1


def test_logdump_of_empty_pool(pool):
    r = ctl("--json", "logdump", pool, check=0)
    assert json.loads(r.stdout) == []


def test_usage_errors_exit_8(pool):
    assert ctl().returncode == 8
    assert ctl("frobnicate").returncode == 8
    assert ctl("fsck").returncode == 8
    assert ctl("mkfs", pool, "--log-size", "lots").returncode == 8
