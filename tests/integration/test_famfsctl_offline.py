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


def write_at(path, offset, data):
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def read_at(path, offset, n):
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(n)


# The layouts of kmod/uapi/famfsd_format.h, with this file's crc32c(): the
# tests below build metadata without famfsd's code and expect it accepted.
SB_SIZE, SB_CRC_AT, SB_CREATED_AT = 160, 156, 96      # struct famfs_sb
REC_TYPE_MKDIR = 1


def tail_slot(seq, end, generation=1, epoch=1):
    """struct famfs_log_tail: CRC over every byte before the crc field."""
    slot = struct.pack("<QQQQ28x", seq, end, generation, epoch)
    return slot + struct.pack("<I", crc32c(slot))


def mkdir_record(seq, ino, name, parent=1, epoch=1, mode=0o755):
    """A MKDIR record: struct famfs_rec_hdr, struct famfs_rec_mkdir, the
    name, zero padding to 8 bytes; the CRC (first) covers all the rest."""
    name = name.encode()
    body = struct.pack("<QQQIIIH2x", ino, parent, 1000 + seq, mode, 0, 0,
                       len(name)) + name
    length = -(-(32 + len(body)) // 8) * 8
    rest = struct.pack("<HHIIQQ", REC_TYPE_MKDIR, 0, length, 0, seq, epoch)
    rest += body + bytes(length - 32 - len(body))
    return struct.pack("<I", crc32c(rest)) + rest


@pytest.fixture
def pool(tmp_path):
    path = str(tmp_path / "pool.img")
    ctl("mkfs", path, "--create", "64M", "--log-size", "1M", "--alloc-unit", "4K",
        check=0)
    return path


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
    write_at(pool, LOG_OFFSET + 64, tail_slot(5, 1 << 30))
    r = ctl("--json", "fsck", pool, check=4)
    rep = json.loads(r.stdout)
    assert rep["error_in"] == "log tail"
    assert "past the end" in rep["error"]


def test_tail_naming_records_that_are_not_there(pool):
    # A valid tail claiming one 64-byte record over zeroed log bytes.
    write_at(pool, LOG_OFFSET + 128, tail_slot(1, 64))
    r = ctl("--json", "fsck", pool, check=4)
    rep = json.loads(r.stdout)
    assert rep["error_in"] == "record" and rep["error_record"] == 1


def test_records_written_here_replay_and_a_bad_crc_is_refused(pool):
    # Two records and their tail, CRCs by this file's crc32c(): famfsctl
    # reads them as written, so famfsd's CRCs cover what the format says.
    recs = mkdir_record(1, 2, "made-here") + mkdir_record(2, 3, "sub", parent=2)
    write_at(pool, LOG_OFFSET + 4096, recs)
    write_at(pool, LOG_OFFSET + 64 * (1 + 2 % 2), tail_slot(2, len(recs)))
    dump = json.loads(ctl("--json", "logdump", pool, check=0).stdout)
    assert [(r["seq"], r["type"], r["ino"], r["parent"], r["name"]) for r in dump] \
        == [(1, "mkdir", 2, 1, "made-here"), (2, "mkdir", 3, 2, "sub")]
    rep = json.loads(ctl("--json", "fsck", pool, check=0).stdout)
    assert (rep["clean"], rep["records"], rep["dirs"]) == (True, 2, 2)
    # The second record's CRC one bit off: refused, at that record.
    flip(pool, LOG_OFFSET + 4096 + len(mkdir_record(1, 2, "made-here")))
    rep = json.loads(ctl("--json", "fsck", pool, check=4).stdout)
    assert (rep["error_in"], rep["error_record"]) == ("record", 2)
    assert "CRC" in rep["error"]


def test_superblock_written_here_is_used_and_a_bad_crc_is_refused(pool):
    sb = bytearray(read_at(pool, SB_A, SB_SIZE))
    # mkfs's CRC is the standard CRC32C of every byte before the field.
    assert struct.unpack_from("<I", sb, SB_CRC_AT)[0] == crc32c(sb[:SB_CRC_AT])
    struct.pack_into("<Q", sb, SB_CREATED_AT, 1234567890123456789)
    struct.pack_into("<I", sb, SB_CRC_AT, crc32c(sb[:SB_CRC_AT]))
    write_at(pool, SB_A, sb)
    write_at(pool, SB_B, sb)
    ctl("fsck", pool, check=0)
    info = json.loads(ctl("--json", "info", pool, check=0).stdout)
    assert info["created_ns"] == 1234567890123456789
    # Copy B with its CRC one off: named, and copy A still serves.
    struct.pack_into("<I", sb, SB_CRC_AT, crc32c(sb[:SB_CRC_AT]) ^ 1)
    write_at(pool, SB_B, sb)
    r = ctl("fsck", pool, check=4)
    assert "superblock copy B" in r.stdout and "CRC" in r.stdout
    info = json.loads(ctl("--json", "info", pool, check=0).stdout)
    assert info["created_ns"] == 1234567890123456789


def test_logdump_of_empty_pool(pool):
    r = ctl("--json", "logdump", pool, check=0)
    assert json.loads(r.stdout) == []


def test_usage_errors_exit_16(pool):
    assert ctl().returncode == 16
    assert ctl("frobnicate").returncode == 16
    assert ctl("fsck").returncode == 16
    assert ctl("mkfs", pool, "--log-size", "lots").returncode == 16
