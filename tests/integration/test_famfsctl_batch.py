"""famfsctl batch FILE|- against a real master (docs/batch.md): a set of
creates, mkdirs and deletes applied together, its summary and --json reply
(checked against the spec), the same batch again finding its work done, a
refusal naming the operation (exit 1, nothing written), bodies that are not
one JSON object (exit 16, nothing sent), standard input and a list of
masters, a reply larger than 1 MiB, and --wait-agents against the agents'
positions as the master knows them from heartbeats."""

import http.server
import json
import os
import subprocess
import threading
import time

from conftest import FAMFSCTL, SPEC, free_port, require
import test_api_redirect
from test_famfsctl_cli import Agent

MiB = 1 << 20
# Two masters on one pool, (active, standby), as test_api_redirect.py has them.
pair = test_api_redirect.pair


def famfsctl(*args, check=None, env=None, input=None):
    """conftest's famfsctl, with standard input."""
    p = subprocess.run([FAMFSCTL, *map(str, args)], capture_output=True,
                       text=True, timeout=120, env=env, input=input)
    if check is not None:
        assert p.returncode == check, (args, p.returncode, p.stdout, p.stderr)
    return p


def ctl(master, *args, token=None, check=0, input=None):
    env = dict(os.environ)
    env["FAMFSD_URL"] = master.url
    env["FAMFSD_TOKEN"] = token or master.admin_token
    return famfsctl(*args, check=check, env=env, input=input)


def body_file(tmp_path, ops, name="batch.json"):
    p = tmp_path / name
    p.write_text(json.dumps({"ops": ops}))
    return str(p)


def last_seq(master):
    return master.client().get("/v1/pool", expect=200).json()["last_seq"]


JOB = [
    {"op": "mkdir", "path": "tA", "exist_ok": True},
    {"op": "mkdir", "path": "tA/job1", "mode": 0o700, "uid": 1000, "gid": 1000},
    {"op": "create", "path": "tA/job1/f0", "size": 3 * MiB, "mode": 0o600,
     "uid": 1000, "gid": 1000, "tenant": "tA"},
    {"op": "create", "path": "tA/job1/f1", "size": 1, "tenant": "tA"},
    {"op": "delete", "path": "tA/job0/f0", "missing_ok": True},
]


def test_batch_applies_the_set_and_again_finds_it_done(master, tmp_path):
    path = body_file(tmp_path, JOB)
    out = ctl(master, "batch", path).stdout
    seq = last_seq(master)
    assert out == (f"5 operations at seq {seq}: 4 created, 1 absent\n"), out
    api = master.client()
    f0 = api.get("/v1/files/tA/job1/f0", expect=200).json()
    assert (f0["size"], f0["mode"], f0["uid"], f0["tenant"]) == (3 * MiB, 0o600,
                                                               1000, "tA")
    d = api.get("/v1/files/tA/job1", expect=200).json()
    assert (d["type"], d["mode"], d["gid"]) == ("dir", 0o700, 1000)
    # Sent again (a lost reply's retry): nothing new is written, each
    # operation says the work was there.
    again = json.loads(ctl(master, "batch", path, "--json").stdout)
    SPEC.validate_component(again, "BatchResult")
    assert [r["status"] for r in again["results"]] == ["exists"] * 4 + ["absent"]
    assert again["seq"] == seq == last_seq(master)
    assert [r["path"] for r in again["results"]] == [
        "/tA", "/tA/job1", "/tA/job1/f0", "/tA/job1/f1", "/tA/job0/f0"]
    assert again["results"][2]["ino"] == f0["ino"]
    assert ctl(master, "batch", path).stdout == (
        f"5 operations at seq {seq}: 4 exists, 1 absent\n")
    # The teardown: one batch of deletes.
    teardown = [{"op": "delete", "path": "tA/job1/f0"},
                {"op": "delete", "path": "tA/job1/f1"},
                {"op": "delete", "path": "tA/job1"}]
    out = ctl(master, "batch", body_file(tmp_path, teardown, "down.json")).stdout
    assert out == f"3 operations at seq {seq + 3}: 3 deleted\n"
    api.get("/v1/files/tA/job1", expect=404)


def test_refusal_names_the_operation_and_writes_nothing(master, tmp_path):
    before = last_seq(master)
    ops = [{"op": "mkdir", "path": "j"},
           {"op": "create", "path": "j/f0", "size": 1},
           {"op": "create", "path": "nope/f1", "size": 1}]
    r = ctl(master, "batch", body_file(tmp_path, ops), check=1)
    assert "famfsctl batch: " in r.stderr and "(404 not-found)" in r.stderr
    assert "refused at ops[2] (/nope/f1); nothing was written" in r.stderr
    assert r.stdout == ""
    master.client().get("/v1/files/j", expect=404)
    assert last_seq(master) == before
    # A conflict at ops[1]: a file where the batch's own mkdir made a directory.
    ops = [{"op": "mkdir", "path": "k"}, {"op": "create", "path": "k", "size": 1}]
    r = ctl(master, "batch", body_file(tmp_path, ops), "--json", check=1)
    assert "(409 conflict)" in r.stderr and "refused at ops[1] (/k)" in r.stderr
    assert r.stdout == ""
    # Refused as a whole: an operation the API does not know, no ops.
    r = ctl(master, "batch", body_file(tmp_path, [{"op": "chmod", "path": "j"}]),
            check=1)
    assert "(400 validation)" in r.stderr
    p = tmp_path / "empty.json"
    p.write_text('{"operations": []}')
    r = ctl(master, "batch", str(p), check=1)
    assert "(400 validation)" in r.stderr
    assert "the request as a whole was refused; nothing was written" in r.stderr
    # A tenant token outside its directory.
    r = ctl(master, "batch", body_file(tmp_path, [{"op": "mkdir", "path": "tB/x"}]),
            token=master.tenant_tokens["tA"], check=1)
    assert "(403 forbidden)" in r.stderr and "ops[0] (/tB/x)" in r.stderr
    assert last_seq(master) == before


def test_bodies_that_are_not_one_json_object_exit_16(master, tmp_path):
    cases = {
        "not.json": ('{"ops": [{"op": "mkdir", "path": "a"}', "is not JSON: "),
        "array.json": ('[{"op": "mkdir", "path": "a"}]',
                       "holds a JSON array, not an object"),
        "tail.json": ('{"ops": [{"op": "mkdir", "path": "a"}]} {}',
                      "is not JSON: more after the value, at byte 40"),
        "empty.json": ("", "is not JSON: "),
        "nul.json": ('{"ops": []}\0', "a NUL byte at byte 11"),
    }
    for name, (text, why) in cases.items():
        p = tmp_path / name
        p.write_text(text)
        r = ctl(master, "batch", str(p), check=16)
        assert f"famfsctl batch: '{p}' " in r.stderr and why in r.stderr, (name,
                                                                         r.stderr)
    big = tmp_path / "big.json"
    big.write_text(" " * (8 * MiB + 1))
    r = ctl(master, "batch", str(big), check=16)
    assert "is larger than the 8 MiB a batch body may be" in r.stderr
    r = ctl(master, "batch", str(tmp_path / "missing.json"), check=8)
    assert "failed to open" in r.stderr and "No such file" in r.stderr
    r = ctl(master, "batch", check=16)
    assert 'no FILE ("-" reads standard input)' in r.stderr
    ctl(master, "batch", "a.json", "b.json", check=16)
    r = ctl(master, "batch", "-", "--wait-agents", "0", check=16, input="{}")
    assert "bad value '0' for --wait-agents" in r.stderr
    ctl(master, "batch", "-", "--timeout", "x", check=16, input="{}")
    # None of them reached the master.
    assert last_seq(master) == 0


def test_standard_input_and_a_list_of_masters(master):
    ops = [{"op": "mkdir", "path": "s"}, {"op": "create", "path": "s/f", "size": 5}]
    dead = f"http://127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAMFSD_")}
    r = famfsctl("batch", "-", "--url", f"{dead},{master.url}", "--token",
                 master.admin_token, check=0, env=env,
                 input=json.dumps({"ops": ops}))
    assert r.stdout == f"2 operations at seq {last_seq(master)}: 2 created\n"
    assert master.client().get("/v1/files/s/f", expect=200).json()["size"] == 5
    r = ctl(master, "batch", "-", check=16, input="not json")
    assert "famfsctl batch: 'standard input' is not JSON: " in r.stderr
    r = famfsctl("batch", "-", "--url", dead, "--token", master.admin_token,
                 check=8, env=env, input="{}")
    assert "failed to reach the master" in r.stderr
    assert "may have been applied" not in r.stderr     # it was never sent


def test_json_reply_of_ten_thousand_operations(small_unit_pool, master_factory,
                                               tmp_path):
    """The reply (> 1 MiB) is printed whole and as the spec says."""
    master = master_factory(small_unit_pool)
    n = 10000
    ops = [{"op": "mkdir", "path": "big"}] + [
        {"op": "create", "path": f"big/file-with-a-longer-name-{i:05d}",
         "size": 4096} for i in range(n)]
    path = body_file(tmp_path, ops)
    out = ctl(master, "batch", path, "--json").stdout
    assert len(out) > MiB
    reply = json.loads(out)
    SPEC.validate_component(reply, "BatchResult")
    assert len(reply["results"]) == n + 1
    assert {r["status"] for r in reply["results"]} == {"created"}
    assert reply["results"][-1]["path"] == f"/big/file-with-a-longer-name-{n - 1:05d}"
    assert reply["seq"] == reply["results"][-1]["seq"] == last_seq(master)
    assert len({r["ino"] for r in reply["results"]}) == n + 1
    api = master.client()
    st = api.get(f"/v1/files/big/file-with-a-longer-name-{n - 1:05d}",
                 expect=200).json()
    assert st["ino"] == reply["results"][-1]["ino"]
    assert ctl(master, "batch", path).stdout == (
        f"{n + 1} operations at seq {reply['seq']}: {n + 1} exists\n")


def heartbeat(master, agent_id, applied_seq):
    master.client("agent").post(f"/v1/agents/{agent_id}/heartbeat", json={
        "host": agent_id, "address": "", "applied_seq": applied_seq,
        "open_inos": [], "generation": 1}, expect=200)


def test_wait_agents_until_every_live_agent_applied_the_seq(master, tmp_path):
    path = body_file(tmp_path, [{"op": "mkdir", "path": "w0"}])
    assert ctl(master, "batch", path, "--wait-agents", "1").stdout == (
        f"1 operation at seq {last_seq(master)}: 1 created\n"
        "no live agent to wait for\n")
    heartbeat(master, "h1", 0)
    heartbeat(master, "h2", 0)
    path = body_file(tmp_path, [{"op": "mkdir", "path": "w"}])
    t0 = time.monotonic()
    r = ctl(master, "batch", path, "--wait-agents", "1", check=8)
    assert time.monotonic() - t0 >= 1
    seq = last_seq(master)
    assert r.stdout == f"1 operation at seq {seq}: 1 created\n"
    assert (f"the batch was applied, but after 1 s 2 of 2 live agents have not "
            f"applied seq {seq}:") in r.stderr
    assert "  h1 (host h1) applied 0" in r.stderr and "h2 (host h2)" in r.stderr
    master.client().get("/v1/files/w", expect=200)
    # h1 catches up, h2 is evicted (no longer live): the wait ends once
    # h1's next heartbeat reports the seq.
    master.client().delete("/v1/agents/h2", expect=200)
    timer = threading.Timer(0.5, heartbeat, (master, "h1", seq))
    timer.start()
    try:
        t0 = time.monotonic()
        r = ctl(master, "batch", path, "--wait-agents", "10", check=0)
        took = time.monotonic() - t0
    finally:
        timer.join()
    assert 0.5 <= took < 5, took
    assert r.stdout.splitlines()[0] == f"1 operation at seq {seq}: 1 exists"
    assert r.stdout.splitlines()[1].startswith(f"1 live agent applied seq {seq} (")
    # With --json only the reply is on standard output.
    out = ctl(master, "batch", path, "--json", "--wait-agents", "5").stdout
    assert json.loads(out)["seq"] == seq
    # A tenant token may not list agents: the batch is applied, the wait
    # refused.
    r = ctl(master, "batch", body_file(tmp_path, [{"op": "mkdir", "path": "tA"}]),
            "--wait-agents", "5", token=master.tenant_tokens["tA"], check=1)
    assert "(403 forbidden)" in r.stderr
    assert "the batch was applied, but the agents' positions could not be " \
           "read" in r.stderr
    master.client().get("/v1/files/tA", expect=200)



def test_wait_agents_with_a_mounted_agent(master, tmp_path):
    """A real agent (FUSE mount, feed and heartbeats): once the wait ends,
    every file of the batch is in its mount."""
    require(os.geteuid() == 0, "FUSE mounts with allow_other need root")
    require(os.path.exists("/dev/fuse"), "/dev/fuse is missing")
    agent = Agent(master, tmp_path, name="mnt")
    try:
        deadline = time.monotonic() + 10
        while not any(a["state"] == "live" for a in
                      master.client().get("/v1/agents", expect=200).json()["agents"]):
            assert time.monotonic() < deadline, "the agent never heartbeat"
            time.sleep(0.05)
        n = 300
        ops = [{"op": "mkdir", "path": "m"}] + [
            {"op": "create", "path": f"m/f{i:03d}", "size": 4096} for i in range(n)]
        out = ctl(master, "batch", body_file(tmp_path, ops), "--wait-agents",
                  "10").stdout.splitlines()
        seq = last_seq(master)
        assert out[0] == f"{n + 1} operations at seq {seq}: {n + 1} created"
        assert out[1].startswith(f"1 live agent applied seq {seq} (")
        assert sorted(os.listdir(agent.p("m"))) == [f"f{i:03d}" for i in range(n)]
    finally:
        agent.close()



def test_through_a_standby(pair, tmp_path):
    """The standby's 307 is followed with the body (over 1 MiB, sent again
    to the active master) and the token; the wait's GET /v1/agents too."""
    m1, m2 = pair()
    n = 13000
    # Directories: the fixture's pool of 2 MiB units holds 2,000 files.
    ops = [{"op": "mkdir", "path": "via"}] + [
        {"op": "mkdir", "path": f"via/{'x' * 120}-{i:05d}"} for i in range(n)]
    path = body_file(tmp_path, ops)
    assert os.path.getsize(path) > MiB
    r = famfsctl("batch", path, "--url", m2.url, "--token", m1.admin_token,
                 "--wait-agents", "2", check=0)
    seq = last_seq(m1)
    assert r.stdout == (f"{n + 1} operations at seq {seq}: {n + 1} created\n"
                        "no live agent to wait for\n")
    m1.client().get(f"/v1/files/via/{'x' * 120}-{n - 1:05d}", expect=200)


class _Peer(http.server.BaseHTTPRequestHandler):
    """Not a master: answers every POST with the class's body."""
    body = b""

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


def test_replies_no_batch_gives_are_refused(tmp_path):
    """Whatever answers at the URL, famfsctl takes no reply past 64 MiB (a
    runaway: a batch's is ~23 MiB at most) and no 200 that is not a
    batch's reply; the master itself never gives either, hence a peer."""
    env = {"PATH": os.environ["PATH"], "FAMFSD_TOKEN": "x" * 20}
    path = body_file(tmp_path, [{"op": "mkdir", "path": "a"}])
    for body, why in ((b'{"seq": 1, "results": "' + b"x" * (64 * MiB) + b'"}',
                       "is larger than 64 MiB: refused"),
                      (b'{"seq": 1}', "answered 200 without a batch's results")):
        handler = type("Peer", (_Peer,), {"body": body})
        server = http.server.HTTPServer(("127.0.0.1", 0), handler)
        t = threading.Thread(target=server.serve_forever, daemon=True)
        t.start()
        try:
            r = famfsctl("batch", path, "--url",
                         f"http://127.0.0.1:{server.server_port}", check=8, env=env)
        finally:
            server.shutdown()
            server.server_close()
        assert why in r.stderr, r.stderr
        assert r.stdout == ""
