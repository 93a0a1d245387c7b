"""slurm/burst_buffer.lua's hooks against a real famfsd master and agent,
without Slurm: each hook is run by lua5.1 (slurm/tests/run_hook.lua) with
the arguments Slurm 22.05 passes, as slurmscriptd or slurmctld would.
test_slurm.py runs the same script in a real slurmctld; this file covers
what a job cannot show from inside: a rerun of setup writes nothing, the
teardown finds entries the job's set did not start with, the reasons of
refusals, staging's checks, and the time limits of the calls when the
master hangs.
"""

import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import (ADMIN_TOKEN, AGENT_TOKEN, FAMFSCTL, FAMFSD, ROOT, Master,
                      make_pool, mounted, require, stop_local)

RUN_HOOK = os.path.join(ROOT, "slurm", "tests", "run_hook.lua")
MiB = 1 << 20
UNIT = 2 * MiB
USER = "nobody"


class Bed:
    """A master, an agent with a FUSE mount, and the script's config, in a
    0755 directory under /tmp: the stage copies run as the job's user
    (nobody), who must reach the mount and the stage directories."""

    def __init__(self, tmp_path):
        self.dir = tempfile.mkdtemp(prefix="famfsd-bb-")
        os.chmod(self.dir, 0o755)
        pw = pwd.getpwnam(USER)
        self.uid, self.gid = pw.pw_uid, pw.pw_gid
        # Sparse: room for the largest set (1024 files of one unit).
        self.pool = make_pool(os.path.join(self.dir, "pool.img"), "3G")
        self.master = Master(self.pool, tmp_path)
        self.admin_token = self._token("admin.token", ADMIN_TOKEN)
        agent_token = self._token("agent.token", AGENT_TOKEN)
        self.mount = os.path.join(self.dir, "mnt")
        os.makedirs(self.mount)
        self.agent_log = os.path.join(str(tmp_path), "agent.stderr")
        with open(self.agent_log, "w") as err:
            self.agent = subprocess.Popen(
                [FAMFSD, "agent", "--pool", self.pool, "--mount", self.mount,
                 "--master", self.master.url, "--token-file", agent_token,
                 "--poll-ms", "10"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + 15
        while not mounted(self.mount):
            assert self.agent.poll() is None, open(self.agent_log).read()
            assert time.monotonic() < deadline, "the agent did not mount"
            time.sleep(0.05)
        self.state_dir = os.path.join(self.dir, "state")
        os.makedirs(self.state_dir)
        self.conf = os.path.join(self.dir, "bb.conf")
        self.set_conf()

    def _token(self, name, token):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(token + "\n")
        os.chmod(path, 0o600)
        return path

    def set_conf(self, **extra):
        keys = {"famfsctl": FAMFSCTL, "url": self.master.url,
                "token_file": self.admin_token, "tenant": "user",
                "mount": self.mount, "state_dir": self.state_dir, "timeout": "5",
                **extra}
        with open(self.conf, "w") as f:
            f.write("".join(f"{k} = {v}\n" for k, v in keys.items()))

    def hook(self, name, *args, timeout=60, user=None):
        """Runs slurm_bb_<name>(args), as root or as user (a SlurmUser that
        is not root); (rc, msg, seconds it took)."""
        t0 = time.monotonic()
        who = [] if user is None else [
            "setpriv", f"--reuid={pwd.getpwnam(user).pw_uid}",
            f"--regid={pwd.getpwnam(user).pw_gid}", "--init-groups", "--"]
        p = subprocess.run([*who, "lua5.1", RUN_HOOK, name, *map(str, args)],
                           capture_output=True, text=True, timeout=timeout,
                           env={**os.environ, "FAMFSD_BB_CONFIG": self.conf})
        took = time.monotonic() - t0
        assert p.returncode == 0, (name, p.returncode, p.stdout, p.stderr)
        out = json.loads(p.stdout)
        return out["rc"], out["msg"], took

    def script(self, job, directive):
        path = os.path.join(self.dir, f"job{job}.sh")
        with open(path, "w") as f:
            f.write(f"#!/bin/sh\n#SBATCH -N1\n{directive}\nsrun true\n")
        return path

    def setup(self, job, directive, uid=None):
        uid = self.uid if uid is None else uid
        return self.hook("setup", job, uid, self.gid, "famfsd", 0,
                         self.script(job, directive))

    def ctl(self, *args, check=0):
        p = subprocess.run([FAMFSCTL, *map(str, args), "--url", self.master.url,
                            "--token-file", self.admin_token],
                           capture_output=True, text=True, timeout=60)
        if check is not None:
            assert p.returncode == check, (args, p.returncode, p.stdout, p.stderr)
        return p

    def ctl_json(self, *args):
        return json.loads(self.ctl(*args, "--json").stdout)

    def state(self, job):
        path = os.path.join(self.state_dir, f"job{job}.json")
        if not os.path.exists(path):
            return None
        with open(path) as f:
            return json.load(f)

    def user_dir(self, name):
        """A directory the job's user owns, for staging."""
        d = os.path.join(self.dir, name)
        os.makedirs(d)
        os.chown(d, self.uid, self.gid)
        return d

    def close(self):
        try:
            if self.master.running():
                os.kill(self.master.proc.pid, signal.SIGCONT)
            stop_local(self.agent, self.mount, 10)
            self.master.close()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def bed(tmp_path):
    require(shutil.which("lua5.1"), "lua5.1 (apt-get install lua5.1)")
    require(os.geteuid() == 0, "root: the agent's FUSE mount and staging as the job's user")
    require(os.path.exists("/dev/fuse"), "/dev/fuse for the agent's mount")
    b = Bed(tmp_path)
    yield b
    b.close()


def test_setup_again_writes_nothing_and_teardown_deletes_all_the_directory_holds(bed):
    free0 = bed.ctl_json("status")["free_bytes"]
    directive = "#BB_LUA famfsd pool=famfsd capacity=5M files=3"
    rc, msg, _ = bed.setup(11, directive)
    assert (rc, msg) == (0, None)
    st = bed.state(11)
    assert st["phase"] == "ready" and st["tenant"] == USER, st
    listing = bed.ctl_json("ls", f"/{USER}/slurm/job11")["entries"]
    assert [(e["path"], e["size"], e["mode"], e["uid"], e["tenant"]) for e in listing] == [
        (f"/{USER}/slurm/job11/f{i}", UNIT, 0o600, bed.uid, USER) for i in range(3)]
    seq = bed.ctl_json("status")["last_seq"]
    assert st["seq"] == seq

    # A rerun (a restart killed the first one after its batch) succeeds
    # and writes no record.
    rc, msg, _ = bed.setup(11, directive)
    assert (rc, msg) == (0, None)
    assert bed.ctl_json("status")["last_seq"] == seq

    rc, size, _ = bed.hook("real_size", 11)
    assert (rc, size) == (0, str(3 * UNIT))
    path_file = os.path.join(bed.dir, "path11")
    rc, msg, _ = bed.hook("paths", 11, bed.script(11, directive), path_file)
    assert rc == 0, msg
    d = f"{bed.mount}/{USER}/slurm/job11"
    with open(path_file) as f:
        assert f.read() == (f"FAMFSD_DIR={d}\nFAMFSD_FILES={d}/f0:{d}/f1:{d}/f2\n"
                            f"FAMFSD_TENANT={USER}\n")
    rc, msg, took = bed.hook("pre_run", 11, bed.script(11, directive))
    assert rc == 0, msg
    assert took < 5

    # Entries the set did not start with: the teardown lists and deletes
    # them too, deepest first.
    bed.ctl("create", f"/{USER}/slurm/job11/extra", "--size", "1M", "--tenant", USER)
    bed.ctl("mkdir", f"/{USER}/slurm/job11/sub")
    bed.ctl("create", f"/{USER}/slurm/job11/sub/x", "--size", "1M", "--tenant", USER)
    bed.ctl("rm", f"/{USER}/slurm/job11/f1")
    rc, msg, _ = bed.hook("job_teardown", 11, bed.script(11, directive), "false")
    assert (rc, msg) == (0, None)
    p = bed.ctl("ls", f"/{USER}/slurm/job11", check=1)
    assert "404" in p.stderr, p.stderr
    assert bed.state(11) is None
    # The space comes back after the master's reclaim grace (3 s).
    deadline = time.monotonic() + 15
    while bed.ctl_json("status")["free_bytes"] != free0:
        assert time.monotonic() < deadline, bed.ctl_json("status")
        time.sleep(0.2)

    # Again (Slurm retries a teardown it lost): nothing left, success.
    seq = bed.ctl_json("status")["last_seq"]
    rc, msg, _ = bed.hook("job_teardown", 11, bed.script(11, directive), "true")
    assert (rc, msg) == (0, None)
    assert bed.ctl_json("status")["last_seq"] == seq


def test_the_largest_set_in_one_batch_each_way(bed):
    """files=1024: one batch of 1,027 ops at setup, and a teardown whose
    listing takes two pages of famfsctl ls (1,000 entries a page)."""
    free0 = bed.ctl_json("status")["free_bytes"]
    directive = "#BB_LUA famfsd pool=famfsd capacity=1024 files=1024"
    rc, msg, took = bed.setup(51, directive)
    assert rc == 0, msg
    names = [e["path"] for e in bed.ctl_json("ls", f"/{USER}/slurm/job51")["entries"]]
    assert sorted(names) == sorted(f"/{USER}/slurm/job51/f{i}" for i in range(1024))
    path_file = os.path.join(bed.dir, "path51")
    rc, msg, _ = bed.hook("paths", 51, bed.script(51, directive), path_file)
    assert rc == 0, msg
    with open(path_file) as f:
        env = dict(line.split("=", 1) for line in f.read().splitlines())
    assert len(env["FAMFSD_FILES"].split(":")) == 1024
    rc, msg, _ = bed.hook("job_teardown", 51, bed.script(51, directive), "false")
    assert rc == 0, msg
    assert bed.ctl("ls", f"/{USER}/slurm/job51", check=1).returncode == 1
    deadline = time.monotonic() + 15
    while bed.ctl_json("status")["free_bytes"] != free0:
        assert time.monotonic() < deadline, bed.ctl_json("status")
        time.sleep(0.2)


def test_refused_setup_carries_the_masters_reason_and_writes_nothing(bed):
    bed.ctl("quota", "set", USER, "--max-bytes", str(3 * UNIT))
    seq = bed.ctl_json("status")["last_seq"]
    rc, msg, _ = bed.setup(12, "#BB_LUA famfsd pool=famfsd capacity=8M files=4")
    assert rc == -1
    assert msg.startswith(f"famfsd: 4 files of 2.0 MiB under tenant {USER} refused: "
                          "Quota exceeded (507 quota-exceeded): ops["), msg
    assert "nothing was written" in msg, msg
    assert bed.ctl_json("status")["last_seq"] == seq
    # The state file names the set, so the teardown Slurm runs next finds it.
    assert bed.state(12)["phase"] == "setup"
    rc, msg, _ = bed.hook("paths", 12, bed.script(12, "#"), os.path.join(bed.dir, "p"))
    assert rc == -1 and "setup did not finish" in msg, msg
    rc, msg, _ = bed.hook("job_teardown", 12, bed.script(12, "#"), "true")
    assert (rc, msg) == (0, None)
    assert bed.state(12) is None

    # A tenant famfsd cannot name: refused before any call.
    rc, msg, _ = bed.setup(13, "#BB_LUA famfsd pool=famfsd capacity=2M", uid=4242424)
    assert rc == -1 and "no user name for uid 4242424" in msg, msg


def test_stage_in_and_out_through_the_mount_as_the_jobs_user(bed):
    src = bed.user_dir("in")
    a, b = os.urandom(3 * MiB + 5), os.urandom(100)
    for name, data in (("b", b), ("a", a)):
        with open(os.path.join(src, name), "wb") as f:
            f.write(data)
    os.mkdir(os.path.join(src, "subdir"))      # not a regular file: skipped
    out = os.path.join(bed.user_dir("out"), "new", "dir")
    directive = (f"#BB_LUA famfsd pool=famfsd capacity=8M files=2 "
                 f"stage_in={src} stage_out={out}")
    # A state directory that is not there yet is made by setup.
    bed.set_conf(state_dir=os.path.join(bed.dir, "new-state"))
    bed.state_dir = os.path.join(bed.dir, "new-state")
    rc, msg, _ = bed.setup(21, directive)
    assert rc == 0, msg
    assert os.stat(bed.state_dir).st_mode & 0o777 == 0o700
    rc, msg, _ = bed.hook("data_in", 21, bed.script(21, directive))
    assert rc == 0, msg
    d = f"{bed.mount}/{USER}/slurm/job21"
    with open(f"{d}/f0", "rb") as f:          # name order: a, then b
        assert f.read(len(a)) == a
    with open(f"{d}/f1", "rb") as f:
        assert f.read(len(b)) == b
    rc, msg, _ = bed.hook("data_out", 21, bed.script(21, directive))
    assert rc == 0, msg
    assert sorted(os.listdir(out)) == ["f0", "f1"]
    for i, data in enumerate((a, b)):
        p = os.path.join(out, f"f{i}")
        st = os.stat(p)
        assert (st.st_uid, st.st_size) == (bed.uid, 4 * MiB)
        with open(p, "rb") as f:
            assert f.read(len(data)) == data
    rc, msg, _ = bed.hook("job_teardown", 21, bed.script(21, directive), "false")
    assert rc == 0, msg


def test_stage_refusals_say_what_is_wrong(bed):
    src = bed.user_dir("in")
    for name in ("a", "b", "c"):
        with open(os.path.join(src, name), "wb") as f:
            f.write(b"x")
    cases = [
        (f"stage_in={src} files=2", f"stage_in: {src} has 3 regular files, the job has 2"),
        (f"stage_in={src}/missing", f"stage_in: cannot list {src}/missing"),
        ("stage_in=/root", "stage_in: cannot list /root"),   # nobody may not read it
    ]
    for job, (opts, why) in enumerate(cases, start=31):
        directive = f"#BB_LUA famfsd pool=famfsd capacity=4M {opts}"
        rc, msg, _ = bed.setup(job, directive)
        assert rc == 0, msg
        rc, msg, _ = bed.hook("data_in", job, bed.script(job, directive))
        assert rc == -1 and why in msg, (opts, msg)
        rc, msg, _ = bed.hook("job_teardown", job, bed.script(job, directive), "true")
        assert rc == 0, msg
    # A SlurmUser that is not root cannot become the job's user: staging is
    # refused, not done with the scheduler's rights.
    directive = f"#BB_LUA famfsd pool=famfsd capacity=4M stage_in={src} files=3"
    rc, msg, _ = bed.setup(38, directive)
    assert rc == 0, msg
    rc, msg, _ = bed.hook("data_in", 38, bed.script(38, directive), user=USER)
    assert rc == -1, msg
    assert f"stage_in needs slurmctld to run as root (SlurmUser=root): the copies run " \
        f"as the job's user (this is uid {bed.uid})" in msg, msg
    # This host's mount is not where the config says: a clear reason, soon.
    bed.set_conf(mount=bed.user_dir("not-the-mount"), timeout="1")
    rc, msg, took = bed.hook("data_in", 38, bed.script(38, directive))
    assert rc == -1, msg
    assert "f2 did not appear in this host's famfsd mount within 1 s" in msg, msg
    assert took < 5, took
    bed.set_conf()
    rc, msg, _ = bed.hook("job_teardown", 38, bed.script(38, directive), "true")
    assert rc == 0, msg
    with open(os.path.join(src, "a"), "wb") as f:
        f.write(b"y" * (UNIT + 1))
    directive = f"#BB_LUA famfsd pool=famfsd capacity=6M files=3 stage_in={src}"
    rc, msg, _ = bed.setup(39, directive)
    assert rc == 0, msg
    rc, msg, _ = bed.hook("data_in", 39, bed.script(39, directive))
    assert rc == -1, msg
    assert f"{src}/a is {UNIT + 1} bytes, longer than its pool file f0 ({UNIT} bytes)" in msg


def test_a_hung_master_costs_pools_500_ms_and_a_slow_hook_its_timeout(bed):
    rc, pools, _ = bed.hook("pools")
    assert rc == 0
    before = json.loads(pools)["pools"][0]
    assert before["id"] == "famfsd" and before["granularity"] == UNIT, before
    assert before["quantity"] > 0 and before["free"] == before["quantity"]
    cache = os.path.join(bed.state_dir, "pools.json")
    with open(cache) as f:
        figures = json.load(f)
    os.kill(bed.master.proc.pid, signal.SIGSTOP)
    try:
        # A stale cache: pools asks the master, waits 500 ms at most, and
        # keeps the figures it had.
        figures["tried_at"] = figures["at"] = 1
        with open(cache, "w") as f:
            json.dump(figures, f)
        rc, pools, took = bed.hook("pools")
        assert rc == 0
        assert json.loads(pools)["pools"][0] == before
        assert took < 2, took           # 0.5 s, SIGKILL 0.2 s later, Lua's start
        with open(cache) as f:
            tried = json.load(f)
        assert "no answer from the master" in tried["error"], tried
        # The next call within 20 s does not ask again.
        rc, pools, _ = bed.hook("pools")
        assert json.loads(pools)["pools"][0] == before
        with open(cache) as f:
            assert json.load(f) == tried
        bed.set_conf(timeout="2")
        rc, msg, took = bed.setup(41, "#BB_LUA famfsd pool=famfsd capacity=2M")
        assert rc == -1
        assert f"no answer from the master ({bed.master.url}) within 2 s" in msg, msg
        assert took < 6, took           # 2 s, SIGKILL 1 s later
        assert bed.state(41) is None    # stopped before anything was made
        rc, text, _ = bed.hook("get_status")
        assert f"pool famfsd: the master ({bed.master.url}) did not answer" in text, text
    finally:
        os.kill(bed.master.proc.pid, signal.SIGCONT)
    rc, text, _ = bed.hook("get_status")
    assert "pool famfsd: " in text and "free of" in text, text
    assert "0 job sets" in text, text
