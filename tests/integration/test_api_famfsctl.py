"""famfsctl's online commands against a real master: status, ls, stat,
create, mkdir, rm, quota get|set, agents, compact, in text and --json (checked
against the spec's schemas), with URL and token from flags or the
environment, and their exit codes (0 done, 1 refused, 8 unreachable, 16
bad usage)."""

import json
import os
import time

from conftest import SPEC, famfsctl, free_port

MiB = 1 << 20


def ctl(master, *args, token=None, check=0, env_auth=True):
    env = dict(os.environ)
    if env_auth:
        env["FAMFSD_URL"] = master.url
        env["FAMFSD_TOKEN"] = token or master.admin_token
    else:
        env.pop("FAMFSD_URL", None)
        env.pop("FAMFSD_TOKEN", None)
    return famfsctl(*args, check=check, env=env)


def js(master, *args, **kw):
    return json.loads(ctl(master, "--json", *args, **kw).stdout)


def test_create_mkdir_stat_ls_rm(master):
    d = js(master, "mkdir", "/tA", "--mode", "750", "--uid", "7")
    SPEC.validate_component(d, "File")
    assert (d["mode"], d["uid"]) == (0o750, 7)
    f = js(master, "create", "/tA/job 1", "--size", "3M", "--tenant", "tA")
    SPEC.validate_component(f, "File")
    assert f["size"] == 3 * MiB and f["path"] == "/tA/job 1" and f["tenant"] == "tA"
    assert js(master, "stat", "/tA/job 1") == f
    text = ctl(master, "stat", "/tA/job 1").stdout
    assert "tenant   tA" in text and "extents  1" in text
    listing = js(master, "ls", "/tA")
    assert [e["path"] for e in listing["entries"]] == ["/tA/job 1"]
    assert "job 1" in ctl(master, "ls", "tA").stdout
    assert "/tA" in ctl(master, "ls").stdout or "tA" in ctl(master, "ls").stdout
    out = ctl(master, "rm", "/tA/job 1").stdout
    assert out.startswith("deleted /tA/job 1 (seq ")
    ctl(master, "rm", "/tA/job 1", check=1)
    r = ctl(master, "rm", "--dir", "/tA")
    assert r.returncode == 0


def test_ls_pages_through_large_directories(master):
    api = master.client()
    api.put("/v1/dirs/big", expect=201)
    for i in range(1203):
        api.put(f"/v1/dirs/big/d{i}", expect=201)
    listing = js(master, "ls", "/big")
    assert len(listing["entries"]) == 1203
    assert len({e["ino"] for e in listing["entries"]}) == 1203
    assert len(ctl(master, "ls", "/big").stdout.splitlines()) == 1203


def test_refusals_exit_1_with_the_problem(master):
    ctl(master, "create", "/a", "--size", "1")
    r = ctl(master, "create", "/a", "--size", "2", check=1)
    assert "409 conflict" in r.stderr
    r = ctl(master, "stat", "/missing", check=1)
    assert "404 not-found" in r.stderr
    r = ctl(master, "create", "/tB/x", "--size", "1",
            token=master.tenant_tokens["tA"], check=1)
    assert "403 forbidden" in r.stderr
    r = ctl(master, "status", token="wrong-token-0123456789", check=1)
    assert "401 unauthorized" in r.stderr


def test_usage_exits_16_and_unreachable_8(master):
    r = ctl(master, "create", "/a", check=16)            # no --size
    assert "--size is needed" in r.stderr
    ctl(master, "quota", "set", "tA", check=16)          # no limit
    ctl(master, "quota", "frob", check=16)
    r = ctl(master, "mkdir", "/x", "--mode", "999", check=16)
    assert "bad value '999' for --mode" in r.stderr
    # Nothing of those reached the master.
    assert js(master, "ls")["entries"] == []
    r = famfsctl("status", "--url", f"http://127.0.0.1:{free_port()}",
                 "--token", "x" * 20, check=8)
    assert "failed to reach the master" in r.stderr
    r = famfsctl("status", "--url", master.url, check=8,
                 env={k: v for k, v in os.environ.items()
                      if not k.startswith("FAMFSD_")})
    assert "no token" in r.stderr


def test_flags_override_environment(master, tmp_path):
    tok = tmp_path / "admin.token"
    tok.write_text(master.admin_token + "\n")
    p = famfsctl("status", "--url", master.url, "--token-file", str(tok),
                 "--json", check=0, env={"PATH": os.environ["PATH"],
                                         "FAMFSD_URL": "http://127.0.0.1:1",
                                         "FAMFSD_TOKEN": "bad"})
    SPEC.validate_component(json.loads(p.stdout), "Pool")
    p = famfsctl("status", "--url", master.url, "--token", master.admin_token,
                 check=0, env={"PATH": os.environ["PATH"]})
    assert "master" in p.stdout and "log" in p.stdout


def test_quota_and_status(master):
    t = js(master, "quota", "set", "tA", "--max-bytes", "64M", "--max-files", "10")
    SPEC.validate_component(t, "Tenant")
    assert (t["max_bytes"], t["max_files"]) == (64 * MiB, 10) and t["seq"] >= 1
    # One limit alone keeps the other.
    t = js(master, "quota", "set", "tA", "--max-files", "0")
    assert (t["max_bytes"], t["max_files"]) == (64 * MiB, 0)
    t = js(master, "quota", "set", "newt", "--max-bytes", "1G")
    assert (t["max_bytes"], t["max_files"]) == (1 << 30, 0)
    one = js(master, "quota", "get", "tA")
    SPEC.validate_component(one, "Tenant")
    all_ = js(master, "quota", "get")
    SPEC.validate_component(all_, "TenantList")
    assert [x["tenant"] for x in all_["tenants"]] == ["newt", "tA"]
    assert "64.0 MiB" in ctl(master, "quota", "get", "tA").stdout
    ctl(master, "quota", "get", "nobody", check=1)
    st = js(master, "status")
    SPEC.validate_component(st, "Pool")
    assert "tenants:" in ctl(master, "status").stdout


def test_agents_list_and_evict(master):
    master.client("agent").post("/v1/agents/node-1/heartbeat", json={
        "agent_id": "node-1", "host": "n1", "address": "", "applied_seq": 0,
        "open_inos": [], "generation": 1}, expect=200)
    lst = js(master, "agents")
    SPEC.validate_component(lst, "AgentList")
    assert lst["agents"][0]["agent_id"] == "node-1"
    assert "node-1" in ctl(master, "agents").stdout
    ev = js(master, "agents", "--evict", "node-1")
    SPEC.validate_component(ev, "Agent")
    assert ev["state"] == "evicted"
    ctl(master, "agents", "--evict", "node-2", check=1)


def test_compact_prints_the_new_generation(master):
    ctl(master, "create", "/a", "--size", "1")
    before = js(master, "status")
    c = js(master, "compact")
    SPEC.validate_component(c, "Compaction")
    assert c["generation"] == before["log_generation"] + 1 == 2
    assert (c["base_seq"], c["checkpoint_items"]) == (before["last_seq"], 1)
    text = ctl(master, "compact").stdout
    assert text.startswith("compacted into log generation 3: checkpoint of 1 "
                           "items (") and "as of record 1, 0 records copied" in text
    st = js(master, "status")
    SPEC.validate_component(st, "Pool")
    assert (st["log_generation"], st["log_compactions"]) == (3, 2)
    assert "generation 3, checkpoint of 1 items" in ctl(master, "status").stdout
    assert js(master, "ls")["entries"][0]["path"] == "/a"


def test_compact_refusals_and_timeouts(master):
    r = ctl(master, "compact", token=master.tenant_tokens["tA"], check=1)
    assert "famfsctl compact: Forbidden (403 forbidden)" in r.stderr
    r = ctl(master, "compact", token="wrong-token-0123456789", check=1)
    assert "401 unauthorized" in r.stderr
    r = famfsctl("compact", "--url", f"http://127.0.0.1:{free_port()}",
                 "--token", "x" * 20, check=8)
    assert "failed to reach the master" in r.stderr
    # A live agent still on generation 1 holds the compaction (C0) after
    # one switch: the second waits, and --timeout says so.
    master.client("agent").post("/v1/agents/h1/heartbeat", json={
        "host": "h1", "address": "", "applied_seq": 0, "open_inos": [],
        "generation": 1}, expect=200)
    ctl(master, "compact")
    r = ctl(master, "compact", "--timeout", "1", check=8)
    assert f"the master at '{master.url}' did not answer within 1 s" in r.stderr
    # The compaction asked for stays asked for: once the agent follows,
    # it runs.
    master.client("agent").post("/v1/agents/h1/heartbeat", json={
        "host": "h1", "address": "", "applied_seq": 0, "open_inos": [],
        "generation": 2}, expect=200)
    deadline = time.monotonic() + 10
    while js(master, "status")["log_generation"] != 3:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # An evicted agent holds nothing back.
    ctl(master, "agents", "--evict", "h1")
    assert js(master, "compact", "--timeout", "5")["generation"] == 4
