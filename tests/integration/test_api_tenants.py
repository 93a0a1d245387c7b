"""Tenants, quotas and token roles: quota records survive a restart, tenant
tokens stay inside /<tenant>/ and their quota, agent tokens reach only the
heartbeat and the feed, 401/403 come before any lookup, and 8 clients
racing creates never take a tenant past its quota by a single byte."""

import threading

import requests

from conftest import SPEC, problem_name

MiB = 1 << 20


def test_quota_set_get_list(api):
    r = api.put("/v1/tenants/tA/quota", json={"max_bytes": 10 * MiB,
                                              "max_files": 3}, expect=200)
    t = r.json()
    assert t == {"tenant": "tA", "max_bytes": 10 * MiB, "max_files": 3,
                 "used_bytes": 0, "used_files": 0, "seq": t["seq"]}
    api.put("/v1/tenants/a.b-c_9/quota", json={"max_bytes": 0, "max_files": 0},
            expect=200)
    got = api.get("/v1/tenants/tA", expect=200).json()
    assert "seq" not in got and got["max_files"] == 3
    names = [x["tenant"] for x in api.get("/v1/tenants", expect=200).json()["tenants"]]
    assert names == sorted(names) == ["a.b-c_9", "tA"]
    api.get("/v1/tenants/nobody", expect=404)


def test_quota_validation(api):
    for body in ({}, {"max_bytes": 1}, {"max_bytes": -1, "max_files": 0},
                 {"max_bytes": 1, "max_files": 1, "x": 1},
                 {"max_bytes": "1", "max_files": 1}):
        assert problem_name(api.put("/v1/tenants/tA/quota", json=body,
                                    expect=400)) == "validation"
    for bad in ("a%2Fb", "x" * 64, ".hidden", "%2E%2E", "a%20b"):
        api.put(f"/v1/tenants/{bad}/quota", json={"max_bytes": 1, "max_files": 1},
                expect=400)
        api.get(f"/v1/tenants/{bad}", expect=400)


def test_quota_exceeded_by_bytes_and_files(api):
    api.put("/v1/tenants/tA/quota", json={"max_bytes": 4 * MiB, "max_files": 2},
            expect=200)
    api.put("/v1/dirs/tA", expect=201)
    # 2 MiB units: 3 MiB takes 4 MiB, the whole byte quota.
    api.put("/v1/files/tA/a", json={"size": 3 * MiB, "tenant": "tA"}, expect=201)
    r = api.put("/v1/files/tA/b", json={"size": 1, "tenant": "tA"}, expect=507)
    assert problem_name(r) == "quota-exceeded"
    api.put("/v1/tenants/tA/quota", json={"max_bytes": 0, "max_files": 2},
            expect=200)
    api.put("/v1/files/tA/b", json={"size": 1, "tenant": "tA"}, expect=201)
    r = api.put("/v1/files/tA/c", json={"size": 1, "tenant": "tA"}, expect=507)
    assert problem_name(r) == "quota-exceeded"
    t = api.get("/v1/tenants/tA").json()
    assert (t["used_bytes"], t["used_files"]) == (6 * MiB, 2)
    # A limit below usage is accepted; deletes free the tenant at once.
    api.put("/v1/tenants/tA/quota", json={"max_bytes": MiB, "max_files": 1},
            expect=200)
    api.delete("/v1/files/tA/a", expect=200)
    t = api.get("/v1/tenants/tA").json()
    assert (t["used_bytes"], t["used_files"]) == (2 * MiB, 1)
    # Files without a tenant have no quota.
    api.put("/v1/files/free", json={"size": 100 * MiB}, expect=201)


def test_quota_and_usage_survive_restart(master, api):
    api.put("/v1/tenants/tA/quota", json={"max_bytes": 8 * MiB, "max_files": 5},
            expect=200)
    api.put("/v1/dirs/tA", expect=201)
    api.put("/v1/files/tA/f", json={"size": 1, "tenant": "tA"}, expect=201)
    before = api.get("/v1/tenants/tA").json()
    assert master.stop() == 0
    master.start()
    after = master.client().get("/v1/tenants/tA", expect=200).json()
    assert after == before


def test_no_token_and_unknown_token_are_401(master):
    for client in (master.client(None), master.client("nope-not-a-token-at-all")):
        for method, path in (("GET", "/v1/pool"), ("PUT", "/v1/files/tA/x"),
                             ("GET", "/metrics"), ("GET", "/v1/log"),
                             ("POST", "/v1/agents/h1/heartbeat")):
            r = client.request(method, path, json={"size": 1}, expect=401)
            assert problem_name(r) == "unauthorized"
            assert r.headers["WWW-Authenticate"] == "Bearer"
    r = requests.get(master.url + "/v1/pool", timeout=5,
                     headers={"Authorization": "Basic eDp5"})
    assert r.status_code == 401


def test_tenant_token_scope(master, api):
    ta = master.client("tA")
    api.put("/v1/dirs/tB", expect=201)
    api.put("/v1/files/tB/secret", json={"size": 1}, expect=201)
    # Its own top-level directory and below, charged to itself.
    ta.put("/v1/dirs/tA", expect=201)
    f = ta.put("/v1/files/tA/job/x", json={"size": 1}, expect=404)
    ta.put("/v1/dirs/tA/job", expect=201)
    f = ta.put("/v1/files/tA/job/x", json={"size": 1}, expect=201).json()
    assert f["tenant"] == "tA"
    ta.put("/v1/files/tA/job/y", json={"size": 1, "tenant": "tA"}, expect=201)
    ta.get("/v1/files/tA/job/x", expect=200)
    assert len(ta.get("/v1/dirs/tA/job", expect=200).json()["entries"]) == 2
    # Another tenant's tree: 403 whether or not the path exists.
    for path in ("/v1/files/tB/secret", "/v1/files/tB/none", "/v1/files/",
                 "/v1/files/tAx", "/v1/dirs/tB", "/v1/dirs/"):
        assert problem_name(ta.get(path, expect=403)) == "forbidden"
    ta.put("/v1/files/tB/y", json={"size": 1}, expect=403)
    ta.delete("/v1/files/tB/secret", expect=403)
    r = ta.put("/v1/files/tA/job/z", json={"size": 1, "tenant": "tB"}, expect=403)
    assert "tB" in r.json()["detail"]
    # Admin-only endpoints.
    for method, path in (("GET", "/v1/pool"), ("GET", "/metrics"),
                         ("GET", "/v1/agents"), ("GET", "/v1/log"),
                         ("PUT", "/v1/tenants/tA/quota"),
                         ("POST", "/v1/agents/h1/heartbeat"),
                         ("DELETE", "/v1/agents/x")):
        ta.request(method, path, json={"max_bytes": 1, "max_files": 1}, expect=403)
    # Its tenant record only.
    assert [t["tenant"] for t in ta.get("/v1/tenants").json()["tenants"]] == ["tA"]
    ta.get("/v1/tenants/tA", expect=200)
    ta.get("/v1/tenants/tB", expect=403)
    tb = master.client("tB")
    assert tb.get("/v1/tenants").json()["tenants"] == []
    ta.delete("/v1/files/tA/job/x", expect=200)
    ta.delete("/v1/files/tA/job/y", expect=200)
    ta.delete("/v1/dirs/tA/job", expect=200)
    ta.delete("/v1/dirs/tA", expect=200)


def test_tenant_token_quota(master, api):
    api.put("/v1/tenants/tA/quota", json={"max_bytes": 2 * MiB, "max_files": 0},
            expect=200)
    ta = master.client("tA")
    ta.put("/v1/dirs/tA", expect=201)
    ta.put("/v1/files/tA/1", json={"size": MiB}, expect=201)
    assert problem_name(ta.put("/v1/files/tA/2", json={"size": 1},
                               expect=507)) == "quota-exceeded"


def test_agent_token_scope(master):
    ag = master.client("agent")
    ag.get("/v1/log", expect=200)
    hb = {"agent_id": "h1", "host": "h1", "address": "", "applied_seq": 0,
          "open_inos": [], "generation": 1}
    ag.post("/v1/agents/h1/heartbeat", json=hb, expect=200)
    for method, path in (("GET", "/v1/pool"), ("GET", "/v1/files/x"),
                         ("PUT", "/v1/dirs/x"), ("GET", "/v1/tenants"),
                         ("GET", "/v1/agents"), ("DELETE", "/v1/agents/h1"),
                         ("GET", "/metrics")):
        assert problem_name(ag.request(method, path, expect=403)) == "forbidden"


def test_metrics(master, api):
    api.put("/v1/files/m", json={"size": 1}, expect=201)
    api.get("/v1/files/missing", expect=404)
    r = api.get("/metrics", expect=200)
    assert r.headers["Content-Type"].startswith("text/plain")
    text = r.text
    for name in ("famfsd_pool_size_bytes", "famfsd_pool_used_bytes",
                 "famfsd_pool_free_bytes", "famfsd_files", "famfsd_log_used_bytes",
                 "famfsd_log_capacity_bytes", "famfsd_agents",
                 'famfsd_http_requests_total{code="201"}',
                 'famfsd_http_requests_total{code="404"}',
                 'famfsd_create_latency_seconds_bucket{le="+Inf"} 1',
                 "famfsd_create_latency_seconds_count 1"):
        assert name in text, name
    master.client("agent").post("/v1/agents/h1/heartbeat", json={
        "agent_id": "h1", "host": "h1", "address": "", "applied_seq": 0,
        "open_inos": [], "generation": 1}, expect=200)
    text = api.get("/metrics").text
    assert 'famfsd_agent_lag_records{agent="h1",host="h1"} 1' in text


def test_racing_creates_never_exceed_quota(small_unit_pool, master_factory):
    """8 clients race creates of mixed sizes against one tenant's quota."""
    m = master_factory(small_unit_pool)
    api = m.client()
    unit = api.get("/v1/pool").json()["alloc_unit"]
    quota = 1000 * unit + 123
    api.put("/v1/tenants/tA/quota", json={"max_bytes": quota, "max_files": 0},
            expect=200)
    api.put("/v1/dirs/tA", expect=201)
    ok_bytes, lock, errors = [], threading.Lock(), []

    def worker(t):
        c = m.client("tA")
        sizes = [unit, 3 * unit - 5, 7 * unit, unit // 2]
        i = 0
        while True:
            size = sizes[i % len(sizes)]
            r = c.put(f"/v1/files/tA/t{t}-{i}", json={"size": size},
                      expect=(201, 507))
            i += 1
            if r.status_code == 201:
                with lock:
                    ok_bytes.append(-(-size // unit) * unit)
            elif problem_name(r) != "quota-exceeded":
                errors.append(r.text)
                return
            elif size == unit // 2:
                return      # not even one unit fits any more

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    used = api.get("/v1/tenants/tA").json()
    assert sum(ok_bytes) == used["used_bytes"] <= quota
    assert used["used_files"] == len(ok_bytes)
    # Every unit that could be handed out was: the quota is exact, not loose.
    assert quota - used["used_bytes"] < unit
    pool = api.get("/v1/pool").json()
    assert pool["used_bytes"] == used["used_bytes"]
    SPEC.validate_component(pool, "Pool")
