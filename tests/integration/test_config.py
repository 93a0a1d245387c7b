"""The node configuration file (docs/config.md) and what the master does
with it at run time, on the host, without systemd:

- bad files are refused with FILE:LINE for every problem at once;
- the file's values become options, the command line's own win;
- a pool named by UUID is found on the devices= globs, and a path that
  holds another pool is refused;
- role-check answers ExecCondition= (0 run, 1 skip, 255 broken file);
- SIGHUP swaps the master's tokens and agent_timeout without a restart,
  and a broken file or token file changes nothing;
- a socket passed in (socket activation) replaces [master] listen;
- under a journal stream the master's lines carry <N> priorities.
"""

import json
import os
import signal
import socket
import subprocess
import time

import pytest
import requests

from conftest import ADMIN_TOKEN, FAMFSD, famfsctl, free_port, make_pool, require

NEW_ADMIN = "admin-reloaded-0123456789"


def famfsd(*args, timeout=30, env=None):
    return subprocess.run([FAMFSD, *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env=env)


def write(path, text):
    path.write_text(text)
    return str(path)


def pool_uuid(pool):
    p = famfsctl("--json", "info", pool, check=0)
    return json.loads(p.stdout)["pool_uuid"]


@pytest.fixture
def pool(tmp_path):
    return make_pool(tmp_path / "pool.img", size="1G")


def test_errors_name_file_and_line_all_at_once(tmp_path):
    conf = write(tmp_path / "bad.conf", """\
# comment
[famfsd]
role = leader
colour = blue
[pool]
path = relative/pool.img
offset = 12Q
[nosuch]
[agent]
poll_ms = 0
mount = /mnt/a
mount = /mnt/b
a line without an equals sign
[master]
listen = example.com:80
tls_cert = /etc/famfsd/cert.pem
""")
    p = famfsd("check-config", "--config", conf)
    assert p.returncode == 1, p
    lines = p.stderr.splitlines()
    expect = [
        f"{conf}:3: bad role 'leader'",
        f"{conf}:4: unknown key 'colour' in [famfsd]",
        f"{conf}:6: bad path 'relative/pool.img': want an absolute path",
        f"{conf}:7: bad offset '12Q'",
        f"{conf}:8: unknown section [nosuch]",
        f"{conf}:10: bad poll_ms '0': want an integer from 1 to 60000",
        f"{conf}:12: 'mount' is already set on line 11",
        f"{conf}:13: expected 'key = value'",
        f"{conf}:15: bad listen 'example.com:80'",
        f"{conf}:16: tls_cert and tls_key go together",
    ]
    for want, got in zip(expect, lines):
        assert got.startswith(want), (want, p.stderr)
    assert "refusing to start" in lines[-1]
    # The daemon itself refuses the same file before touching anything,
    # with EX_CONFIG (78: the units do not restart on it).
    p = famfsd("agent", "--config", conf)
    assert p.returncode == 78 and f"{conf}:3: bad role" in p.stderr
    # Under systemd (a journal stream) at error priority.
    p = famfsd("agent", "--config", conf,
               env=dict(os.environ, JOURNAL_STREAM="8:1234"))
    assert p.returncode == 78
    assert p.stderr.splitlines()[0] == f"<3>{conf}:3: bad role 'leader': want one " \
        "of master, agent, both", p.stderr


def test_missing_file_and_role(tmp_path):
    p = famfsd("master", "--config", tmp_path / "none.conf")
    assert p.returncode == 78 and "cannot read: No such file" in p.stderr
    conf = write(tmp_path / "norole.conf", "[pool]\npath = /x\n")
    p = famfsd("check-config", "--config", conf)
    assert p.returncode == 1 and "role is not set" in p.stderr
    p = famfsd("--config")
    assert p.returncode == 2


def test_long_line_is_refused_not_split(tmp_path):
    conf = write(tmp_path / "long.conf",
                 "[famfsd]\nrole = agent\n[agent]\nmount = /" + "a" * 300 + "\n")
    p = famfsd("check-config", "--config", conf)
    assert p.returncode == 1
    assert f"{conf}:4: line longer than" in p.stderr, p.stderr


def test_file_values_become_options_command_line_wins(tmp_path, pool):
    conf = write(tmp_path / "n.conf", f"""\
[famfsd]
role = both
verbose = yes
[pool]
path = {pool}
offset = 0 ; inline comment
coherence = NONE
[master]
listen = 127.0.0.1:7999
agent_timeout = 20
[agent]
mount = /mnt/famfs
backend = fuse
poll_ms = 100
direct_io = off
""")
    p = famfsd("check-config", "--config", conf)
    assert p.returncode == 0, p.stderr
    out = dict(line.split(": ", 1) for line in p.stdout.splitlines())
    assert out["role"] == "both"
    master = out["master"].split()
    assert master[:2] == ["famfsd", "master"]
    assert ["--coherence", "none"] == master[master.index("--coherence"):][:2]
    assert "--listen" in master and "127.0.0.1:7999" in master
    assert master[-2:] == ["--config", str(conf)]
    agent = out["agent"].split()
    assert "--verbose" in agent and "--direct-io" not in agent
    assert ["--poll-ms", "100"] == agent[agent.index("--poll-ms"):][:2]

    # role=both without a role on the command line: say which two to run.
    p = famfsd("--config", conf)
    assert p.returncode == 78 and "role=both" in p.stderr
    # A role the file does not give this node is refused.
    only = write(tmp_path / "m.conf", f"[famfsd]\nrole = master\n[pool]\npath = {pool}\n")
    p = famfsd("agent", "--config", only, "--mount", tmp_path / "mnt")
    assert p.returncode == 78 and "role=master" in p.stderr

    # Command-line flags win: a master on another port than the file's.
    port = free_port()
    tokens = tmp_path / "tokens"
    tokens.write_text(f"{ADMIN_TOKEN} admin\n")
    tokens.chmod(0o600)
    proc = subprocess.Popen([FAMFSD, "master", "--config", only, "--listen",
                             f"127.0.0.1:{port}", "--tokens", str(tokens)],
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_healthz(f"http://127.0.0.1:{port}", proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0


def wait_healthz(url, proc, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read()
        try:
            if requests.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.05)
    pytest.fail(f"{url} did not answer")


def test_pool_found_by_uuid_and_checked(tmp_path, pool):
    devs = tmp_path / "devs"
    devs.mkdir()
    other = make_pool(devs / "other.img", size="1G")
    os.rename(pool, devs / "pool.img")
    uuid = pool_uuid(str(devs / "pool.img"))
    conf = write(tmp_path / "u.conf", f"""\
[famfsd]
role = agent
[pool]
uuid = {uuid.upper()}
devices = {devs}/*.img /nonexistent/*
[agent]
mount = {tmp_path}/mnt
""")
    p = famfsd("check-config", "--config", conf)
    assert p.returncode == 0, p.stderr
    assert f"--pool {devs}/pool.img " in p.stdout

    # --pool-uuid (the template units) overrides the file's uuid.
    p = famfsd("agent", "--config", conf, "--pool-uuid", pool_uuid(other),
               "--pool", devs / "pool.img")
    assert p.returncode == 1
    assert f"'{devs}/pool.img' holds pool {uuid}, not {pool_uuid(other)}" in p.stderr

    # A copy of the pool makes the UUID ambiguous: name both, start nothing.
    with open(devs / "pool.img", "rb") as src, open(devs / "copy.img", "wb") as dst:
        dst.write(src.read(1 << 20))
        dst.truncate(1 << 30)
    p = famfsd("check-config", "--config", conf)
    assert p.returncode == 1
    assert "is on more than one device" in p.stderr and "copy.img" in p.stderr

    missing = write(tmp_path / "m.conf", f"""\
[famfsd]
role = agent
[pool]
uuid = 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0
devices = {devs}/*.img
[agent]
mount = /mnt/x
""")
    p = famfsd("check-config", "--config", missing)
    assert p.returncode == 1 and "not found on any of the 3 device(s)" in p.stderr


def test_role_check_exit_codes(tmp_path):
    conf = write(tmp_path / "a.conf", "[famfsd]\nrole = agent\n[pool]\npath = /x\n")
    assert famfsd("role-check", "agent", "--config", conf).returncode == 0
    assert famfsd("role-check", "master", "--config", conf).returncode == 1
    both = write(tmp_path / "b.conf", "[famfsd]\nrole = both\n")
    assert famfsd("role-check", "master", "--config", both).returncode == 0
    assert famfsd("role-check", "agent", "--config", both).returncode == 0
    bad = write(tmp_path / "c.conf", "[famfsd]\nrole = all\n")
    assert famfsd("role-check", "agent", "--config", bad).returncode == 255
    assert famfsd("role-check", "agent", "--config",
                  tmp_path / "none.conf").returncode == 255


def status(url, token):
    return requests.get(url + "/v1/tenants", timeout=5,
                        headers={"Authorization": f"Bearer {token}"}).status_code


def test_sighup_reloads_tokens_and_settings(tmp_path, pool):
    port = free_port()
    tokens = tmp_path / "tokens"
    tokens.write_text(f"{ADMIN_TOKEN} admin\n")
    tokens.chmod(0o600)
    conf = tmp_path / "m.conf"
    text = f"""\
[famfsd]
role = master
[pool]
path = {pool}
[master]
listen = 127.0.0.1:{port}
tokens = {tokens}
"""
    conf.write_text(text)
    err = open(tmp_path / "master.err", "w")
    proc = subprocess.Popen([FAMFSD, "master", "--config", str(conf)],
                            stderr=err, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthz(url, proc)
        assert status(url, ADMIN_TOKEN) == 200

        def hup_and_wait(marker):
            proc.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 10
            while marker not in (tmp_path / "master.err").read_text():
                assert time.monotonic() < deadline, (tmp_path / "master.err").read_text()
                time.sleep(0.05)

        # A new token file: the old token is out, the new one in, no restart.
        tokens.write_text(f"{NEW_ADMIN} admin\n")
        conf.write_text(text + "agent_timeout = 33\nlease_seconds = 20\n")
        hup_and_wait("reloaded 1 tokens")
        assert status(url, ADMIN_TOKEN) == 401
        assert status(url, NEW_ADMIN) == 200
        log = (tmp_path / "master.err").read_text()
        assert "agent_timeout is now 33 s" in log
        assert "[master] lease_seconds changed" in log and "next restart" in log

        # A broken token file keeps the tokens in use.
        tokens.write_text("short admin\n")
        hup_and_wait("keeping the 1 tokens in use")
        assert status(url, NEW_ADMIN) == 200

        # A broken config file changes nothing, says where it is broken.
        tokens.write_text(f"{ADMIN_TOKEN} admin\n")
        conf.write_text(text + "bogus = 1\n")
        hup_and_wait("keeping the running settings")
        assert f"{conf}:8: unknown key 'bogus' in [master]" in \
            (tmp_path / "master.err").read_text()
        assert status(url, NEW_ADMIN) == 200
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        err.close()


def test_socket_activation_and_journal_priorities(tmp_path, pool):
    """systemd-socket-activate holds the socket as systemd would; the first
    connection starts the master, which serves that socket."""
    port = free_port()
    tokens = tmp_path / "tokens"
    tokens.write_text(f"{ADMIN_TOKEN} admin\n")
    tokens.chmod(0o600)
    unused = free_port()
    conf = write(tmp_path / "m.conf", f"""\
[famfsd]
role = master
[pool]
path = {pool}
[master]
listen = 127.0.0.1:{unused}
tokens = {tokens}
""")
    env = dict(os.environ, JOURNAL_STREAM="8:1234")
    err = open(tmp_path / "master.err", "w")
    proc = subprocess.Popen(["systemd-socket-activate", "-l", f"127.0.0.1:{port}",
                             "-E", "JOURNAL_STREAM", FAMFSD, "master",
                             "--config", conf], stderr=err, env=env)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.05)
        r = requests.get(f"http://127.0.0.1:{port}/v1/tenants", timeout=20,
                         headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert r.status_code == 200
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{unused}/healthz", timeout=2)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        err.close()
    log = (tmp_path / "master.err").read_text()
    assert "<6>master: serving on the socket systemd passed" in log, log
    assert "<6>master: stopped" in log, log


def test_token_rotation_keeps_the_agent_mounted(tmp_path, pool):
    """New tokens: the master's file rewritten and reloaded (SIGHUP), the
    agent's token file rewritten; the agent is refused once, re-reads its
    file and heartbeats again, with the same mount and process."""
    require(os.geteuid() == 0 and os.path.exists("/dev/fuse"),
            "FUSE mounts need root and /dev/fuse")
    old, new = "agent-old-0123456789abcdef", "agent-new-0123456789abcdef"
    port = free_port()
    tokens = tmp_path / "tokens"
    tokens.write_text(f"{ADMIN_TOKEN} admin\n{old} agent\n")
    tokens.chmod(0o600)
    agent_token = tmp_path / "agent.token"
    agent_token.write_text(old + "\n")
    mnt = tmp_path / "mnt"
    conf = write(tmp_path / "n.conf", f"""\
[famfsd]
role = both
[pool]
path = {pool}
[master]
listen = 127.0.0.1:{port}
tokens = {tokens}
[agent]
mount = {mnt}
master_url = http://127.0.0.1:{port}
token_file = {agent_token}
agent_id = rotating
""")
    url = f"http://127.0.0.1:{port}"
    merr = open(tmp_path / "master.err", "w")
    aerr = open(tmp_path / "agent.err", "w")
    master = subprocess.Popen([FAMFSD, "master", "--config", conf], stderr=merr,
                              stdout=subprocess.DEVNULL)
    agent = None

    def heartbeat_ns():
        r = requests.get(url + "/v1/agents", timeout=5,
                         headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        found = [a for a in r.json()["agents"] if a["agent_id"] == "rotating"]
        return found[0]["last_heartbeat_ns"] if found else None

    def wait_for(what, fn, timeout=20):
        deadline = time.monotonic() + timeout
        while not fn():
            assert time.monotonic() < deadline, what
            assert agent.poll() is None, (tmp_path / "agent.err").read_text()
            time.sleep(0.1)

    try:
        wait_healthz(url, master)
        agent = subprocess.Popen([FAMFSD, "agent", "--config", conf],
                                 stderr=aerr, stdout=subprocess.DEVNULL)
        wait_for("first heartbeat", lambda: heartbeat_ns() is not None)

        tokens.write_text(f"{ADMIN_TOKEN} admin\n{new} agent\n")
        agent_token.write_text(new + "\n")
        master.send_signal(signal.SIGHUP)
        wait_for("the master reloaded",
                 lambda: "reloaded 2 tokens" in (tmp_path / "master.err").read_text())
        before = heartbeat_ns()
        wait_for("a heartbeat with the new token", lambda: heartbeat_ns() != before)
        log = (tmp_path / "agent.err").read_text()
        assert "holds another one now, using it" in log, log
        assert os.path.ismount(mnt) and agent.poll() is None
    finally:
        if agent:
            agent.send_signal(signal.SIGTERM)
            assert agent.wait(20) == 0
        master.send_signal(signal.SIGTERM)
        assert master.wait(20) == 0
        merr.close()
        aerr.close()
