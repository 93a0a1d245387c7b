"""The Slurm burst buffer (slurm/burst_buffer.lua) in a real Slurm: munge,
slurmctld and slurmd of Debian 12 on this machine (slurm_cluster.py), with
a famfsd master and an agent whose FUSE mount the jobs use.

Cases: a plain job runs (the cluster itself); a job with `#BB_LUA famfsd`
sees its files in its environment, writes and reads them, and after its
teardown they are gone and the pool's free bytes are back; stage-out of one
job feeds the stage-in of the next; an over-quota job, and one with the
master down, are held with the reason in `scontrol show job` and run once
released after the cause is gone; slurmctld killed (-9) and restarted
during setup and during teardown leaves no file once the job is done, also
when Slurm had not yet saved its own record of the set (it then never runs
that teardown: the burst buffer's sweep must); bad directives are refused
by sbatch.

One bed (master, agent, Slurm) serves the whole file; each case uses its
own account, which is the job's tenant (Slurm lowercases accounts).
"""

import hashlib
import os
import re
import time

import pytest

from conftest import read_log, require
import slurm_cluster
from slurm_cluster import BurstBufferBed, SlurmCluster

MiB = 1 << 20
FILES = 4
CAPACITY = 64 * MiB
EACH = CAPACITY // FILES
DIRECTIVE = f"#BB_LUA famfsd pool=famfsd capacity={CAPACITY // MiB}M files={FILES}"


def need_slurm():
    miss = slurm_cluster.missing()
    require(not miss, "the Slurm tests need " + "; ".join(miss))
    require(os.path.exists("/dev/fuse"), "the agent's FUSE mount needs /dev/fuse")


@pytest.fixture
def plain_cluster(tmp_path):
    need_slurm()
    c = SlurmCluster(tmp_path)
    yield c
    c.close()


@pytest.fixture(scope="module")
def bed(tmp_path_factory):
    need_slurm()
    b = BurstBufferBed(tmp_path_factory.mktemp("bb"))
    yield b
    b.close()


@pytest.fixture
def bb(bed):
    """The bed with its test-only delays off again after each case."""
    yield bed
    bed.set_conf({})


def content(tag, i, size):
    """What a job writes into its file i: a pattern that differs per file
    and per offset, so a misplaced or truncated copy shows."""
    block = hashlib.sha256(f"{tag}/f{i}".encode()).digest() * (MiB // 32)
    return (block * (size // len(block) + 1))[:size]


# The body of the jobs that use their files: writes each file whole with
# content() (mode "write") or checks it (mode "check"), and prints one line
# per file. Run by the job's user, in the job.
JOB_PY = r'''
import hashlib, os, sys
mode, tag = sys.argv[1], sys.argv[2]
MiB = 1 << 20
def content(i, size):
    block = hashlib.sha256(f"{tag}/f{i}".encode()).digest() * (MiB // 32)
    return (block * (size // len(block) + 1))[:size]
files = os.environ["FAMFSD_FILES"].split(":")
print("DIR", os.environ["FAMFSD_DIR"])
print("TENANT", os.environ["FAMFSD_TENANT"])
for i, p in enumerate(files):
    st = os.stat(p)
    want = content(i, st.st_size)
    if mode == "write":
        with open(p, "r+b") as f:
            f.write(want)
    with open(p, "rb") as f:
        got = f.read()
    print("FILE", os.path.basename(p), st.st_size, oct(st.st_mode & 0o777),
          st.st_uid, "same" if got == want else "DIFFERENT")
'''


def job_script(bed, directive, mode, tag, extra=""):
    """A batch script: directive, then extra shell lines, then JOB_PY (in
    the jobs' directory, which their user reads)."""
    body = os.path.join(bed.cluster.dir, "jobs", "files.py")
    if not os.path.exists(body):
        with open(body, "w") as f:
            f.write(JOB_PY)
    return (f"#!/bin/sh\n{directive}\nset -e\n{extra}"
            f"/usr/bin/python3 {body} {mode} {tag}\n")


def wait_state_bb(bed, job, state, timeout=30):
    """The job's BurstBufferState at state; the job's dict."""
    c = bed.cluster
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = c.job(job)
        if info.get("BurstBufferState") == state:
            return info
        time.sleep(0.1)
    pytest.fail(f"job {job}'s burst buffer not {state} in {timeout}s: "
                f"{c.job(job)}\n{c.logs()}")


def wait_done(bed, job, state="COMPLETED", timeout=60):
    """The job in state and its burst buffer torn down (teardown runs after
    the job ends)."""
    bed.cluster.wait_state(job, state, timeout=timeout)
    return wait_state_bb(bed, job, "complete", timeout)


def assert_gone(bed, tenant, job):
    """The job's directory and files are gone from the master."""
    d = f"{tenant}/slurm/job{job}"
    for i in range(FILES):
        bed.api.get(f"/v1/files/{d}/f{i}", expect=404)
    bed.api.get(f"/v1/dirs/{d}", expect=404)
    entries = bed.api.get(f"/v1/dirs/{tenant}/slurm", expect=200).json()["entries"]
    assert entries == [], entries


def wait_free(bed, want, timeout=10):
    """The pool's free bytes back at want (reclaim runs after a delete)."""
    deadline = time.monotonic() + timeout
    while bed.free_bytes() != want:
        assert time.monotonic() < deadline, (bed.free_bytes(), want)
        time.sleep(0.05)


def slurm_saved_set(cluster, account):
    """Whether slurmctld's saved burst buffer records (a packed file; each
    record holds the job's account as a string) name account."""
    path = os.path.join(cluster.dir, "state", "burst_buffer_lua_state")
    try:
        with open(path, "rb") as f:
            return account.encode() in f.read()
    except FileNotFoundError:
        return False


def hook_runs(cluster, hook, tenant, job):
    """How many setups or teardowns of the job's set slurmctld's log says
    finished (the burst buffer logs one line for each)."""
    done = {"setup": rf"setup job {job}: \d+ files of .* in /{tenant}/slurm/job{job} ",
            "teardown": rf"teardown job {job}: deleted /{tenant}/slurm/job{job} "}
    text = read_log(os.path.join(cluster.dir, "log", "slurmctld.log"))
    return len(re.findall("famfsd burst buffer: " + done[hook], text))


def expect_files(out, tenant, job, bed, check="same"):
    """The job's output names its directory and tenant, and each file has
    the size, mode, owner and content wanted."""
    lines = out.splitlines()
    assert f"DIR {bed.mount}/{tenant}/slurm/job{job}" in lines, out
    assert f"TENANT {tenant}" in lines, out
    files = [ln.split() for ln in lines if ln.startswith("FILE ")]
    assert files == [["FILE", f"f{i}", str(EACH), "0o600", str(bed.cluster.uid),
                      check] for i in range(FILES)], out


def test_plain_job_runs(plain_cluster):
    """The cluster itself: a batch job runs on this host, as the jobs'
    user, and its output is where sbatch -o put it."""
    c = plain_cluster
    job = c.sbatch("#!/bin/sh\nhostname\necho \"uid=$(id -u)\"\n")
    info = c.wait_state(job, "COMPLETED", timeout=30)
    assert info["ExitCode"] == "0:0", info
    assert c.output(job) == f"{os.uname().nodename}\nuid={c.uid}\n"


def test_job_gets_writes_and_loses_its_files(bb):
    """The files are in the job's environment and mount, the job's own
    (0600), written and read back whole; while it runs the master has them
    and the pool's free bytes are down by their size; after the job they
    are gone and the free bytes are back. Slurm reports the pool."""
    c = bb.cluster
    burst = c.run("scontrol", "show", "burst").stdout
    assert "PoolName[0]=famfsd " in burst, burst
    free = bb.free_bytes()
    release = os.path.join(c.dir, "jobs", "release-w1")
    job = c.sbatch(job_script(bb, DIRECTIVE, "write", "w1",
                              extra=f"while [ ! -e {release} ]; do sleep 0.1; done\n"),
                   "-A", "proj1")
    c.wait_state(job, "RUNNING", timeout=30)
    d = f"proj1/slurm/job{job}"
    for i in range(FILES):
        f = bb.api.get(f"/v1/files/{d}/f{i}", expect=200).json()
        assert (f["size"], f["uid"], f["mode"]) == (EACH, c.uid, 0o600), f
    assert bb.free_bytes() == free - CAPACITY
    status = c.run("scontrol", "show", "bbstat").stdout
    assert re.search(rf"^{job} +ready +proj1 +{FILES} ", status, re.M), status
    with open(release, "w"):
        pass
    info = wait_done(bb, job)
    assert info["ExitCode"] == "0:0", (info, c.output(job))
    expect_files(c.output(job), "proj1", job, bb)
    assert_gone(bb, "proj1", job)
    wait_free(bb, free)
    status = c.run("scontrol", "show", "bbstat").stdout
    assert status.startswith("pool famfsd: "), status
    assert "0 job sets" in status, status


def test_stage_out_feeds_the_next_jobs_stage_in(bb):
    """Job 1 writes its files and stages them out; job 2 stages them in
    and finds them as job 1 left them."""
    c = bb.cluster
    out_dir = os.path.join(c.dir, "jobs", "staged")
    job1 = c.sbatch(job_script(bb, f"{DIRECTIVE} stage_out={out_dir}", "write", "s1"),
                    "-A", "proj2")
    info = wait_done(bb, job1)
    assert info["ExitCode"] == "0:0", (info, c.output(job1))
    expect_files(c.output(job1), "proj2", job1, bb)
    assert sorted(os.listdir(out_dir)) == [f"f{i}" for i in range(FILES)]
    for i in range(FILES):
        with open(os.path.join(out_dir, f"f{i}"), "rb") as f:
            assert f.read() == content("s1", i, EACH), f"staged-out f{i} differs"
    assert_gone(bb, "proj2", job1)

    job2 = c.sbatch(job_script(bb, f"{DIRECTIVE} stage_in={out_dir}", "check", "s1"),
                    "-A", "proj2")
    info = wait_done(bb, job2)
    assert info["ExitCode"] == "0:0", (info, c.output(job2))
    expect_files(c.output(job2), "proj2", job2, bb)
    assert_gone(bb, "proj2", job2)


def test_over_quota_job_is_held_with_the_masters_reason(bb):
    """A tenant's quota smaller than the job's set: setup is refused, the
    job is held with the master's detail as its reason and its set torn
    down (Flags=TeardownFailure); with the quota raised, `scontrol
    release` runs setup again and the job runs."""
    quota = 40 * MiB
    bb.api.put("/v1/tenants/quota1/quota",
               json={"max_bytes": quota, "max_files": 0}, expect=200)
    c = bb.cluster
    job = c.sbatch(job_script(bb, DIRECTIVE, "write", "q1"), "-A", "quota1")
    # The third file is the first past the quota.
    detail = (f"tenant quota1 would use {3 * EACH} bytes in 3 files; its quota "
              f"is {quota} bytes, 0 files (0 = unlimited)")
    deadline = time.monotonic() + 30
    while True:
        info = c.job(job)
        reason = info["Reason"].replace("_", " ")
        if detail in reason:
            break
        assert info["JobState"] == "PENDING", info
        assert time.monotonic() < deadline, (detail, info)
        time.sleep(0.1)
    # scontrol writes the reason with '_' for ' '.
    assert info["Reason"].startswith("burst_buffer/lua:_slurm_bb_setup:_famfsd:_"), info
    deadline = time.monotonic() + 30
    while c.job(job).get("BurstBufferState") != "complete":
        assert time.monotonic() < deadline, c.job(job)
        time.sleep(0.1)
    info = c.job(job)
    assert (info["JobState"], info["Priority"]) == ("PENDING", "0"), info
    assert detail in info["Reason"].replace("_", " "), info
    bb.api.get(f"/v1/dirs/quota1/slurm/job{job}", expect=404)
    t = bb.api.get("/v1/tenants/quota1", expect=200).json()
    assert (t["used_bytes"], t["used_files"]) == (0, 0), t
    assert not os.path.exists(os.path.join(bb.state_dir, f"job{job}.json"))

    bb.api.put("/v1/tenants/quota1/quota",
               json={"max_bytes": CAPACITY, "max_files": 0}, expect=200)
    c.run("scontrol", "release", job)
    info = wait_done(bb, job)
    assert info["ExitCode"] == "0:0", (info, c.output(job))
    expect_files(c.output(job), "quota1", job, bb)
    assert_gone(bb, "quota1", job)


def test_master_down_holds_the_job_until_released(bb):
    """With the master stopped, setup fails with the reason that it cannot
    be reached (the job's SystemComment keeps each stage's reason) and the
    job is held; the teardown Slurm then runs needs the master too (Slurm
    retries a failed one every 10 s, so it ends once the master is back);
    after that `scontrol release` runs the job with its files."""
    c = bb.cluster
    bb.master.stop()
    try:
        job = c.sbatch(job_script(bb, DIRECTIVE, "write", "m1"), "-A", "proj3")
        unreachable = f"failed to reach the master at '{bb.master.url}'"
        deadline = time.monotonic() + 30
        while True:
            info = c.job(job)
            if "burst_buffer/lua: setup: famfsd: " in info.get("SystemComment", ""):
                break
            assert time.monotonic() < deadline, info
            time.sleep(0.1)
        assert unreachable in info["SystemComment"], info
        assert (info["JobState"], info["Priority"]) == ("PENDING", "0"), info
    finally:
        if not bb.master.running():
            bb.master.start()
    wait_state_bb(bb, job, "complete", timeout=30)
    c.run("scontrol", "release", job)
    info = wait_done(bb, job)
    assert info["ExitCode"] == "0:0", (info, c.output(job))
    expect_files(c.output(job), "proj3", job, bb)
    assert_gone(bb, "proj3", job)


def test_slurmctld_killed_during_setup(bb):
    """kill -9 of slurmctld while setup runs (held by the test-only delay,
    after the hook wrote its state file and before its batch): the
    restarted slurmctld runs setup again, the job gets its files, and
    after it nothing is left."""
    c = bb.cluster
    free = bb.free_bytes()
    # A fresh slurmctld (a clean restart, which saves every state): Slurm
    # saves its burst buffer records every 30 s, so the kill below comes
    # before it knows of this job's set and the restart reruns setup (a
    # saved record would add a teardown and a 60 s deferral first; both end
    # the same way).
    c.stop_ctld()
    c.start_ctld()
    bb.set_conf({"test_delay_setup": "3"})
    job = c.sbatch(job_script(bb, DIRECTIVE, "write", "k1"), "-A", "crash1")
    state = os.path.join(bb.state_dir, f"job{job}.json")
    deadline = time.monotonic() + 30
    while not os.path.exists(state):
        assert time.monotonic() < deadline, c.job(job)
        time.sleep(0.05)
    assert c.job(job)["BurstBufferState"] in ("staging-in", "pending")
    c.kill_ctld()
    bb.set_conf({})
    c.start_ctld()
    info = wait_done(bb, job)
    assert info["ExitCode"] == "0:0", (info, c.output(job))
    expect_files(c.output(job), "crash1", job, bb)
    # The killed run never got to its batch; the rerun made the set.
    assert hook_runs(c, "setup", "crash1", job) == 1
    assert_gone(bb, "crash1", job)
    wait_free(bb, free)


def test_slurmctld_killed_during_teardown(bb):
    """kill -9 of slurmctld while teardown runs (held by the test-only
    delay), after a clean restart while the job ran: the restarted
    slurmctld runs teardown again, which deletes the set once, and nothing
    is left."""
    c = bb.cluster
    free = bb.free_bytes()
    release = os.path.join(c.dir, "jobs", "release-k2")
    job = c.sbatch(job_script(bb, DIRECTIVE, "write", "k2",
                              extra=f"while [ ! -e {release} ]; do sleep 0.1; done\n"),
                   "-A", "crash2")
    c.wait_state(job, "RUNNING", timeout=30)
    # Slurm 22.05 writes its records of the burst buffers it made
    # (burst_buffer_lua_state) every 30 s and when it stops, and after a
    # restart tears down only the sets it finds there (the case where it
    # has not written it yet is the next test's). A clean restart while
    # the job runs writes it now.
    c.stop_ctld()
    assert slurm_saved_set(c, "crash2")
    c.start_ctld()
    bb.set_conf({"test_delay_teardown": "3"})
    with open(release, "w"):
        pass
    c.wait_state(job, "COMPLETED", timeout=30)
    deadline = time.monotonic() + 30
    while c.job(job).get("BurstBufferState") != "teardown":
        assert time.monotonic() < deadline, c.job(job)
        time.sleep(0.05)
    time.sleep(1)       # within the hook's delay, before its batch
    bb.api.get(f"/v1/dirs/crash2/slurm/job{job}", expect=200)
    c.kill_ctld()
    bb.set_conf({})
    c.start_ctld()
    info = wait_done(bb, job)
    assert info["ExitCode"] == "0:0", (info, c.output(job))
    expect_files(c.output(job), "crash2", job, bb)
    assert hook_runs(c, "teardown", "crash2", job) == 1
    assert_gone(bb, "crash2", job)
    wait_free(bb, free)


def test_slurmctld_killed_during_teardown_before_slurm_saved_the_set(bb):
    """kill -9 of slurmctld in teardown, before Slurm wrote its record of
    the job's set: Slurm 22.05 saves burst_buffer_lua_state every 30 s
    (AGENT_INTERVAL) and after a restart tears down only the sets in it,
    while the job's end is saved within a second. Slurm then never calls
    teardown for the job again (it stays COMPLETED in teardown, or in
    STAGE_OUT/post-run, as its last save had it), so the burst buffer
    must find the set itself: it is gone once
    a later job has run and one cycle of slurmctld's burst buffer agent
    (30 s, which calls slurm_bb_pools) has passed."""
    c = bb.cluster
    free = bb.free_bytes()
    c.stop_ctld()
    c.start_ctld()
    first_save = time.monotonic() + 30
    bb.set_conf({"test_delay_teardown": "8"})
    job = c.sbatch(job_script(bb, DIRECTIVE, "write", "k3"), "-A", "crash3")
    c.wait_state(job, "COMPLETED", timeout=30)
    deadline = time.monotonic() + 30
    while c.job(job).get("BurstBufferState") != "teardown":
        assert time.monotonic() < deadline, c.job(job)
        time.sleep(0.05)
    # Within the hook's delay: time for slurmctld to save the job's end
    # (it does within a second), not for its 30 s record of the set.
    time.sleep(2)
    assert time.monotonic() < first_save - 2, "too late: Slurm saved the set"
    assert not slurm_saved_set(c, "crash3"), "Slurm saved the set already"
    bb.api.get(f"/v1/dirs/crash3/slurm/job{job}", expect=200)
    c.kill_ctld()
    bb.set_conf({})
    c.start_ctld()
    restarted = time.monotonic()
    # The premise, as the restarted slurmctld has it: the job ended (it is
    # not run again: finished, or still in its stage-out as the last save
    # had it) and no set of a burst buffer was recovered.
    assert c.job(job)["JobState"] in ("COMPLETED", "STAGE_OUT"), c.job(job)
    recovered = re.findall(r"Recovered state of (\d+) burst buffers",
                           read_log(os.path.join(c.dir, "log", "slurmctld.log")))
    assert recovered[-1:] == ["0"], recovered
    later = c.sbatch(job_script(bb, DIRECTIVE, "write", "k4"), "-A", "crash3")
    wait_done(bb, later)
    deadline = restarted + 40
    while bb.api.get(f"/v1/dirs/crash3/slurm/job{job}").status_code != 404:
        if time.monotonic() > deadline:
            pytest.fail(f"job {job}'s set is still in the pool {time.monotonic() - restarted:.0f}"
                        f" s after the restart ({c.job(job).get('BurstBufferState')}): "
                        f"nothing tears it down\n{c.logs()}")
        time.sleep(0.5)
    assert_gone(bb, "crash3", job)
    assert_gone(bb, "crash3", later)
    wait_free(bb, free)


@pytest.mark.parametrize("directive, why", [
    (f"{DIRECTIVE} colour=blue", "unknown option 'colour='"),
    ("#BB_LUA famfsd pool=famfsd capacity=64Q files=4", "capacity=64Q"),
    ("#BB_LUA famfsd pool=famfsd files=4", "capacity= is required"),
    (f"{DIRECTIVE}\n{DIRECTIVE}", "a second '#BB_LUA famfsd' line"),
])
def test_bad_directive_is_refused_by_sbatch(bb, directive, why):
    """sbatch fails with the burst buffer's reason; no job is made."""
    before = bb.cluster.run("squeue", "-h", "-t", "all", "-o", "%i").stdout.split()
    p = bb.cluster.submit(job_script(bb, directive, "write", "bad"), "-A", "proj9")
    assert p.returncode != 0, p
    assert "burst_buffer/lua: famfsd: " in p.stderr and why in p.stderr, p.stderr
    after = bb.cluster.run("squeue", "-h", "-t", "all", "-o", "%i").stdout.split()
    assert after == before
