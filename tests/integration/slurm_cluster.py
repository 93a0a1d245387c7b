"""A real one-node Slurm on this machine, for the burst buffer's tests.

Debian 12's Slurm 22.05 (slurmctld, slurmd, the client commands and
slurm-wlm-basic-plugins, which holds burst_buffer_lua.so) and munge, started
as child processes of the test with their own key, socket, configuration,
state and ports, so that several of these (the host lane's passes, the
TSan thirds beside them) and a system Slurm never meet:

    cluster = SlurmCluster(workdir)        # munged, slurmctld -D, slurmd -D
    job = cluster.sbatch("#!/bin/sh\\nhostname\\n")   # as user nobody
    cluster.wait_state(job, "COMPLETED")
    cluster.kill_ctld(); cluster.start_ctld()   # a crash of the controller
    cluster.close()                         # every process it started, gone

What a container without systemd asks for (checked here, under gVisor):
- munged refuses a socket in a directory that is not searchable by all;
  the jobs' user (the burst buffer plugins refuse jobs of root) must read
  slurm.conf and write its output; pytest's tmp directories are 0700: the
  cluster lives in its own 0755 directory under /tmp, and close() keeps
  its logs in the test's directory.
- No cgroups: ProctrackType=proctrack/linuxproc (the job's processes found
  through /proc's parent links), TaskPlugin=task/none,
  JobAcctGatherType=jobacct_gather/none; nothing reads /sys/fs/cgroup.
- The node is this host by its name (hostname resolves through /etc/hosts
  to 127.0.0.1); every daemon talks over 127.0.0.1 on free ports.
- SlurmUser=root and SlurmdUser=root: the test runs as root; sbatch runs
  as the jobs' user (nobody by default: no account is added to the host).
- The schedulers run every second (sched_interval, bf_interval): they
  start the burst buffer's stages, and with the defaults a job with a burst
  buffer waits up to a minute. A job then takes about 2 s from sbatch to
  its teardown; a freshly started slurmctld schedules after 3-5 s.

What Slurm 22.05 itself does that a test must know:
- kill -9 of slurmctld kills its slurmscriptd and the hook it runs (its
  children stay: close() reaps them), and loses the last second of job
  state: a job may run again, a job id may be given again.
- Its records of the burst buffers it made (state/burst_buffer_lua_state)
  are written every 30 s and at a clean stop; a restart reruns only the
  stages of the sets it finds there (stop_ctld() then start_ctld() writes
  them at once).

Every process the cluster starts carries FAMFSD_SLURM_TEST=<its directory>
in its environment, and so do the jobs (sbatch exports the caller's
environment): close() kills whatever still carries it, which catches the
slurmstepd and slurmscriptd processes and the burst buffer's children that
the daemons leave behind when they are killed.
"""

import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import (ADMIN_TOKEN, AGENT_TOKEN, FAMFSCTL, FAMFSD, ROOT, Master,
                      assert_no_sanitizer_report, free_port, make_pool,
                      mounted, read_log, stop_local)

SLURM_BINARIES = ("munged", "munge", "slurmctld", "slurmd", "sbatch",
                  "scontrol", "sinfo", "squeue", "scancel", "setpriv")
PLUGIN_DIR = "/usr/lib/x86_64-linux-gnu/slurm-wlm"
PLUGINS = ("burst_buffer_lua.so", "auth_munge.so", "cred_munge.so",
           "proctrack_linuxproc.so", "task_none.so", "select_cons_tres.so")
SBIN = ("/usr/sbin", "/usr/bin", "/sbin", "/bin")

# Job states after which a job never runs again.
FINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL",
         "PREEMPTED", "BOOT_FAIL", "DEADLINE", "OUT_OF_MEMORY"}


def which(name):
    found = shutil.which(name)
    if found:
        return found
    for d in SBIN:
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    return None


def missing(user="nobody"):
    """What this host lacks to run the cluster: [] when nothing."""
    out = [f"{b} (Debian: slurmctld slurmd slurm-client munge util-linux)"
           for b in SLURM_BINARIES if not which(b)]
    out += [f"{PLUGIN_DIR}/{p} (Debian: slurm-wlm-basic-plugins)"
            for p in PLUGINS if not os.path.exists(os.path.join(PLUGIN_DIR, p))]
    if os.geteuid() != 0:
        out.append("root (slurmd starts jobs as their users)")
    try:
        pwd.getpwnam(user)
    except KeyError:
        out.append(f"a user {user} for the jobs (Slurm's burst buffer "
                   "refuses root's)")
    return out


def node_hardware():
    """This host as slurmd sees it (`slurmd -C`): the NodeName line's
    CPUs, sockets, cores, threads and memory, so that the node registers
    without being drained for a mismatch."""
    p = subprocess.run([which("slurmd"), "-C"], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 0, p.stderr
    first = p.stdout.splitlines()[0]
    hw = dict(kv.split("=", 1) for kv in first.split())
    keep = ("CPUs", "Boards", "SocketsPerBoard", "CoresPerSocket",
            "ThreadsPerCore", "RealMemory")
    return hw["NodeName"], {k: hw[k] for k in keep if k in hw}


# Keys of `scontrol show job -o`: capitalized words (some with ":" or "/")
# before "="; the burst buffer directive's own options are lower case.
_KEY = re.compile(r"(?:^| |\n)([A-Z][A-Za-z0-9_:/]*)=")


def parse_oneliner(text):
    """`scontrol show job -o ID` as a dict. A value runs to the next
    " Key=", so values with spaces (Reason, the burst buffer's text) stay
    whole; one line, but for the newlines a SystemComment may hold (each
    stage's refusal is a line of it), which are kept in the value."""
    line = text.rstrip("\n")
    marks = list(_KEY.finditer(line))
    out = {}
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(line)
        out[m.group(1)] = line[m.end():end].strip()
    return out


class Daemon:
    """One foreground daemon: its process, its output file."""

    def __init__(self, name, argv, env, log):
        self.name = name
        self.argv = argv
        self.env = env
        self.log = log
        self.proc = None

    def start(self):
        assert not self.running(), f"{self.name} already running"
        with open(self.log, "a") as out:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=subprocess.STDOUT,
                                         env=self.env, start_new_session=True)
        return self

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """sig, then SIGKILL past timeout; always reaped."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


class SlurmCluster:
    """munged, slurmctld and slurmd of one node, in workdir.

    bb_lua: a burst_buffer.lua to put next to slurm.conf (the plugin reads
    it from there), which turns on BurstBufferType=burst_buffer/lua;
    bb_conf: extra burst_buffer.conf lines; env: variables for the daemons
    (the burst buffer's hooks run in slurmctld and its slurmscriptd, and
    see them)."""

    def __init__(self, workdir, bb_lua=None, bb_conf=(), env=None,
                 user="nobody", start=True):
        miss = missing(user)
        assert not miss, "Slurm is not usable here: " + "; ".join(miss)
        self.workdir = str(workdir)
        # Jobs run as user, who must read slurm.conf and reach munge's
        # socket and the jobs' directory, and pytest's tmp directories are
        # 0700: the cluster lives in its own 0755 directory under /tmp
        # (short, which keeps the socket's name within sun_path too); its
        # logs are copied into workdir at close.
        self.dir = tempfile.mkdtemp(prefix="famfsd-slurm-")
        os.chmod(self.dir, 0o755)
        pw = pwd.getpwnam(user)
        self.user, self.uid, self.gid = user, pw.pw_uid, pw.pw_gid
        for sub, mode in (("etc", 0o755), ("munge", 0o755), ("state", 0o700),
                          ("spool", 0o700), ("log", 0o755), ("jobs", 0o755)):
            os.makedirs(os.path.join(self.dir, sub), mode)
            os.chmod(os.path.join(self.dir, sub), mode)
        os.chown(os.path.join(self.dir, "jobs"), self.uid, self.gid)
        self.munge_dir = os.path.join(self.dir, "munge")
        self.munge_socket = os.path.join(self.munge_dir, "socket")
        self.conf = os.path.join(self.dir, "etc", "slurm.conf")
        self.node, self.hw = node_hardware()
        self.ctld_port = free_port()
        self.slurmd_port = free_port()
        while self.slurmd_port == self.ctld_port:
            self.slurmd_port = free_port()
        self.bb_lua = bb_lua
        self.env = {**os.environ, **(env or {}), "SLURM_CONF": self.conf,
                    "FAMFSD_SLURM_TEST": self.dir}
        for var in ("SLURM_JOB_ID", "SLURM_JOBID", "SQUEUE_FORMAT"):
            self.env.pop(var, None)
        self._write_key()
        self._write_conf(bb_conf)
        log = os.path.join(self.dir, "log")
        self.munged = Daemon("munged", [
            which("munged"), "-F",
            "--key-file", os.path.join(self.munge_dir, "munge.key"),
            "--socket", self.munge_socket,
            "--pid-file", os.path.join(self.munge_dir, "munged.pid"),
            "--seed-file", os.path.join(self.munge_dir, "munged.seed"),
            "--log-file", os.path.join(log, "munged.log")],
            self.env, os.path.join(log, "munged.out"))
        self.ctld = Daemon("slurmctld", [which("slurmctld"), "-D"],
                           self.env, os.path.join(log, "slurmctld.out"))
        self.slurmd = Daemon("slurmd", [which("slurmd"), "-D"],
                             self.env, os.path.join(log, "slurmd.out"))
        self.closed = False
        if start:
            self.start()

    # ---- configuration ----------------------------------------------------

    def _write_key(self):
        key = os.path.join(self.munge_dir, "munge.key")
        with open(key, "wb") as f:
            f.write(os.urandom(1024))
        os.chmod(key, 0o400)

    def _write_conf(self, bb_conf):
        d = self.dir
        hw = " ".join(f"{k}={v}" for k, v in self.hw.items())
        lines = [
            "# written by tests/integration/slurm_cluster.py",
            "ClusterName=famfsdtest",
            f"SlurmctldHost={self.node}(127.0.0.1)",
            f"SlurmctldPort={self.ctld_port}",
            f"SlurmdPort={self.slurmd_port}",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={self.munge_socket}",
            f"StateSaveLocation={d}/state",
            f"SlurmdSpoolDir={d}/spool",
            f"SlurmctldPidFile={d}/slurmctld.pid",
            f"SlurmdPidFile={d}/slurmd.pid",
            f"SlurmctldLogFile={d}/log/slurmctld.log",
            f"SlurmdLogFile={d}/log/slurmd.log",
            # No cgroups in this container.
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/none",
            # The main scheduler and backfill pass every second (60 s and
            # 30 s by default): they start the burst buffer's stages.
            "SchedulerType=sched/backfill",
            "SchedulerParameters=sched_interval=1,bf_interval=1",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core",
            "MpiDefault=none",
            "SwitchType=switch/none",
            "ReturnToService=2",
            "SlurmctldDebug=info",
            "SlurmdDebug=info",
            # Finished jobs stay visible to scontrol for the whole test.
            "MinJobAge=3600",
            # A job's node is this host; after a controller restart the
            # node answers at once, so keep the wait for it short.
            "SlurmdTimeout=30",
            "SlurmctldTimeout=30",
            "MessageTimeout=10",
            "KillWait=5",
            f"NodeName={self.node} NodeAddr=127.0.0.1 {hw} State=UNKNOWN",
            f"PartitionName=debug Nodes={self.node} Default=YES "
            "MaxTime=INFINITE State=UP",
        ]
        if self.bb_lua:
            lines.append("BurstBufferType=burst_buffer/lua")
            shutil.copyfile(self.bb_lua, os.path.join(d, "etc", "burst_buffer.lua"))
            with open(os.path.join(d, "etc", "burst_buffer.conf"), "w") as f:
                f.write("# written by tests/integration/slurm_cluster.py\n")
                f.write("\n".join(bb_conf) + "\n")
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")

    # ---- processes ----------------------------------------------------------

    def start(self, timeout=30):
        self.munged.start()
        self._wait(f"munged's socket {self.munge_socket}",
                   lambda: os.path.exists(self.munge_socket), timeout,
                   [self.munged])
        self.start_ctld(timeout)
        self.slurmd.start()
        self.wait_node_idle(timeout)
        return self

    def start_ctld(self, timeout=30):
        """slurmctld in the foreground; a restart recovers the jobs from
        the state it saved (no -i: a restart after kill -9 must read that
        state without ignoring errors in it)."""
        self.ctld.start()
        self._wait("slurmctld to answer", lambda: self.ping(), timeout,
                   [self.ctld])

    def stop_ctld(self):
        """A clean stop of slurmctld (SIGTERM): it saves all its state."""
        self.ctld.stop(signal.SIGTERM, timeout=30)
        assert self.ctld.proc.returncode == 0, \
            f"slurmctld exited with {self.ctld.proc.returncode}:\n{self.logs()}"

    def kill_ctld(self):
        """kill -9 of slurmctld, like a crash. Its slurmscriptd (and the
        hooks that one runs) are left as the crash leaves them."""
        self.ctld.stop(signal.SIGKILL)

    def ping(self):
        p = self.run("scontrol", "ping", check=False, timeout=10)
        return p.returncode == 0 and "UP" in p.stdout

    def wait_node_idle(self, timeout=30):
        def idle():
            p = self.run("sinfo", "-h", "-N", "-o", "%T", check=False)
            return p.returncode == 0 and p.stdout.strip().rstrip("*") == "idle"
        self._wait(f"node {self.node} idle", idle, timeout,
                   [self.ctld, self.slurmd])

    def _wait(self, what, fn, timeout, daemons=()):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for d in daemons:
                if d.proc is not None and d.proc.poll() is not None:
                    pytest.fail(f"{d.name} exited with {d.proc.returncode} "
                                f"while waiting for {what}:\n{self.logs()}")
            if fn():
                return
            time.sleep(0.1)
        pytest.fail(f"timed out after {timeout}s waiting for {what}:\n"
                    f"{self.logs()}")

    def logs(self, tail=4000):
        """The daemons' logs, their ends, for a failure's message."""
        out = []
        for name in ("slurmctld.log", "slurmd.log", "munged.log",
                     "slurmctld.out", "slurmd.out"):
            text = read_log(os.path.join(self.dir, "log", name))
            if text:
                out.append(f"--- {name}\n{text[-tail:]}")
        return "\n".join(out)

    def leftovers(self):
        """Pids of processes still carrying this cluster's mark."""
        mark = f"FAMFSD_SLURM_TEST={self.dir}".encode() + b"\0"
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            try:
                with open(f"/proc/{entry}/environ", "rb") as f:
                    env = f.read() + b"\0"
            except OSError:
                continue
            if b"\0" + mark in b"\0" + env:
                pids.append(int(entry))
        return pids

    def close(self):
        """Stops everything it started, kills what is left of it (fails if
        something survives that), keeps the logs, the configuration and
        the jobs' scripts and output in workdir/slurm and removes the
        rest. Idempotent."""
        if self.closed:
            return
        self.closed = True
        try:
            if self.ctld.running():
                self.run("scancel", "-u", self.user, check=False)
            for d in (self.slurmd, self.ctld, self.munged):
                d.stop()
        finally:
            # What the daemons leave: the jobs' slurmstepd, the hooks of a
            # slurmscriptd whose slurmctld was killed.
            for _ in range(50):
                left = self.leftovers()
                if not left:
                    break
                for pid in left:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                time.sleep(0.1)
            keep = os.path.join(self.workdir, "slurm")
            for sub in ("log", "etc"):
                shutil.copytree(os.path.join(self.dir, sub),
                                os.path.join(keep, sub), dirs_exist_ok=True)
            shutil.copytree(os.path.join(self.dir, "jobs"),
                            os.path.join(keep, "jobs"), dirs_exist_ok=True,
                            ignore=lambda d, names: [
                                n for n in names
                                if not n.endswith((".out", ".sh", ".py"))])
            shutil.rmtree(self.dir, ignore_errors=True)
        assert not left, f"processes of the cluster survived SIGKILL: {left}"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- the client commands -------------------------------------------------

    def run(self, cmd, *args, check=True, timeout=30, env=None, user=None):
        """A Slurm command against this cluster, as root or as user (the
        jobs' user); check: exit 0 required."""
        argv = [which(cmd), *map(str, args)]
        if user:
            pw = pwd.getpwnam(user)
            argv = [which("setpriv"), f"--reuid={pw.pw_uid}",
                    f"--regid={pw.pw_gid}", "--init-groups", "--", *argv]
        p = subprocess.run(argv, capture_output=True,
                           text=True, timeout=timeout,
                           env={**self.env, **(env or {})})
        if check:
            assert p.returncode == 0, (cmd, args, p.returncode, p.stdout,
                                       p.stderr)
        return p

    def submit(self, script, *args, env=None):
        """sbatch --parsable of script's text, run as the jobs' user (the
        burst buffer plugins refuse root's jobs); the CompletedProcess, so
        a refusal can be checked. Output goes to jobs/<id>.out."""
        path = os.path.join(self.dir, "jobs",
                            f"script{time.monotonic_ns()}.sh")
        with open(path, "w") as f:
            f.write(script)
        return self.run("sbatch", "--parsable",
                        "-o", os.path.join(self.dir, "jobs", "%j.out"),
                        "-D", os.path.join(self.dir, "jobs"),
                        *args, path, check=False, env=env, user=self.user)

    def sbatch(self, script, *args, env=None):
        """Submits script; its job id (an int). sbatch must accept it."""
        p = self.submit(script, *args, env=env)
        assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
        return int(p.stdout.strip().split(";")[0])

    def job(self, job_id):
        """`scontrol show job -o` of the job as a dict."""
        p = self.run("scontrol", "show", "job", "-o", job_id)
        return parse_oneliner(p.stdout)

    def state(self, job_id):
        return self.job(job_id)["JobState"]

    def output(self, job_id):
        return read_log(os.path.join(self.dir, "jobs", f"{job_id}.out"))

    def wait_state(self, job_id, states, timeout=60):
        """Waits until the job's JobState is one of states (a name or a
        set); fails early when it reaches another final state. Returns the
        job's dict."""
        want = {states} if isinstance(states, str) else set(states)
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if not self.ctld.running():
                pytest.fail(f"slurmctld exited ({self.ctld.proc.returncode}) "
                            f"while job {job_id} was awaited:\n{self.logs()}")
            p = self.run("scontrol", "show", "job", "-o", job_id, check=False)
            if p.returncode == 0 and p.stdout.strip():
                last = parse_oneliner(p.stdout)
                if last["JobState"] in want:
                    return last
                if last["JobState"] in FINAL - want:
                    pytest.fail(f"job {job_id} ended {last['JobState']}, not "
                                f"{sorted(want)}: {last}\noutput:\n"
                                f"{self.output(job_id)}\n{self.logs()}")
            time.sleep(0.1)
        pytest.fail(f"job {job_id} not {sorted(want)} after {timeout}s: {last}"
                    f"\n{self.logs()}")


# ---- the burst buffer on it ----------------------------------------------------

BB_LUA = os.path.join(ROOT, "slurm", "burst_buffer.lua")


class BurstBufferBed:
    """A famfsd master and an agent with a FUSE mount on a fresh pool, the
    burst buffer's configuration naming them (FAMFSD_BB_CONFIG in
    slurmctld's environment), and a SlurmCluster whose slurmctld runs the
    tree's slurm/burst_buffer.lua: the pieces of a site, on one host.

    conf: extra keys of the burst buffer's configuration (its test-only
    delays); set_conf() rewrites it, and the hooks read it at every call."""

    def __init__(self, workdir, conf=None, pool_size="1G", bb_lua=BB_LUA):
        self.workdir = str(workdir)
        self.agent = None
        self.cluster = None
        self.master = None
        self.mount_parent = None
        try:
            self._start(conf, pool_size, bb_lua)
        except BaseException:
            self.close()
            raise

    def _start(self, conf, pool_size, bb_lua):
        assert os.path.exists(bb_lua), f"{bb_lua} is missing"
        w = self.workdir
        self.pool = make_pool(os.path.join(w, "pool.img"), size=pool_size)
        self.master = Master(self.pool, w, args=["--reclaim-grace-ms", "0"])
        self.api = self.master.client("admin")
        # The jobs' user reaches the mount: its parents must be searchable
        # by all, which pytest's directories are not.
        self.mount_parent = tempfile.mkdtemp(prefix="famfsd-bbmnt-")
        os.chmod(self.mount_parent, 0o755)
        self.mount = os.path.join(self.mount_parent, "mnt")
        os.mkdir(self.mount)
        self.agent_token = os.path.join(w, "agent.token")
        self.slurm_token = os.path.join(w, "slurm.token")
        for path, tok in ((self.agent_token, AGENT_TOKEN),
                          (self.slurm_token, ADMIN_TOKEN)):
            with open(path, "w") as f:
                f.write(tok + "\n")
            os.chmod(path, 0o600)
        self.agent_log = os.path.join(w, "agent.stderr")
        with open(self.agent_log, "w") as err:
            self.agent = subprocess.Popen(
                [FAMFSD, "agent", "--pool", self.pool, "--mount", self.mount,
                 "--master", self.master.url, "--token-file", self.agent_token,
                 "--agent-id", "slurm-node", "--poll-ms", "10"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + 15
        while not mounted(self.mount):
            assert self.agent.poll() is None, \
                f"agent exited with {self.agent.returncode}:\n{read_log(self.agent_log)}"
            assert time.monotonic() < deadline, \
                f"agent did not mount in 15 s:\n{read_log(self.agent_log)}"
            time.sleep(0.02)
        self.state_dir = os.path.join(w, "bbstate")
        os.mkdir(self.state_dir, 0o700)
        self.conf_path = os.path.join(w, "famfsd-bb.conf")
        self.set_conf(conf or {})
        self.cluster = SlurmCluster(
            w, bb_lua=bb_lua, env={"FAMFSD_BB_CONFIG": self.conf_path},
            # As slurm/README.md has it: a failed stage tears the set down
            # (without the flag Slurm keeps it for inspection, and a cancel
            # of that job may kill the very teardown it starts). Timeouts
            # short enough that a stuck hook fails the test well within
            # its time, long enough for the test-only delays.
            bb_conf=["Flags=TeardownFailure", "StageInTimeout=60",
                     "StageOutTimeout=60", "OtherTimeout=60"])

    def set_conf(self, extra):
        """Writes the burst buffer's configuration: the master, tokens,
        mount and state of this bed, plus extra keys."""
        keys = {"famfsctl": FAMFSCTL, "url": self.master.url,
                "token_file": self.slurm_token, "tenant": "account",
                "mount": self.mount, "state_dir": self.state_dir,
                "timeout": "20", **extra}
        with open(self.conf_path, "w") as f:
            f.write("# written by tests/integration/slurm_cluster.py\n")
            f.writelines(f"{k} = {v}\n" for k, v in keys.items())

    def free_bytes(self):
        return self.api.get("/v1/pool", expect=200).json()["free_bytes"]

    def close(self):
        """The cluster first (its hooks call the master), then the agent
        (unmounting), then the master; each even when another failed."""
        errors = []
        for step in (lambda: self.cluster and self.cluster.close(),
                     self._close_agent,
                     lambda: self.master and self.master.close()):
            try:
                step()
            except Exception as e:      # report all of them, at the end
                errors.append(e)
        if errors:
            raise errors[0]

    def _close_agent(self):
        if self.agent is not None:
            stop_local(self.agent, self.mount, 10)
            self.agent = None
            text = read_log(self.agent_log)
            assert_no_sanitizer_report(text)
        if self.mount_parent:
            # rmdir, never a recursive removal: a mount left behind keeps
            # its directory and the pool's files in it stay untouched.
            for d in (self.mount, self.mount_parent):
                try:
                    os.rmdir(d)
                except OSError:
                    pass
            self.mount_parent = None
