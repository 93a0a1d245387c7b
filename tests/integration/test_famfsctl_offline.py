"""famfsctl offline commands on real pool files: mkfs refusals, fsck exit
codes and messages for torn superblocks, bit flips in one copy of the log
or in both, truncation and a tail that points past the end of the log, and
--repair of a torn copy. (Damage at every part of the log, live and
offline: test_log_damage.py.)"""

import json
import os
import struct
import subprocess
import threading

import pytest

from conftest import FAMFSCTL as CTL, LOG_HDR_SIZE, format_h, format_struct, log_area

# The layouts of kmod/uapi/famfsd_format.h, read from it (offsets derived
# from the struct definitions, see conftest.format_struct).
SB = format_struct("famfs_sb")
LOG_HDR = format_struct("famfs_log_hdr")
TAIL = format_struct("famfs_log_tail")
REC_HDR = format_struct("famfs_rec_hdr")
REC_MKDIR = format_struct("famfs_rec_mkdir")
SB_A = format_h(r"#define FAMFS_SB_A_OFFSET\s+(\d+)u")
SB_B = format_h(r"#define FAMFS_SB_B_OFFSET\s+(\d+)u")
LEASE_OFFSET = format_h(r"#define FAMFS_LEASE_OFFSET\s+(\d+)u")
# mkfs puts the log at the first 2 MiB boundary (FAMFS_META_ALIGN) after
# the lease; test_mkfs_then_fsck_clean_and_info checks that it did.
LOG_OFFSET = 2 << 20
# The pool fixture's log (1 MiB, generation 1) in its two copies.
GEN1 = {"log_offset": LOG_OFFSET, "log_size": 1 << 20, "log_generation": 1}
AREA = [log_area(GEN1, copy) for copy in (0, 1)]
RECORDS = AREA[0] + LOG_HDR_SIZE        # the first record, copy 0
RECORDS_1 = AREA[1] + LOG_HDR_SIZE      # and copy 1


def tail_at(slot, copy=0):
    """Where tail slot 0 or 1 of a copy lies (struct famfs_log_hdr's tail[slot])."""
    return AREA[copy] + LOG_HDR["tail"] + slot * TAIL["sizeof"]


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


def crc32c(data, init=0xFFFFFFFF):
    c = init
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


# With this file's crc32c() and the struct formats below, checked against
# famfsd_format.h, the tests build metadata without famfsd's code and
# expect it accepted.
REC_TYPE_MKDIR = format_h(r"FAMFS_REC_MKDIR\s+= (\d+),")
TAIL_FMT = "<QQQQ28x"           # seq end generation epoch reserved; then crc
REC_HDR_FMT = "<HHIIQQ"         # after the crc: type flags len reserved seq epoch
MKDIR_FMT = "<QQQIIIH2x"        # ino parent mtime_ns mode uid gid name_len
assert struct.calcsize(TAIL_FMT) == TAIL["crc"]
assert TAIL["crc"] + 4 == TAIL["sizeof"]
assert REC_HDR["crc"] == 0 and 4 + struct.calcsize(REC_HDR_FMT) == REC_HDR["sizeof"]
assert struct.calcsize(MKDIR_FMT) == REC_MKDIR["sizeof"]


def publish_slot(seq, copy=0):
    """The slot that publishes record seq: seq % 2 (struct famfs_log_tail)."""
    return tail_at(seq % 2, copy)


def tail_slot(seq, end, generation=1, epoch=1):
    """struct famfs_log_tail: CRC over every byte before the crc field."""
    slot = struct.pack(TAIL_FMT, seq, end, generation, epoch)
    return slot + struct.pack("<I", crc32c(slot))


# A record's CRC32C pass starts from its log generation, mixed in
# (FAMFS_REC_CRC_SEED): one of another generation never passes.
CRC_SEED_MIX = format_h(r"FAMFS_REC_CRC_SEED\(g\).*\^ (0x[0-9a-f]+)u\)")


def rec_crc(rest, generation=1):
    seed = (generation & 0xFFFFFFFF) ^ (generation >> 32) ^ CRC_SEED_MIX
    return crc32c(rest, 0xFFFFFFFF ^ seed)


def mkdir_record(seq, ino, name, parent=1, epoch=1, mode=0o755):
    """A MKDIR record: struct famfs_rec_hdr, struct famfs_rec_mkdir, the
    name, zero padding to 8 bytes; the CRC (first) covers all the rest,
    seeded by the generation (1)."""
    name = name.encode()
    body = struct.pack(MKDIR_FMT, ino, parent, 1000 + seq, mode, 0, 0,
                       len(name)) + name
    length = -(-(REC_HDR["sizeof"] + len(body)) // 8) * 8
    rest = struct.pack(REC_HDR_FMT, REC_TYPE_MKDIR, 0, length, 0, seq, epoch)
    rest += body + bytes(length - REC_HDR["sizeof"] - len(body))
    return struct.pack("<I", rec_crc(rest)) + rest


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
    flip(pool, offset + SB["device_size"])
    r = ctl("fsck", pool, check=4)
    assert f"superblock copy {copy}" in r.stdout and "CRC" in r.stdout
    r = ctl("fsck", pool, "--repair", check=1)
    assert "repaired" in r.stdout
    ctl("fsck", pool, check=0)


def test_both_superblocks_bad_is_uncorrected(pool):
    flip(pool, SB_A + SB["device_size"])
    flip(pool, SB_B + SB["device_size"])
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
    # One copy: named, survived, rewritten from the other.
    flip(pool, AREA[0] + LOG_HDR["generation"] + 1)
    r = ctl("fsck", pool, check=4)
    assert f"log copy 0 area header (generation 1) at log offset 0, pool " \
        f"offset {LOG_OFFSET}: log header: CRC mismatch" in r.stdout, r.stdout
    r = ctl("fsck", pool, "--repair", check=1)
    assert "(repaired from copy 1)" in r.stdout, r.stdout
    ctl("fsck", pool, check=0)
    # Both copies: no reader can open the generation.
    flip(pool, AREA[0] + LOG_HDR["generation"] + 1)
    flip(pool, AREA[1] + LOG_HDR["generation"] + 1)
    r = ctl("--json", "fsck", pool, check=4)
    assert json.loads(r.stdout)["error_in"] == "log header"


def test_one_torn_tail_slot_is_named_and_repaired(pool):
    flip(pool, tail_at(0) + 3)
    r = ctl("--json", "fsck", pool, check=4)
    rep = json.loads(r.stdout)
    assert rep["tail_slot_errors"][0] and rep["tail_slot_errors"][1] is None
    assert "error_in" not in rep                # the other slot carries on
    ctl("fsck", pool, "--repair", check=1)
    ctl("fsck", pool, check=0)


def test_corrupt_lease_is_named_and_cleared(pool):
    with open(pool, "r+b") as f:
        f.seek(LEASE_OFFSET)
        f.write(b"\x07" * 16)
    r = ctl("fsck", pool, check=4)
    assert "master lease" in r.stdout
    ctl("fsck", pool, "--repair", check=1)
    ctl("fsck", pool, check=0)
    info = json.loads(ctl("--json", "info", pool, check=0).stdout)
    assert info["master_lease"]["state"] == "never held"


def test_both_tail_slots_torn(pool):
    # Both slots of copy 0: copy 1's carry on, --repair rewrites them.
    flip(pool, tail_at(0) + 3)
    flip(pool, tail_at(1) + 3)
    rep = json.loads(ctl("--json", "fsck", pool, check=4).stdout)
    assert "error_in" not in rep
    assert [(e["part"], e["copy"], e["seq"]) for e in rep["damage"]] == \
        [("tail slot", 0, 0), ("tail slot", 0, 1)]
    ctl("fsck", pool, "--repair", check=1)
    ctl("fsck", pool, check=0)
    # All four: no tail at all.
    for copy in (0, 1):
        for slot in (0, 1):
            flip(pool, tail_at(slot, copy) + 3)
    rep = json.loads(ctl("--json", "fsck", pool, check=4).stdout)
    assert rep["error_in"] == "log tail"


def test_tail_pointing_past_end_of_log(pool):
    # A well-formed tail slot (valid CRC) whose end lies beyond the log.
    write_at(pool, publish_slot(5), tail_slot(5, 1 << 30))       # tail slot 1
    r = ctl("--json", "fsck", pool, check=4)
    rep = json.loads(r.stdout)
    assert rep["error_in"] == "log tail"
    assert "past the end" in rep["error"]


def test_tail_naming_records_that_are_not_there(pool):
    # A valid tail claiming one 64-byte record over zeroed log bytes.
    write_at(pool, publish_slot(1), tail_slot(1, 64))            # tail slot 1
    r = ctl("--json", "fsck", pool, check=4)
    rep = json.loads(r.stdout)
    assert rep["error_in"] == "record" and rep["error_record"] == 1


def test_records_written_here_replay_and_a_bad_crc_is_refused(pool):
    # Two records and their tail, CRCs by this file's crc32c(): famfsctl
    # reads them as written, so famfsd's CRCs cover what the format says.
    recs = mkdir_record(1, 2, "made-here") + mkdir_record(2, 3, "sub", parent=2)
    for copy in (0, 1):                 # the log keeps two copies of everything
        write_at(pool, AREA[copy] + LOG_HDR_SIZE, recs)
        write_at(pool, publish_slot(2, copy), tail_slot(2, len(recs)))
    dump = json.loads(ctl("--json", "logdump", pool, check=0).stdout)
    assert [(r["seq"], r["type"], r["ino"], r["parent"], r["name"])
            for r in dump["records"]] \
        == [(1, "mkdir", 2, 1, "made-here"), (2, "mkdir", 3, 2, "sub")]
    assert (dump["generation"], dump["base_seq"], dump["checkpoint"]) == (1, 0, [])
    rep = json.loads(ctl("--json", "fsck", pool, check=0).stdout)
    assert (rep["clean"], rep["records"], rep["dirs"]) == (True, 2, 2)
    # The second record's CRC one bit off in copy 0: named, copy 1 serves.
    second = len(mkdir_record(1, 2, "made-here"))
    flip(pool, RECORDS + second)
    rep = json.loads(ctl("--json", "fsck", pool, check=4).stdout)
    assert (rep["clean"], rep["records"], "error_in" in rep) == (False, 2, False)
    assert [(e["part"], e["copy"], e["seq"], e["both"], e["reason"])
            for e in rep["damage"]] == [("record", 0, 2, False, "record CRC mismatch")]
    # In both copies: refused, at that record.
    flip(pool, RECORDS_1 + second)
    rep = json.loads(ctl("--json", "fsck", pool, check=4).stdout)
    assert (rep["error_in"], rep["error_record"]) == ("record", 2)
    assert "CRC" in rep["error"]


def test_superblock_written_here_is_used_and_a_bad_crc_is_refused(pool):
    sb = bytearray(read_at(pool, SB_A, SB["sizeof"]))
    # mkfs's CRC is the standard CRC32C of every byte before the field.
    assert struct.unpack_from("<I", sb, SB["crc"])[0] == crc32c(sb[:SB["crc"]])
    struct.pack_into("<Q", sb, SB["created_ns"], 1234567890123456789)
    struct.pack_into("<I", sb, SB["crc"], crc32c(sb[:SB["crc"]]))
    write_at(pool, SB_A, sb)
    write_at(pool, SB_B, sb)
    ctl("fsck", pool, check=0)
    info = json.loads(ctl("--json", "info", pool, check=0).stdout)
    assert info["created_ns"] == 1234567890123456789
    # Copy B with its CRC one off: named, and copy A still serves.
    struct.pack_into("<I", sb, SB["crc"], crc32c(sb[:SB["crc"]]) ^ 1)
    write_at(pool, SB_B, sb)
    r = ctl("fsck", pool, check=4)
    assert "superblock copy B" in r.stdout and "CRC" in r.stdout
    info = json.loads(ctl("--json", "info", pool, check=0).stdout)
    assert info["created_ns"] == 1234567890123456789


def test_logdump_of_empty_pool(pool):
    r = ctl("--json", "logdump", pool, check=0)
    assert json.loads(r.stdout) == {
        "generation": 1, "base_seq": 0, "base_epoch": 0, "max_ino": 1,
        "checkpoint_items": 0, "checkpoint_bytes": 0, "tail_seq": 0,
        "checkpoint": [], "records": []}


def test_usage_errors_exit_16(pool):
    assert ctl().returncode == 16
    assert ctl("frobnicate").returncode == 16
    assert ctl("fsck").returncode == 16
    assert ctl("mkfs", pool, "--log-size", "lots").returncode == 16


# ---- election slots (docs/failover.md) ---------------------------------------

ELECT = format_struct("famfs_elect_slot")
ELECT_OFFSET = format_h(r"#define FAMFS_ELECT_OFFSET\s+(\d+)u")
ELECT_MAGIC = 0x5443454C53464D46
ROSTER = [64 << 10, 1 << 20]                # both copies, 256 x 256 bytes
ROSTER_BYTES = 256 * 256


def elect_slot(slot, state, host=b"node-a", pid=4242, epoch=3, start_seq=17,
               heartbeat=9, url=b"http://node-a:8080", lease_ns=2_000_000_000):
    """One struct famfs_elect_slot as lib/elect.c writes it, CRC included."""
    b = bytearray(ELECT["sizeof"])
    struct.pack_into("<QII", b, 0, ELECT_MAGIC, slot, state)
    for field, v in (("heartbeat", heartbeat), ("lease_ns", lease_ns),
                     ("epoch", epoch), ("epoch_start_seq", start_seq),
                     ("applied_seq", start_seq - 1), ("inst", epoch),
                     ("mbal", 32 + slot + 1), ("bal", 32 + slot + 1),
                     ("inp", slot + 1)):
        struct.pack_into("<Q", b, ELECT[field], v)
    struct.pack_into("<I", b, ELECT["pid"], pid)
    b[ELECT["host"]:ELECT["host"] + len(host)] = host
    b[ELECT["url"]:ELECT["url"] + len(url)] = url
    struct.pack_into("<I", b, ELECT["crc"], crc32c(bytes(b[:ELECT["crc"]])))
    return bytes(b)


def slot_at(i):
    return ELECT_OFFSET + i * ELECT["sizeof"]


def test_info_lists_the_used_election_slots(pool):
    info = json.loads(ctl("--json", "info", pool, check=0).stdout)
    assert info["masters"] == [] and info["active_master_slot"] is None
    write_at(pool, slot_at(3), elect_slot(3, 2, epoch=5, start_seq=100))
    write_at(pool, slot_at(7), elect_slot(7, 1, host=b"node-b", pid=7, epoch=5,
                                          url=b"http://node-b:8080"))
    write_at(pool, slot_at(9), elect_slot(9, 2, host=b"old", epoch=4))
    info = json.loads(ctl("--json", "info", pool, check=0).stdout)
    assert info["active_master_slot"] == 3 and info["highest_epoch"] == 5
    by = {m["slot"]: m for m in info["masters"]}
    assert sorted(by) == [3, 7, 9]
    assert by[3] == {"slot": 3, "state": "active", "host": "node-a", "pid": 4242,
                     "epoch": 5, "epoch_start_seq": 100, "applied_seq": 99,
                     "heartbeat": 9, "url": "http://node-a:8080",
                     "lease_ns": 2_000_000_000}
    assert by[7]["state"] == "standby" and by[7]["url"] == "http://node-b:8080"
    assert by[9]["state"] == "superseded"       # ACTIVE below the highest epoch
    text = ctl("info", pool, check=0).stdout
    assert "master.3         active host=node-a pid=4242 epoch=5" in text
    assert "lease=2.000s" in text and "master.7         standby" in text


def test_bad_election_slot_is_named_and_cleared(pool):
    write_at(pool, slot_at(2), elect_slot(2, 1))
    write_at(pool, slot_at(5), elect_slot(5, 2))
    flip(pool, slot_at(5) + ELECT["heartbeat"])   # a torn or damaged write
    r = ctl("fsck", pool, check=4)
    assert "election slot 5:" in r.stdout and "election slot 2" not in r.stdout
    rep = json.loads(ctl("--json", "fsck", pool, check=4).stdout)
    assert rep["clean"] is False
    assert [e["slot"] for e in rep["election_slot_errors"]] == [5]
    info = json.loads(ctl("--json", "info", pool, check=0).stdout)
    assert {m["slot"]: m["state"] for m in info["masters"]} == {2: "standby",
                                                                5: "unreadable"}
    r = ctl("fsck", pool, "--repair", check=1)
    assert "cleared" in r.stdout
    assert read_at(pool, slot_at(5), ELECT["sizeof"]) == bytes(ELECT["sizeof"])
    assert read_at(pool, slot_at(2), ELECT["sizeof"]) == elect_slot(2, 1)
    rep = json.loads(ctl("--json", "fsck", pool, check=0).stdout)
    assert rep["election_slot_errors"] == []


ROSTER_ENTRY = format_struct("famfs_roster_entry")
ROSTER_MAGIC = 0x54534F5253464D46


def roster_entry(index, agent_id, state=1, host=b"node-c", epoch=2, seq=40):
    """One struct famfs_roster_entry as lib/roster.c writes it, CRC included."""
    b = bytearray(ROSTER_ENTRY["sizeof"])
    struct.pack_into("<QIIQQ", b, 0, ROSTER_MAGIC, index, state, epoch, seq)
    b[ROSTER_ENTRY["id"]:ROSTER_ENTRY["id"] + len(agent_id)] = agent_id
    b[ROSTER_ENTRY["host"]:ROSTER_ENTRY["host"] + len(host)] = host
    struct.pack_into("<I", b, ROSTER_ENTRY["crc"],
                     crc32c(bytes(b[:ROSTER_ENTRY["crc"]])))
    return bytes(b)


def roster_at(copy, i):
    return ROSTER[copy] + i * ROSTER_ENTRY["sizeof"]


def test_roster_entry_with_one_bad_copy_is_mended_and_both_bad_is_named(pool):
    for i, name in ((0, b"agent-a"), (3, b"agent-b"), (7, b"agent-c")):
        for copy in (0, 1):
            write_at(pool, roster_at(copy, i), roster_entry(i, name))
    rep = json.loads(ctl("--json", "fsck", pool, check=0).stdout)
    assert rep["clean"] is True and rep["roster_errors"] == []
    flip(pool, roster_at(1, 3) + ROSTER_ENTRY["epoch"])     # copy 1 of entry 3
    flip(pool, roster_at(0, 7) + ROSTER_ENTRY["id"])        # both of entry 7
    flip(pool, roster_at(1, 7) + ROSTER_ENTRY["crc"])
    r = ctl("fsck", pool, check=4)
    assert "agent roster entry 3: one copy bad" in r.stdout, r.stdout
    assert "agent roster entry 7: both copies bad" in r.stdout
    assert "roster-lost-7" in r.stdout and "entry 0" not in r.stdout
    rep = json.loads(ctl("--json", "fsck", pool, check=4).stdout)
    assert rep["clean"] is False
    assert [(e["index"], e["lost"], e["mended"]) for e in rep["roster_errors"]] == \
        [(3, False, False), (7, True, False)]
    # --repair mends entry 3 from its good copy; entry 7 it cannot: uncorrected.
    r = ctl("fsck", pool, "--repair", check=4)
    assert "entry 3: one copy bad, the other good (mended" in r.stdout, r.stdout
    assert read_at(pool, roster_at(1, 3), ROSTER_ENTRY["sizeof"]) == \
        roster_entry(3, b"agent-b")
    assert read_at(pool, roster_at(0, 0), ROSTER_ENTRY["sizeof"]) == \
        roster_entry(0, b"agent-a")
    rep = json.loads(ctl("--json", "fsck", pool, check=4).stdout)
    assert [e["index"] for e in rep["roster_errors"]] == [7]
    info = json.loads(ctl("--json", "info", pool, check=0).stdout)
    assert {e["index"]: e["state"] for e in info["agent_roster"]} == \
        {0: "live", 3: "live", 7: "lost"}
    # Once it says evicted in both copies (a master's eviction), fsck is clean.
    for copy in (0, 1):
        write_at(pool, roster_at(copy, 7), roster_entry(7, b"roster-lost-7", state=2))
    rep = json.loads(ctl("--json", "fsck", pool, check=0).stdout)
    assert rep["clean"] is True and rep["roster_errors"] == []


def test_mkfs_zeroes_election_slots_and_roster(pool):
    # A slot of a process gone from this host, and roster bytes of the old pool.
    write_at(pool, slot_at(1), elect_slot(1, 2, host=os.uname().nodename.encode(),
                                          pid=2 ** 22 + 12345))
    write_at(pool, slot_at(4), elect_slot(4, 3))          # stopped
    for at in ROSTER:
        write_at(pool, at, b"\x5a" * ROSTER_BYTES)
    r = ctl("mkfs", pool, "--force", "--log-size", "1M", check=0)
    assert "watching" not in r.stderr, r.stderr
    assert read_at(pool, ELECT_OFFSET, 16 * ELECT["sizeof"]) == bytes(16 * ELECT["sizeof"])
    for at in ROSTER:
        assert read_at(pool, at, ROSTER_BYTES) == bytes(ROSTER_BYTES)
    assert json.loads(ctl("--json", "info", pool, check=0).stdout)["masters"] == []


def test_mkfs_refuses_while_a_standby_beats(pool):
    # A standby of another host beats every 0.2 s: its slot's bytes change.
    stop = threading.Event()

    def beat():
        hb = 10
        while not stop.is_set():
            write_at(pool, slot_at(6), elect_slot(6, 1, host=b"elsewhere", heartbeat=hb,
                                                  lease_ns=800_000_000))
            hb += 1
            stop.wait(0.2)

    t = threading.Thread(target=beat)
    t.start()
    try:
        r = ctl("mkfs", pool, "--force", "--log-size", "1M", check=8)
    finally:
        stop.set()
        t.join()
    assert "refusing to format" in r.stderr and "election slot 6" in r.stderr, r.stderr
    assert "standby on host elsewhere" in r.stderr
    # Nobody beats any more: after the watch, the pool is formatted.
    r = ctl("mkfs", pool, "--force", "--log-size", "1M", check=0)
    assert "taking its master for dead" in r.stderr, r.stderr
    assert json.loads(ctl("--json", "info", pool, check=0).stdout)["masters"] == []
