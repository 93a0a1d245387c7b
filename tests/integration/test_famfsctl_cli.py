"""famfsctl's command line as cxl-cli, daxctl and ndctl have it, with real
runs against real pool files, a real master and a real FUSE agent:

- options anywhere after the command (and still before it), for the
  command's own options and the global ones (--json, --offset,
  --coherence, --url, ...); "--" ends them;
- `help [COMMAND]`, `COMMAND --help`, `--version`, and the README's
  famfsctl section naming every command and exit code;
- usage errors exit 16, before any device is opened or master asked;
- -u/--human in info, logdump, stat and getmap, modes in octal always;
- getmap: the extents the master gives match the pool's log record;
- cp [-r]: each destination created through the API with the source's
  size, mode and owner, the bytes read back from the pool file itself at
  the file's extents; an identical destination is kept, a different one
  refused; a destination outside a famfsd mount, an empty file, a
  directory without -r, an agent that does not follow in time;
- cp as a user: a file the mount would not let that user write is refused
  before anything is created (the kernel's default_permissions rules);
- cp undoes its own create when the copy fails or is interrupted
  (SIGINT, SIGTERM), and never removes a file that was there before.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from datetime import datetime, timezone

import pytest

from conftest import (FAMFSCTL, FAMFSD, ROOT, SANITIZER_WORDS, SPEC,
                      assert_no_sanitizer_report, famfsctl, free_port,
                      make_pool, read_log, require, stop_local)

MiB = 1 << 20
KiB = 1 << 10
COMMANDS = ["mkfs", "fsck", "info", "logdump", "devices", "status", "ls", "stat",
            "getmap", "create", "mkdir", "rm", "cp", "batch", "quota", "agents", "compact"]
OFFLINE = {"mkfs", "fsck", "info", "logdump"}


def ctl(master, *args, check=0, **kw):
    env = dict(os.environ, FAMFSD_URL=master.url, FAMFSD_TOKEN=master.admin_token)
    return famfsctl(*args, check=check, env=env, **kw)


def js(master, *args):
    return json.loads(ctl(master, *args, "--json").stdout)


def utc(ns):
    """A _ns time as famfsctl -u prints it."""
    day = datetime.fromtimestamp(ns // 10**9, timezone.utc)
    return day.strftime("%Y-%m-%dT%H:%M:%S") + f".{ns % 10**9 // 10**6:03d}Z"


def create_record(pool, name):
    recs = json.loads(famfsctl("logdump", pool, "--json", check=0).stdout)["records"]
    found = [r for r in recs if r["type"] == "create" and r["name"] == name]
    assert len(found) == 1, recs
    return found[0]


def exact(v):
    """A size that is a whole number of KiB, MiB...: as famfsctl -u says it."""
    units = ["B", "KiB", "MiB", "GiB", "TiB"]
    u = 0
    while v >= 1024 and v % 1024 == 0 and u < 4:
        v //= 1024
        u += 1
    return f"{v} {units[u]}"


def pool_bytes(pool, extents, size):
    """A file's bytes read from the pool file at its extents (no mount)."""
    out = bytearray()
    with open(pool, "rb") as f:
        for e in extents:
            f.seek(e["offset"])
            out += f.read(e["length"])
    return bytes(out[:size])


@pytest.fixture
def small_pool(tmp_path):
    """64 MiB, 4 KiB allocation unit, 1 MiB log: quick to fill."""
    return make_pool(tmp_path / "small.img", size="64M", alloc_unit="4K",
                     log_size="1M")


# ---- options anywhere --------------------------------------------------------

def test_global_options_anywhere_after_the_command(small_pool, tmp_path):
    ref = json.loads(famfsctl("--json", "info", small_pool, check=0).stdout)
    for args in (("info", "--json", small_pool), ("info", small_pool, "--json"),
                 ("info", "-j", small_pool), ("-j", "info", small_pool)):
        got = json.loads(famfsctl(*args, check=0).stdout)
        assert got["pool_uuid"] == ref["pool_uuid"], args
    for args in (("fsck", small_pool, "--json"), ("fsck", "--json", small_pool),
                 ("--json", "fsck", small_pool)):
        assert json.loads(famfsctl(*args, check=0).stdout)["clean"] is True
    # --coherence takes effect wherever it stands (auto would pick another).
    for pos in ("before", "between", "after"):
        args = {"before": ("--coherence", "none", "info", "--json", small_pool),
                "between": ("info", "--coherence", "none", "--json", small_pool),
                "after": ("info", small_pool, "--json", "-c", "none")}[pos]
        assert json.loads(famfsctl(*args, check=0).stdout)["cache_ops"] == "none"
    assert ref["cache_ops"] != "none"
    # --offset: a pool 1 MiB into a file is found only with it.
    dev = str(tmp_path / "offset.img")
    famfsctl("mkfs", dev, "--create", "33M", "--offset", "1M", "--log-size", "1M",
             "--alloc-unit", "4K", check=0)
    famfsctl("info", dev, "--json", check=8)
    for args in (("--offset", "1M", "info", dev), ("info", "--offset", "1M", dev),
                 ("info", dev, "-o", "1M"), ("info", dev, "--offset=1048576")):
        got = json.loads(famfsctl(*args, "--json", check=0).stdout)
        assert got["device_size"] == 32 * MiB, args
    for args in (("fsck", dev, "--offset", "1M"), ("--offset", "1M", "fsck", dev)):
        assert json.loads(famfsctl(*args, "--json", check=0).stdout)["clean"], args


def test_double_dash_ends_the_options(tmp_path):
    make_pool(tmp_path / "-odd.img", size="16M", alloc_unit="4K", log_size="1M")
    p = subprocess.run([FAMFSCTL, "info", "--json", "--", "-odd.img"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["device_size"] == 16 * MiB
    # Without "--" it is an option: -o with the value "dd.img".
    p = subprocess.run([FAMFSCTL, "info", "-odd.img"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 16 and "bad value 'dd.img' for --offset" in p.stderr, p


def test_command_options_anywhere_and_online_options_after(master):
    for i in range(4):
        ctl(master, "mkdir", f"/d{i}")
    seqs = lambda *args: [r["seq"] for r in json.loads(  # noqa: E731
        famfsctl(*args, check=0).stdout)["records"]]
    assert seqs("logdump", master.pool, "--from", "2", "--limit", "2",
                "--json") == [2, 3]
    assert seqs("logdump", "--limit", "1", "--json", master.pool,
                "--from", "3") == [3]
    assert seqs("--json", "logdump", "-f", "4", master.pool) == [4]
    # --url and --token after the operand beat an environment that is wrong.
    env = {"PATH": os.environ["PATH"], "FAMFSD_URL": f"http://127.0.0.1:{free_port()}",
           "FAMFSD_TOKEN": "wrong-0123456789abcdef"}
    p = famfsctl("stat", "/d1", "--token", master.admin_token, "--json", "--url",
                 master.url, check=0, env=env)
    SPEC.validate_component(json.loads(p.stdout), "File")
    p = famfsctl("mkdir", "--url", master.url, "/d9", "--mode", "700", "--token",
                 master.admin_token, "--json", check=0, env=env)
    assert json.loads(p.stdout)["mode"] == 0o700


# ---- help, version, exit codes ------------------------------------------------

def test_help_lists_every_command_and_exit_code():
    top = famfsctl("help", check=0).stdout
    listed = re.findall(r"^  ([a-z]+) {2,}", top, re.M)
    assert listed == COMMANDS
    for code in ("0", "1", "4", "8", "16"):
        assert re.search(rf"^  {code} +\S", top, re.M), code
    assert famfsctl("--help", check=0).stdout == top
    assert famfsctl("-h", check=0).stdout == top
    famfsctl("help", "nosuch", check=16)
    famfsctl("help", "info", "fsck", check=16)
    # No command at all: the help on stderr, and a usage error.
    p = famfsctl(check=16)
    assert p.stdout == "" and "famfsctl help" in p.stderr


@pytest.mark.parametrize("cmd", COMMANDS)
def test_command_help_without_running_it(cmd, tmp_path):
    h = famfsctl("help", cmd, check=0)
    assert h.stdout.startswith(f"usage: famfsctl {cmd}")
    for where in (("--help",), ("-h",), ("x", "--help"), ("--help", "x", "y")):
        p = famfsctl(cmd, *where, check=0, env=dict(os.environ, FAMFSD_URL=
                     f"http://127.0.0.1:{free_port()}"))
        assert p.stdout == h.stdout, where
        assert p.stderr == "", where            # nothing was opened or asked
    text = h.stdout
    assert ("--offset N" in text) == (cmd in OFFLINE)
    assert ("--url URL" in text) == (cmd not in OFFLINE | {"devices"})
    assert ("--human" in text) == (cmd in {"info", "logdump", "ls", "stat",
                                           "getmap", "create", "mkdir"})
    assert "exit codes:" in text and "16  usage error" in text


def test_version_names_the_release_and_the_pool_format(small_pool):
    v = famfsctl("--version", check=0).stdout
    m = re.fullmatch(r"famfsctl (\d+\.\d+\.\d+) \(pool format (\d+)\)\n", v)
    assert m, v
    info = json.loads(famfsctl("info", small_pool, "--json", check=0).stdout)
    assert int(m.group(2)) == info["format_version"]


def test_readme_documents_every_command_and_exit_code():
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    section = readme.split("## famfsctl", 1)[1].split("\n## ", 1)[0]
    for cmd in COMMANDS:
        assert re.search(rf"famfsctl {cmd}\b", section), cmd
    for code in ("0", "1", "4", "8", "16"):
        assert re.search(rf"(^|\n)\| *{code} *\|", section), code
    for opt in ("--json", "--human", "--offset", "--coherence", "--url",
                "--token", "--version", "help"):
        assert opt in section, opt


# Command lines that are wrong: each must exit 16 before it opens a device
# or asks the master (a closed port would make that 8), saying what is wrong.
USAGE_ERRORS = [
    (("frobnicate",), "unknown command 'frobnicate'"),
    (("--bogus", "info", "P"), "unknown option '--bogus'"),
    (("--offset", "zz", "info", "P"), "bad value 'zz' for --offset"),
    (("info",), "no DEVICE"),
    (("info", "P", "P2"), "one DEVICE only"),
    (("info", "P", "--bogus"), "unknown option '--bogus'"),
    (("info", "-jx", "P"), "unknown option '-x'"),
    (("info", "P", "--offset"), "missing value for '--offset'"),
    (("info", "P", "--offset", "12Q"), "bad value '12Q' for --offset"),
    (("info", "P", "--coherence", "magic"), "bad value 'magic' for --coherence"),
    (("info", "P", "--url", "http://x"), "unknown option '--url'"),
    (("mkfs", "P", "--human"), "unknown option '--human'"),
    (("mkfs", "P", "--log-size", "lots"), "bad value 'lots' for --log-size"),
    (("logdump", "P", "--from", "-1"), "bad value '-1' for --from"),
    (("logdump", "P", "--limit", "many"), "bad value 'many' for --limit"),
    (("fsck", "P", "--repair=yes"), "'--repair' takes no value"),
    (("devices", "prepare"), "usage: famfsctl devices"),
    (("status", "extra"), "no operands"),
    (("status", "--offset", "4096"), "unknown option '--offset'"),
    (("stat",), "no PATH"),
    (("getmap", "/a", "/b"), "one PATH only"),
    (("create", "/a"), "--size is needed"),
    (("create", "/a", "--size", "0"), "bad value '0' for --size"),
    (("create", "/a", "--size", "1", "--uid", "-5"), "bad value '-5' for --uid"),
    (("mkdir", "/x", "--mode", "999"), "bad value '999' for --mode"),
    (("rm", "/x", "--dir=1"), "'--dir' takes no value"),
    (("quota", "set", "tA"), "set needs --max-bytes or --max-files"),
    (("quota", "get", "--max-files", "3"), "the limits are for quota set"),
    (("quota", "set", "tA", "--max-bytes", "x"), "bad value 'x' for --max-bytes"),
    (("agents", "node-1"), "no operands"),
    (("compact", "now"), "no operands"),
    (("compact", "--timeout", "0"), "bad value '0' for --timeout"),
    (("compact", "--timeout", "1m"), "bad value '1m' for --timeout"),
    (("cp", "/etc/hostname"), "no DEST"),
    (("cp", "/etc/hostname", "/tmp", "--timeout", "0"), "bad value '0' for --timeout"),
    (("cp", "/etc/hostname", "/tmp", "--json"), "unknown option '--json'"),
]


@pytest.mark.parametrize("args,says", USAGE_ERRORS)
def test_usage_errors_exit_16_saying_why(args, says, small_pool):
    args = [small_pool if a == "P" else a for a in args]
    env = dict(os.environ, FAMFSD_URL=f"http://127.0.0.1:{free_port()}",
               FAMFSD_TOKEN="x" * 20)
    p = famfsctl(*args, env=env)
    assert p.returncode == 16, (args, p.returncode, p.stdout, p.stderr)
    assert says in p.stderr, (args, p.stderr)
    assert p.stdout == ""


def test_errors_that_are_not_usage_keep_their_codes(small_pool, tmp_path):
    famfsctl("info", str(tmp_path / "missing"), check=8)
    r = famfsctl("status", "--url", f"http://127.0.0.1:{free_port()}", "--token",
                 "x" * 20, check=8)
    assert "failed to reach the master" in r.stderr
    famfsctl("fsck", small_pool, check=0)


# ---- --human, octal modes -------------------------------------------------------

def test_info_human_and_raw(pool, master):
    raw = famfsctl("info", pool, check=0).stdout
    hum = famfsctl("info", pool, "-u", check=0).stdout
    info = json.loads(famfsctl("info", pool, "--json", check=0).stdout)
    assert re.search(r"^device_size +4294967296$", raw, re.M), raw
    assert re.search(r"^device_size +4 GiB$", hum, re.M), hum
    assert re.search(r"^alloc_unit +2 MiB$", hum, re.M)
    assert re.search(r"^log_size +64 MiB$", hum, re.M)
    assert re.search(rf"^created_ns +{info['created_ns']}$", raw, re.M)
    assert re.search(rf"^created +{re.escape(utc(info['created_ns']))}$", hum, re.M)
    renewed = info["master_lease"]["renewed_ns"]
    assert re.search(r"^lease.renewed +20\d\d-\d\d-\d\dT[\d:.]+Z$", hum, re.M), hum
    assert abs(renewed / 1e9 - time.time()) < 60


def test_logdump_modes_in_octal_and_human_sizes(master):
    ctl(master, "mkdir", "/d", "--mode", "750")
    f = js(master, "create", "/d/f", "--size", "3M", "--mode", "640", "--uid", "7")
    ctl(master, "create", "/d/g", "--size", "1536")
    ctl(master, "quota", "set", "tA", "--max-bytes", "5G")
    raw = famfsctl("logdump", master.pool, check=0).stdout.splitlines()
    hum = famfsctl("logdump", master.pool, "--human", check=0).stdout.splitlines()
    # First the generation's line, then the records (no checkpoint yet).
    assert raw[0].startswith("generation=1 base_seq=0 ") and \
        " checkpoint_bytes=0 " in raw[0] and ' checkpoint_bytes="0 B" ' in hum[0]
    raw, hum = raw[1:], hum[1:]
    assert len(raw) == len(hum) == 4
    assert " mode=0750 " in raw[0] and " mode=0750 " in hum[0]
    assert " mode=0640 " in raw[1] and " mode=0640 " in hum[1]
    assert "mode=420" not in "".join(raw) and " mode=0644 " in raw[2]
    assert f" size={3 * MiB} " in raw[1] and ' size="3 MiB" ' in hum[1]
    assert ' size="1.5 KiB" ' in hum[2]
    assert f" mtime_ns={f['mtime_ns']} " in raw[1]
    assert f" mtime={utc(f['mtime_ns'])} " in hum[1]
    ext = f["extents"]
    assert f"extents={json.dumps(ext, separators=(',', ':'))}" in raw[1]
    want = ",".join(f"{exact(e['length'])}@{exact(e['offset'])}" for e in ext)
    assert f'extents="{want}"' in hum[1]
    assert ' max_bytes="5 GiB"' in hum[3] and f" max_bytes={5 << 30}" in raw[3]
    # --json keeps the numbers, and carries mtime_ns too.
    rec = create_record(master.pool, "f")
    assert rec["mode"] == 0o640 and rec["mtime_ns"] == f["mtime_ns"]


def test_stat_and_ls_human(master):
    f = js(master, "create", "/big", "--size", "3G", "--mode", "600")
    raw = ctl(master, "stat", "/big").stdout
    hum = ctl(master, "stat", "-u", "/big").stdout
    assert re.search(rf"^size +{3 << 30}$", raw, re.M), raw
    assert re.search(r"^size +3 GiB$", hum, re.M), hum
    assert re.search(r"^mode +0600$", raw, re.M) and re.search(r"^mode +0600$", hum, re.M)
    assert re.search(rf"^mtime_ns +{f['mtime_ns']}$", raw, re.M)
    assert re.search(rf"^mtime +{re.escape(utc(f['mtime_ns']))}$", hum, re.M)
    first = f["extents"][0]
    assert re.search(rf"^  offset {first['offset']} +length {first['length']}$",
                     raw, re.M), raw
    assert re.search(rf"^  offset {exact(first['offset'])} +length "
                     rf"{exact(first['length'])}$", hum, re.M), hum
    assert "3 GiB" in ctl(master, "ls", "/", "--human").stdout
    assert str(3 << 30) in ctl(master, "ls", "/").stdout


# ---- getmap ----------------------------------------------------------------------

def fragment(master, unit=1 * MiB):
    """Fills a small pool with 1 MiB files and deletes every other one, so a
    larger file must take several extents. Returns the holes' count."""
    api = master.client()
    made = 0
    for i in range(200):
        r = api.put(f"/v1/files/fill{i}", json={"size": unit}, expect=(201, 507))
        if r.status_code == 507:
            break
        made += 1
    assert 20 <= made < 200, made
    for i in range(0, made, 2):
        api.delete(f"/v1/files/fill{i}", expect=200)
    # No agent: the space comes back once the master reclaims it.
    deadline = time.monotonic() + 20
    while api.get("/v1/pool", expect=200).json()["pending_reclaim_bytes"]:
        assert time.monotonic() < deadline, "reclaim did not finish"
        time.sleep(0.05)
    return (made + 1) // 2


def test_getmap_gives_the_extents_the_log_holds(small_pool, master_factory):
    m = master_factory(small_pool, args=["--reclaim-grace-ms", "0"])
    fragment(m)
    f = js(m, "create", "/frag", "--size", str(3 * MiB + 5))
    g = js(m, "getmap", "/frag")
    assert g == {"path": "/frag", "ino": f["ino"], "size": 3 * MiB + 5,
                 "extents": f["extents"]}
    assert len(g["extents"]) >= 3, g          # the holes are 1 MiB each
    assert sum(e["length"] for e in g["extents"]) == 3 * MiB + 4 * KiB
    rec = create_record(small_pool, "frag")
    assert rec["extents"] == g["extents"] and rec["ino"] == g["ino"]
    text = ctl(m, "getmap", "/frag").stdout.splitlines()
    assert text[:3] == ["path     /frag", f"size     {3 * MiB + 5}",
                        f"extents  {len(g['extents'])}"]
    rows = [tuple(map(int, re.fullmatch(r"  offset (\d+) +length (\d+)", t).groups()))
            for t in text[3:]]
    assert rows == [(e["offset"], e["length"]) for e in g["extents"]]
    hum = ctl(m, "getmap", "/frag", "-u").stdout
    assert re.search(r"^size +3.0 MiB$", hum, re.M), hum
    # A directory has no extents; a missing path is the master's 404.
    ctl(m, "mkdir", "/dir")
    r = ctl(m, "getmap", "/dir", check=1)
    assert "is a directory" in r.stderr
    r = ctl(m, "getmap", "/nope", check=1)
    assert "404 not-found" in r.stderr


# ---- cp ----------------------------------------------------------------------------

class Agent:
    """A FUSE agent following a master (feed and heartbeats)."""

    def __init__(self, master, workdir, name="mnt", poll_ms=10, feed=True):
        self.mount = os.path.join(str(workdir), name)
        os.makedirs(self.mount, exist_ok=True)
        token = os.path.join(str(workdir), f"{name}.token")
        with open(token, "w") as f:
            f.write(master.agent_token + "\n")
        os.chmod(token, 0o600)
        self.log = os.path.join(str(workdir), f"{name}.stderr")
        argv = [FAMFSD, "agent", "--pool", master.pool, "--mount", self.mount,
                "--poll-ms", str(poll_ms), "--agent-id", name]
        if feed:
            argv += ["--master", master.url, "--token-file", token]
        with open(self.log, "w") as err:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + 20
        while not os.path.ismount(self.mount):
            assert self.proc.poll() is None, read_log(self.log)
            assert time.monotonic() < deadline, "not mounted:\n" + read_log(self.log)
            time.sleep(0.01)

    def p(self, *rel):
        return os.path.join(self.mount, *rel)

    def close(self):
        stop_local(self.proc, self.mount, 15)
        text = read_log(self.log)
        assert_no_sanitizer_report(text)
        assert "error:" not in text, text


@pytest.fixture
def agent_factory(tmp_path):
    require(os.geteuid() == 0, "FUSE mounts with allow_other need root")
    require(os.path.exists("/dev/fuse"), "/dev/fuse is missing")
    started = []

    def start(master, workdir=None, **kw):
        a = Agent(master, workdir or tmp_path, name=f"mnt{len(started)}", **kw)
        started.append(a)
        return a

    yield start
    for a in started:
        a.close()


def source_file(path, size, mode=0o644, uid=0, gid=0, seed=1):
    data = os.urandom(size) if seed else bytes(size)
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)
    os.chown(path, uid, gid)
    return data


def check_copied(master, fs_path, local, data=None):
    """The pool holds local's attributes and bytes at fs_path, read from the
    pool file at getmap's extents (not through any mount)."""
    st = os.stat(local)
    g = js(master, "getmap", fs_path)
    f = js(master, "stat", fs_path)
    assert (f["size"], f["mode"], f["uid"], f["gid"]) == \
        (st.st_size, st.st_mode & 0o7777, st.st_uid, st.st_gid), (f, st)
    with open(local, "rb") as src:
        want = src.read() if data is None else data
    assert pool_bytes(master.pool, g["extents"], f["size"]) == want


def last_seq(master):
    return js(master, "status")["last_seq"]


def test_cp_one_file_then_identical_kept_then_different_refused(
        master, agent_factory, tmp_path):
    a = agent_factory(master)
    src = str(tmp_path / "a.bin")
    data = source_file(src, 5 * MiB + 123, mode=0o640, uid=1234, gid=5678)
    ctl(master, "cp", src, a.mount)
    check_copied(master, "/a.bin", src)
    # The mount shows the same bytes (the other read path).
    with open(a.p("a.bin"), "rb") as f:
        assert f.read() == data
    # Again: identical, kept, nothing published.
    seq = last_seq(master)
    r = ctl(master, "cp", "-v", src, a.p("a.bin"))
    assert "identical, kept" in r.stdout and last_seq(master) == seq
    # Same size and attributes, other bytes: refused, the pool keeps its own.
    other = str(tmp_path / "other" / "a.bin")
    os.makedirs(os.path.dirname(other))
    source_file(other, 5 * MiB + 123, mode=0o640, uid=1234, gid=5678, seed=2)
    r = ctl(master, "cp", other, a.mount + "/", check=1)
    assert "other bytes" in r.stderr and "famfsctl rm" in r.stderr
    check_copied(master, "/a.bin", src)
    # Other attributes: refused, naming what differs.
    os.chmod(other, 0o600)
    r = ctl(master, "cp", other, a.p("a.bin"), check=1)
    assert "mode 0640 (source 0600)" in r.stderr, r.stderr
    small = str(tmp_path / "small")
    source_file(small, 10, mode=0o640, uid=1234, gid=5678)
    r = ctl(master, "cp", small, a.p("a.bin"), check=1)
    assert f"size {5 * MiB + 123} (source 10)" in r.stderr, r.stderr
    assert last_seq(master) == seq
    check_copied(master, "/a.bin", src)


def test_cp_recursive_tree(master, agent_factory, tmp_path):
    a = agent_factory(master)
    tree = tmp_path / "tree"
    (tree / "sub" / "deeper").mkdir(parents=True)
    (tree / "empty-dir").mkdir()
    os.chmod(tree / "sub", 0o750)
    files = {"one": 1, "sub/two": 2 * MiB, "sub/deeper/three": 3 * MiB + 7,
             "sub/deeper/four": 4096}
    for i, (rel, size) in enumerate(sorted(files.items())):
        source_file(str(tree / rel), size, mode=0o600 + i, uid=100 + i, gid=200)
    # Without -r a directory is refused; DEST inside the mount, not yet there.
    r = ctl(master, "cp", str(tree), a.p("copy"), check=1)
    assert "is a directory" in r.stderr
    ctl(master, "cp", "-r", str(tree), a.p("copy"))
    for rel in files:
        check_copied(master, f"/copy/{rel}", str(tree / rel))
    for rel in ("", "sub", "sub/deeper", "empty-dir"):
        st = os.stat(tree / rel)
        d = js(master, "stat", f"/copy/{rel}".rstrip("/"))
        assert d["type"] == "dir" and d["mode"] == st.st_mode & 0o7777, rel
    listing = sorted(e["path"] for e in js(master, "ls", "/copy/sub")["entries"])
    assert listing == ["/copy/sub/deeper", "/copy/sub/two"]
    # Into an existing directory: the tree lands under its own name, and a
    # second run keeps everything.
    ctl(master, "mkdir", "/into")
    ctl(master, "cp", "-r", str(tree), a.p("into"))
    check_copied(master, "/into/tree/sub/deeper/three", str(tree / "sub/deeper/three"))
    seq = last_seq(master)
    ctl(master, "cp", "-r", str(tree), a.p("into"))
    assert last_seq(master) == seq
    # Several sources need a directory to go into.
    ctl(master, "cp", str(tree / "one"), str(tree / "sub/two"), a.p("into"))
    check_copied(master, "/into/two", str(tree / "sub/two"))
    r = ctl(master, "cp", str(tree / "one"), str(tree / "sub/two"),
            a.p("into", "one"), check=8)
    assert "needs DEST to be a directory" in r.stderr


def test_cp_across_extents_of_a_fragmented_pool(small_pool, master_factory,
                                                 agent_factory, tmp_path):
    m = master_factory(small_pool, args=["--reclaim-grace-ms", "0"])
    fragment(m)
    a = agent_factory(m)
    src = str(tmp_path / "frag.bin")
    source_file(src, 3 * MiB + 100 * KiB + 3)
    ctl(m, "cp", src, a.mount)
    assert len(js(m, "getmap", "/frag.bin")["extents"]) >= 4
    check_copied(m, "/frag.bin", src)


def test_cp_refusals(master, agent_factory, tmp_path):
    a = agent_factory(master)
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    r = ctl(master, "cp", str(empty), a.mount, check=1)
    assert "is empty" in r.stderr
    ctl(master, "stat", "/empty", check=1)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    r = ctl(master, "cp", str(fifo), a.mount, check=1)
    assert "neither a regular file nor a directory" in r.stderr
    src = tmp_path / "x"
    src.write_bytes(b"x" * 100)
    r = ctl(master, "cp", str(src), str(tmp_path / "elsewhere"), check=8)
    assert "is not in a famfsd mount of this host" in r.stderr
    r = ctl(master, "cp", str(src), a.p("no-such-dir", "x"), check=8)
    assert "Failed to resolve the directory" in r.stderr
    # A file where a directory is to be: refused, said so.
    ctl(master, "create", "/d", "--size", "1")
    d = tmp_path / "d"
    d.mkdir()
    r = ctl(master, "cp", "-r", str(d), a.mount, check=1)
    assert "it is a file" in r.stderr
    # One refusal does not stop the others; the exit code is the worst.
    r = ctl(master, "cp", str(empty), str(src), a.mount, check=1)
    check_copied(master, "/x", str(src))
    # The master refuses (a tenant token outside its tenant): its problem.
    r = ctl(master, "cp", str(src), a.p("x2"), "--token",
            master.tenant_tokens["tA"], check=1)
    assert "403 forbidden" in r.stderr


def test_cp_waits_for_the_agent_with_a_deadline(master, agent_factory, tmp_path):
    # No feed and a one-minute poll: the agent will not see the create soon.
    a = agent_factory(master, poll_ms=60000, feed=False)
    src = tmp_path / "late"
    src.write_bytes(b"late" * 1000)
    t0 = time.monotonic()
    r = ctl(master, "cp", "--timeout", "1", str(src), a.mount, check=8)
    assert time.monotonic() - t0 < 10
    assert "did not show in the mount within 1 s" in r.stderr, r.stderr
    # The file this run created is removed again: a retry starts clean.
    assert "'%s' removed again" % a.p("late") in r.stderr, r.stderr
    r = ctl(master, "stat", "/late", check=1)
    assert "404 not-found" in r.stderr
    # A file that was there before (the PUT answers 200) is never removed.
    source_file(str(src), 4000, mode=0o644)
    ctl(master, "create", "/late", "--size", "4000", "--mode", "644")
    seq = last_seq(master)
    r = ctl(master, "cp", "--timeout", "1", str(src), a.mount, check=8)
    assert "did not show in the mount" in r.stderr and "removed" not in r.stderr
    assert js(master, "stat", "/late")["size"] == 4000 and last_seq(master) == seq


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_cp_interrupted_removes_the_file_it_created(master, agent_factory,
                                                     tmp_path, sig):
    # The agent will not see the create: cp waits in C2 when the signal comes.
    a = agent_factory(master, poll_ms=60000, feed=False)
    src = tmp_path / "stopped"
    source_file(str(src), 3 * MiB)
    env = dict(os.environ, FAMFSD_URL=master.url, FAMFSD_TOKEN=master.admin_token)
    p = subprocess.Popen([FAMFSCTL, "cp", "--timeout", "60", str(src), a.mount],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    api = master.client()
    deadline = time.monotonic() + 30
    while api.get("/v1/files/stopped", validate=False).status_code != 200:
        assert p.poll() is None, p.communicate()
        assert time.monotonic() < deadline, "cp did not create /stopped"
        time.sleep(0.01)
    p.send_signal(sig)
    out, err = p.communicate(timeout=30)
    # Killed by the signal, as a shell expects, after undoing the create.
    assert p.returncode == -sig, (p.returncode, err)
    assert "interrupted by" in err and "removed again" in err, err
    api.get("/v1/files/stopped", expect=404)
    assert not [w for w in SANITIZER_WORDS if w in err], err


NOBODY = 65534


def as_nobody():
    """preexec_fn: uid and gid 65534, no supplementary groups."""
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


@pytest.fixture
def shared_dir():
    """A directory other users may enter (pytest's tmp_path is root's only).
    Asked for before agent_factory, so it is removed after the agents."""
    d = tempfile.mkdtemp(prefix="famfsd-cp-")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_cp_as_a_user_refuses_what_the_mount_would_not_let_it_write(
        shared_dir, master, agent_factory):
    a = agent_factory(master, workdir=shared_dir)   # a mount the user can reach
    token = os.path.join(shared_dir, "token")
    with open(token, "w") as f:
        f.write(master.admin_token + "\n")
    os.chmod(token, 0o600)
    os.chown(token, NOBODY, NOBODY)

    def cp_as_nobody(*args, check):
        p = subprocess.run([FAMFSCTL, "cp", *args, "--token-file", token],
                           env=dict(os.environ, FAMFSD_URL=master.url),
                           preexec_fn=as_nobody, capture_output=True, text=True,
                           timeout=120)
        assert p.returncode == check, (args, p.returncode, p.stdout, p.stderr)
        assert not [w for w in SANITIZER_WORDS if w in p.stderr], p.stderr
        return p

    # name, mode and owner, and whether the mount lets uid 65534 (group
    # 65534) write and read it: the kernel's default_permissions takes
    # the owner's bits for the owner, else the group's for a member, else
    # the others'; one class only.
    cases = [("ro", 0o444, NOBODY, NOBODY, False),
             ("rw", 0o644, NOBODY, NOBODY, True),
             ("owner-ro-group-rw", 0o464, NOBODY, NOBODY, False),
             ("group-rw", 0o460, 0, NOBODY, True),
             ("other-rw", 0o606, 0, 0, True)]
    for name, mode, uid, gid, ok in cases:
        src = os.path.join(shared_dir, name)
        source_file(src, 2 * MiB + 1, mode=mode, uid=uid, gid=gid)
        seq = last_seq(master)
        if ok:
            cp_as_nobody(src, a.mount, check=0)
            check_copied(master, "/" + name, src)
            continue
        r = cp_as_nobody(src, a.mount, check=1)
        assert (f"would be mode 0{mode:o} owned by {uid}:{gid}" in r.stderr
                and "nothing created" in r.stderr), r.stderr
        # Refused before the create: nothing appended to the log.
        assert last_seq(master) == seq, name
        ctl(master, "stat", "/" + name, check=1)
    # Once root has copied it, the user's cp finds it identical: reading
    # back needs no write permission.
    ro = os.path.join(shared_dir, "ro")
    ctl(master, "cp", ro, a.mount)
    seq = last_seq(master)
    r = cp_as_nobody("-v", ro, a.mount, check=0)
    assert "identical, kept" in r.stdout and last_seq(master) == seq
