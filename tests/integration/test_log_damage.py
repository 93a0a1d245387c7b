"""Damage to the log's metadata on a live pool (a master and a FUSE agent
following it) and offline: bytes written into the pool file at the exact
offsets of a record, a checkpoint item, a tail slot, the area header, a
whole poisoned cache line and a few lines. The master's scrub finds each
within a bounded time, repairs it (the copy's bytes equal the other copy's
again) and reports it with its place in GET /v1/pool, /metrics and its
log, while the agent keeps serving the full tree. The issue's "one flipped
byte bricks the pool": a restart of both daemons with one copy damaged
starts with the full tree. Offline, famfsctl fsck --repair mends the same
images; with both copies of a record bad it says which records are lost
and cuts the log after the last good one; live, both copies bad is healed
by a compaction from the master's memory."""

import json
import os
import re
import struct
import subprocess
import time

import pytest

from conftest import (FAMFSD, LOG_AREAS, LOG_HDR_SIZE, SPEC,
                      api_tree, famfsctl, format_h, format_struct, log_area,
                      make_pool, read_log, require, stop_local, assert_no_sanitizer_report)

LOG_HDR = format_struct("famfs_log_hdr")
TAIL = format_struct("famfs_log_tail")
REC_HDR = struct.Struct("<IHHIIQQ")     # crc type flags len reserved seq epoch
assert REC_HDR.size == format_struct("famfs_rec_hdr")["sizeof"]
LINE = format_h(r"#define FAMFS_CACHELINE\s+(\d+)u")
SCRUB = ["--scrub-rate", "1024", "--reclaim-grace-ms", "0"]
FOUND_WITHIN = 20           # seconds: a pass takes well under one at 1 GiB/s


def wait_until(what, fn, timeout=FOUND_WITHIN):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


# ---- the layout of the log in the pool file (kmod/uapi/famfsd_format.h) --------

class Layout:
    """Where the current generation's copies lie, from famfsctl info."""

    def __init__(self, pool):
        self.pool = pool
        info = json.loads(famfsctl("--json", "info", pool, check=0).stdout)
        self.info = info
        self.gen = info["log_generation"]
        self.log_offset = info["log_offset"]
        self.area = info["log_size"] // LOG_AREAS & ~(LOG_HDR_SIZE - 1)
        self.ckpt_bytes = info["checkpoint_bytes"]
        self.ckpt_items = info["checkpoint_items"]
        self.tail_seq = info["last_seq"]

    def area_off(self, copy):
        """famfs_log_area_offset(): from the start of the log region."""
        return log_area(self.info, copy) - self.log_offset

    def body(self, copy):
        """Pool offset of copy's body (checkpoint, then records)."""
        return self.log_offset + self.area_off(copy) + LOG_HDR_SIZE

    def read(self, off, n):
        with open(self.pool, "rb") as f:
            f.seek(off)
            return f.read(n)

    def walk(self, start, n):
        """(seq field, body offset, len) of n records or items from body
        offset start, by the len fields of copy 0 (undamaged yet)."""
        out, off = [], start
        for _ in range(n):
            _, _, _, length, _, seq, _ = REC_HDR.unpack(
                self.read(self.body(0) + off, REC_HDR.size))
            out.append((seq, off, length))
            off += length
        return out

    def records(self):
        """(seq, body offset, len) of each record after the checkpoint."""
        recs = self.walk(self.ckpt_bytes, self.tail_seq - self.base_seq())
        assert [r[0] for r in recs] == list(range(self.base_seq() + 1,
                                                  self.tail_seq + 1)), recs
        return recs

    def items(self):
        """(item number from 1, body offset, len) of each checkpoint item."""
        return [(i + 1, off, length) for i, (_, off, length) in
                enumerate(self.walk(0, self.ckpt_items))]

    def base_seq(self):
        return self.info["base_seq"]

    def same(self, body_off, n):
        """Both copies hold the same n bytes at body_off."""
        return self.read(self.body(0) + body_off, n) == \
            self.read(self.body(1) + body_off, n)

    def copies_equal(self):
        """Both areas byte for byte: header line, slots, body."""
        return self.read(self.log_offset + self.area_off(0), self.area) == \
            self.read(self.log_offset + self.area_off(1), self.area)

    def slot(self, copy, i):
        """Pool offset of tail slot i of copy."""
        return self.log_offset + self.area_off(copy) + LOG_HDR["tail"] + \
            i * TAIL["sizeof"]

    def header(self, copy):
        return self.log_offset + self.area_off(copy)


def smash(pool, off, data):
    with open(pool, "r+b") as f:
        f.seek(off)
        f.write(data)


def flip(pool, off):
    with open(pool, "r+b") as f:
        f.seek(off)
        b = f.read(1)[0]
        f.seek(off)
        f.write(bytes([b ^ 0x10]))


# ---- daemons ----------------------------------------------------------------------

class Agent:
    """A FUSE agent following the master (feed and heartbeats)."""

    def __init__(self, master, workdir, name):
        self.mount = os.path.join(str(workdir), name)
        os.makedirs(self.mount, exist_ok=True)
        self.token = os.path.join(str(workdir), f"{name}.token")
        with open(self.token, "w") as f:
            f.write(master.agent_token + "\n")
        os.chmod(self.token, 0o600)
        self.log = os.path.join(str(workdir), f"{name}.stderr")
        self.argv = [FAMFSD, "agent", "--pool", master.pool, "--mount", self.mount,
                     "--poll-ms", "10", "--agent-id", name, "--master", master.url,
                     "--token-file", self.token]
        self.proc = None
        self.start()

    def start(self):
        with open(self.log, "a") as err:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=err)
        wait_until("the agent's mount", lambda: self.proc.poll() is not None or
                   os.path.ismount(self.mount))
        assert self.proc.poll() is None, read_log(self.log)

    def tree(self):
        """The shape of conftest.api_tree(), from the mount."""
        out = {}
        for d, dirs, files in os.walk(self.mount):
            for n in dirs + files:
                p = os.path.join(d, n)
                st = os.lstat(p)
                isdir = os.path.isdir(p)
                out[p[len(self.mount):]] = ["dir" if isdir else "file",
                                            0 if isdir else st.st_size,
                                            st.st_mode & 0o7777, st.st_uid,
                                            st.st_gid, st.st_ino]
        return out

    def stop(self):
        """False when the agent ignored SIGTERM and was killed."""
        return stop_local(self.proc, self.mount, 15)

    def close(self):
        self.stop()
        text = read_log(self.log)
        assert_no_sanitizer_report(text)
        assert "error:" not in text, text


@pytest.fixture
def agent_factory(tmp_path):
    require(os.geteuid() == 0, "FUSE mounts with allow_other need root")
    require(os.path.exists("/dev/fuse"), "/dev/fuse is missing")
    started = []

    def start(master):
        a = Agent(master, tmp_path, f"mnt{len(started)}")
        started.append(a)
        return a

    yield start
    for a in started:
        a.close()


DATA = os.urandom(12345)


def populate(api, dirs=4, files=30):
    """A tree of some hundred records, and one file's bytes to read back."""
    for d in range(dirs):
        api.put(f"/v1/dirs/d{d}", json={}, expect=201)
        for i in range(files):
            api.put(f"/v1/files/d{d}/f{i:03d}", json={"size": 100 + i}, expect=201)
    api.put("/v1/files/data", json={"size": len(DATA)}, expect=201)


def pool_json(api):
    """GET /v1/pool; its damage object checked against the spec's schema."""
    body = api.get("/v1/pool", expect=200, validate=False).json()
    SPEC.validate_component(body["damage"], "LogDamage")
    return body


def metric(api, name):
    text = api.get("/metrics", expect=200).text
    m = re.search(r"^%s (\d+)$" % re.escape(name), text, re.M)
    assert m, (name, text[-2000:])
    return int(m.group(1))


def damage_settled(api, found):
    """GET /v1/pool once found copies are found and none is left open."""
    d = pool_json(api)["damage"]
    return d if d["found"] >= found and d["unrepaired"] == 0 else None


def repaired_while_serving(api, a, found):
    """Waits for damage_settled(found), checking at every look that the
    agent serves the master's whole tree meanwhile."""
    want = api_tree(api)

    def look():
        assert a.tree() == want
        return damage_settled(api, found)

    return wait_until(f"{found} damaged copies found and repaired", look)


@pytest.fixture
def live(tmp_path, master_factory, agent_factory):
    """A master with a fast scrub and an agent, both on a populated pool;
    the agent has the whole tree and the data file's bytes."""
    pool = make_pool(tmp_path / "pool.img", size="512M", alloc_unit="4K",
                     log_size="1M")
    m = master_factory(pool, args=SCRUB)
    api = m.client()
    a = agent_factory(m)
    populate(api)
    wait_until("the agent's tree", lambda: a.tree() == api_tree(api))
    with open(os.path.join(a.mount, "data"), "r+b") as f:
        f.write(DATA)
    return m, api, a


def assert_serves(api, a):
    """The agent shows the master's tree, and the bytes of the data file."""
    want = api_tree(api)
    assert a.tree() == want
    with open(os.path.join(a.mount, "data"), "rb") as f:
        assert f.read() == DATA


def check_entry(e, part, copy, seq, log_offset, pool_offset, found_by="scrub",
                repaired_by="copy", both=False):
    assert (e["part"], e["copy"], e["seq"], e["both"]) == (part, copy, seq, both), e
    assert (e["log_offset"], e["pool_offset"]) == (log_offset, pool_offset), e
    assert e["found_by"] == found_by, e
    assert e["repaired"] is True and e["repaired_by"] == repaired_by, e
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", e["found_at"]), e


def check_logged(master, part, seq, gen, copy, log_offset, pool_offset):
    """The master's log names the place exactly, and the repair."""
    place = (f"{part} {seq} (generation {gen}, copy {copy}) at log offset "
             f"{log_offset}, pool offset {pool_offset}")
    text = master.stderr()
    assert f"log damage: {place}: " in text, text
    assert f"log damage repaired: {place}: " in text, text


# ---- live --------------------------------------------------------------------------

def test_record_in_copy_0_found_repaired_reported(live):
    m, api, a = live
    lay = Layout(m.pool)
    seq, off, length = lay.records()[len(lay.records()) // 2]
    before = pool_json(api)["damage"]
    assert before["found"] == 0 and before["scrub_passes"] >= 0
    flip(m.pool, lay.body(0) + off + length // 2)
    assert not lay.same(off, length)
    d = repaired_while_serving(api, a, 1)
    assert (d["found"], d["repaired"], d["unrepaired"]) == (1, 1, 0), d
    log_off = lay.area_off(0) + LOG_HDR_SIZE + off
    check_entry(d["last"][0], "record", 0, seq, log_off, lay.log_offset + log_off)
    assert lay.same(off, length) and lay.copies_equal()
    check_logged(m, "record", seq, lay.gen, 0, log_off, lay.log_offset + log_off)
    assert metric(api, "famfsd_log_damage_found_total") == 1
    assert metric(api, "famfsd_log_damage_repaired_total") == 1
    assert metric(api, "famfsd_log_damage_unrepaired") == 0
    assert metric(api, "famfsd_log_scrub_passes_total") >= 1
    assert metric(api, "famfsd_log_scrub_bytes_total") >= 2 * lay.info["log_used"]
    # Served all along, and still written to: the master acknowledges.
    assert_serves(api, a)
    api.put("/v1/files/after", json={"size": 1}, expect=201)
    wait_until("the new file on the agent", lambda: a.tree() == api_tree(api))


def test_checkpoint_item_found_repaired_reported(live):
    m, api, a = live
    r = api.post("/v1/pool/compact", expect=200, timeout=60)
    assert r.json()["checkpoint_items"] > 100
    wait_until("the agent on the new generation", lambda: a.tree() == api_tree(api))
    lay = Layout(m.pool)
    assert lay.gen == 2 and lay.ckpt_items == r.json()["checkpoint_items"]
    n, off, length = lay.items()[77]
    # Copy 1 this time: the scrub reads both copies, not just the first.
    smash(m.pool, lay.body(1) + off + 8, b"\xa5" * 4)
    d = repaired_while_serving(api, a, 1)
    log_off = lay.area_off(1) + LOG_HDR_SIZE + off
    check_entry(d["last"][0], "checkpoint item", 1, n, log_off,
                lay.log_offset + log_off)
    assert lay.copies_equal()
    check_logged(m, "checkpoint item", n, 2, 1, log_off, lay.log_offset + log_off)
    assert_serves(api, a)


@pytest.mark.parametrize("slot", [0, 1])
def test_tail_slot_found_repaired_reported(live, slot):
    m, api, a = live
    lay = Layout(m.pool)
    # No write until it is repaired: a publish would rewrite one slot itself.
    smash(m.pool, lay.slot(0, slot), b"\x00" * TAIL["sizeof"])
    d = repaired_while_serving(api, a, 1)
    log_off = lay.area_off(0) + LOG_HDR["tail"] + slot * TAIL["sizeof"]
    check_entry(d["last"][0], "tail slot", 0, slot, log_off, lay.log_offset + log_off)
    assert lay.read(lay.slot(0, slot), TAIL["sizeof"]) == \
        lay.read(lay.slot(1, slot), TAIL["sizeof"])
    assert lay.copies_equal()
    assert_serves(api, a)


def test_poisoned_line_and_a_few_lines(live):
    m, api, a = live
    lay = Layout(m.pool)
    recs = lay.records()
    # One whole line of copy 0 (an uncorrectable error reads as all ones),
    # and three lines of copy 1 further on.
    one = (recs[10][1] // LINE + 1) * LINE
    three = (recs[60][1] // LINE + 1) * LINE
    smash(m.pool, lay.body(0) + one, b"\xff" * LINE)
    smash(m.pool, lay.body(1) + three, os.urandom(3 * LINE))

    def hit(lo, hi):
        return [r for r in recs if r[1] < hi and r[1] + r[2] > lo]

    want = {(0, r[0]) for r in hit(one, one + LINE)} | \
           {(1, r[0]) for r in hit(three, three + 3 * LINE)}
    assert len(want) >= 3
    d = repaired_while_serving(api, a, len(want))
    got = {(e["copy"], e["seq"]) for e in d["last"]}
    assert d["found"] == len(want) and got == want, (d, want)
    assert all(e["part"] == "record" and e["repaired_by"] == "copy"
               for e in d["last"])
    assert lay.copies_equal()
    assert_serves(api, a)


@pytest.mark.parametrize("part", ["record", "checkpoint item", "area header"])
def test_both_copies_bad_live_compaction_from_memory(live, part):
    m, api, a = live
    if part == "checkpoint item":
        api.post("/v1/pool/compact", expect=200, timeout=60)
        wait_until("the agent on generation 2", lambda: a.tree() == api_tree(api))
    lay = Layout(m.pool)
    for c in (0, 1):
        if part == "record":
            seq, off, length = lay.records()[20]
            flip(m.pool, lay.body(c) + off + 40)
        elif part == "checkpoint item":
            seq, off, length = lay.items()[20]
            flip(m.pool, lay.body(c) + off + 40)
        else:
            seq = 0
            flip(m.pool, lay.header(c) + LOG_HDR["max_ino"])
    d = repaired_while_serving(api, a, 2)
    body = pool_json(api)
    assert body["log_generation"] == lay.gen + 1, body
    entries = [e for e in d["last"] if e["seq"] == seq and e["part"] == part]
    assert sorted(e["copy"] for e in entries) == [0, 1], d
    for e in entries:
        assert e["both"] is True and e["repaired_by"] == "compaction", e
    text = m.stderr()
    assert re.search(r"generation %d left with it; generation %d holds the "
                     r"whole state" % (lay.gen, lay.gen + 1), text), text
    if part == "record":
        # The compaction's replay meets the record: from memory.
        assert re.search(r"compacted into log generation %d from the master's "
                         r"state: .* ms of it holding the lock" % (lay.gen + 1),
                         text), text
    # A checkpoint item is not read again by the compaction after the one
    # that wrote it, nor an area header after the compaction's reader opened
    # the generation (at start): its private state (kept between
    # compactions, following the log) holds them, and a compaction from
    # that replaces the damaged generation.
    # The agent moved to the new generation and serves all of it.
    wait_until("the agent on the new generation", lambda: a.tree() == api_tree(api))
    assert_serves(api, a)
    tree = api_tree(api)
    m.stop()
    famfsctl("fsck", m.pool, check=0)
    m.start()
    assert api_tree(m.client()) == tree


# ---- restarts ---------------------------------------------------------------------

def damage_one_copy(lay, part, copy=0):
    """One damaged byte in one copy of part; (seq, log offset) named for it."""
    if part == "record":
        seq, off, length = lay.records()[5]
        flip(lay.pool, lay.body(copy) + off + length - 1)
        return seq, lay.area_off(copy) + LOG_HDR_SIZE + off
    if part == "checkpoint item":
        n, off, length = lay.items()[5]
        flip(lay.pool, lay.body(copy) + off + length - 1)
        return n, lay.area_off(copy) + LOG_HDR_SIZE + off
    if part == "tail slot":
        # The slot holding the tail: the one readers use first.
        slots = [lay.read(lay.slot(copy, i), 8) for i in (0, 1)]
        i = 0 if struct.unpack("<Q", slots[0]) > struct.unpack("<Q", slots[1]) else 1
        flip(lay.pool, lay.slot(copy, i))
        return i, lay.area_off(copy) + LOG_HDR["tail"] + i * TAIL["sizeof"]
    flip(lay.pool, lay.header(copy) + LOG_HDR["max_ino"])
    return 0, lay.area_off(copy)


@pytest.mark.parametrize("part", ["record", "checkpoint item", "tail slot",
                                  "area header"])
def test_one_flipped_byte_no_longer_bricks_the_pool(tmp_path, master_factory,
                                                   agent_factory, part):
    """The issue's case: one flipped byte in metadata already applied, then
    a restart of the master and the agent. Both start with the full tree;
    the master's own replay finds the damage and repairs it (no scrub)."""
    pool = make_pool(tmp_path / "pool.img", size="512M", alloc_unit="4K",
                     log_size="1M")
    m = master_factory(pool, args=["--scrub-rate", "0", "--reclaim-grace-ms", "0"])
    api = m.client()
    a = agent_factory(m)
    populate(api, dirs=2)
    if part == "checkpoint item":
        api.post("/v1/pool/compact", expect=200, timeout=60)
        for i in range(5):
            api.put(f"/v1/files/late{i}", json={"size": 5}, expect=201)
    tree = wait_until("the agent's tree", lambda: a.tree() == api_tree(api) and
                      api_tree(api))
    with open(os.path.join(a.mount, "data"), "r+b") as f:
        f.write(DATA)
    m.kill()
    a.stop()
    lay = Layout(pool)
    seq, log_off = damage_one_copy(lay, part)
    assert not lay.copies_equal()
    m.start()
    api = m.client()
    assert api_tree(api) == tree
    a.start()
    assert_serves(api, a)
    assert a.tree() == tree
    d = wait_until("the repair at start", lambda: damage_settled(api, 1))
    e = [x for x in d["last"] if x["part"] == part]
    assert e, d
    check_entry(e[0], part, 0, seq, log_off, lay.log_offset + log_off,
                found_by="reader")
    assert lay.copies_equal()
    m.stop()
    famfsctl("fsck", pool, check=0)


# ---- offline -----------------------------------------------------------------------

@pytest.fixture
def stopped(tmp_path, master_factory):
    """A compacted pool with records after its checkpoint; no master runs."""
    pool = make_pool(tmp_path / "pool.img", size="512M", alloc_unit="4K",
                     log_size="1M")
    m = master_factory(pool, args=SCRUB)
    api = m.client()
    populate(api, dirs=2)
    api.post("/v1/pool/compact", expect=200, timeout=60)
    for i in range(20):
        api.put(f"/v1/files/d1/late{i:02d}", json={"size": 7}, expect=201)
    tree = api_tree(api)
    m.stop()
    famfsctl("fsck", pool, check=0)
    return m, pool, tree


def test_fsck_repairs_each_damaged_copy_offline(stopped):
    m, pool, tree = stopped
    lay = Layout(pool)
    want = {}
    for part, copy in (("record", 0), ("checkpoint item", 1), ("tail slot", 0),
                       ("area header", 1)):
        seq, log_off = damage_one_copy(lay, part, copy)
        want[part] = (copy, seq, log_off)
    r = famfsctl("fsck", pool, check=4)
    for part, (copy, seq, log_off) in want.items():
        name = f"{part} {seq}" if part != "area header" else part
        line = (f"log copy {copy} {name} (generation {lay.gen}) at log offset "
                f"{log_off}, pool offset {lay.log_offset + log_off}: ")
        assert line in r.stdout, (line, r.stdout)
    rep = json.loads(famfsctl("--json", "fsck", pool, check=4).stdout)
    assert rep["clean"] is False and rep["damage_count"] == 4 and rep["lost"] is None
    got = {e["part"]: (e["copy"], e["seq"], e["log_offset"]) for e in rep["damage"]}
    assert got == want, rep["damage"]
    assert all(e["repaired"] is None and not e["both"] for e in rep["damage"])
    r = famfsctl("fsck", pool, "--repair", check=1)
    assert r.stdout.count("(repaired from copy") == 3, r.stdout
    assert "(rewritten from the best tail)" in r.stdout, r.stdout
    assert "a second check finds the pool clean" in r.stdout, r.stdout
    assert lay.copies_equal()
    famfsctl("fsck", pool, check=0)
    m.start()
    assert api_tree(m.client()) == tree


def test_fsck_repairs_poisoned_lines_offline(stopped):
    m, pool, tree = stopped
    lay = Layout(pool)
    recs = lay.records()
    items = lay.items()
    # A line of all ones in copy 0's checkpoint, three lines of noise in
    # copy 1's records.
    one = (items[30][1] // LINE + 1) * LINE
    three = (recs[5][1] // LINE + 1) * LINE
    smash(pool, lay.body(0) + one, b"\xff" * LINE)
    smash(pool, lay.body(1) + three, os.urandom(3 * LINE))
    want = {("checkpoint item", 0, n) for n, off, ln in items
            if off < one + LINE and off + ln > one} | \
           {("record", 1, q) for q, off, ln in recs
            if off < three + 3 * LINE and off + ln > three}
    rep = json.loads(famfsctl("--json", "fsck", pool, check=4).stdout)
    assert {(e["part"], e["copy"], e["seq"]) for e in rep["damage"]} == want, rep
    assert rep["records"] == lay.tail_seq and rep["lost"] is None
    rep = json.loads(famfsctl("--json", "fsck", pool, "--repair", check=1).stdout)
    assert rep["repaired"] is True and rep["repaired_copies"] == len(want)
    assert all(e["repaired_by"] == "copy" for e in rep["damage"])
    assert lay.copies_equal()
    famfsctl("fsck", pool, check=0)
    m.start()
    assert api_tree(m.client()) == tree


def test_fsck_says_what_is_lost_when_both_copies_are_bad(stopped):
    m, pool, tree = stopped
    lay = Layout(pool)
    recs = lay.records()
    seq, off, length = recs[-6]          # of the 20 late files, the 15th
    for c in (0, 1):
        flip(pool, lay.body(c) + off + 40)
    m.spawn()
    assert m.wait_exit(20) != 0
    assert f"record {seq} " in m.stderr() and "refusing to start" in m.stderr()
    r = famfsctl("fsck", pool, check=4)
    lo = lay.area_off(0) + LOG_HDR_SIZE + off
    assert (f"lost: records {seq} to {lay.tail_seq} ({lay.tail_seq - seq + 1} "
            f"records, from log offset {lo}, pool offset {lay.log_offset + lo}) "
            f"cannot be replayed in order: record {seq}: record CRC mismatch in "
            f"both copies; the state is as of record {seq - 1}") in r.stdout, r.stdout
    rep = json.loads(famfsctl("--json", "fsck", pool, check=4).stdout)
    assert rep["lost"] == {"in": "records", "from_seq": seq, "to_seq": lay.tail_seq,
                           "records": lay.tail_seq - seq + 1, "log_offset": lo,
                           "pool_offset": lay.log_offset + lo,
                           "reason": "record CRC mismatch"}, rep["lost"]
    assert {(e["copy"], e["seq"], e["both"]) for e in rep["damage"]} == \
        {(0, seq, True), (1, seq, True)}
    rep = json.loads(famfsctl("--json", "fsck", pool, "--repair", check=1).stdout)
    assert rep["truncated"] is True and rep["repaired"] is True
    assert all(e["repaired_by"] == "truncation" for e in rep["damage"])
    r = famfsctl("fsck", pool, check=0)
    assert f"{seq - 1 - lay.base_seq()} records after it checked" in r.stdout, r.stdout
    # The state as of record seq - 1: the late files from the lost one on are gone.
    lost = {f"/d1/late{i:02d}" for i in range(20 - (lay.tail_seq - seq + 1), 20)}
    m.start()
    got = api_tree(m.client())
    assert set(tree) - set(got) == lost and set(got) <= set(tree)
    m.client().put("/v1/files/d1/after-the-cut", json={"size": 1}, expect=201)
