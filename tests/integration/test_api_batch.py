"""POST /v1/batch against a real famfsd master (docs/batch.md): all or
nothing (a refusal at the end of a batch leaves the tree, the pool's space
and the log's seq exactly as they were, for every problem type the
contract names), ordering inside a batch, idempotent retries, tenant
scoping and forcing, exist_ok and missing_ok, quota and pool-full refusals
naming the op, the limits (65,536 ops, 8 MiB), 10,000 creates in one batch
shown by an agent's FUSE mount on another host, and a restart replaying a
batch to the same tree. Every reply is checked against api/openapi.yaml."""

import json
import os

import pytest

from conftest import (ADMIN_TOKEN, api_tree, make_pool, problem_name,
                      raw_request)

MiB = 1 << 20
GiB = 1 << 30


def batch(api, ops, expect=200, **kw):
    """POST /v1/batch of ops (None: the body is in kw, as data=...)."""
    if ops is not None:
        kw["json"] = {"ops": ops}
    return api.post("/v1/batch", expect=expect, **kw)


def snapshot(api):
    """What a refused batch must leave alone: the tree, the log's tail and
    the space (a reservation the plan forgot to release would show)."""
    pool = api.get("/v1/pool", expect=200).json()
    tenants = {t["tenant"]: (t["used_bytes"], t["used_files"])
               for t in pool["tenants"]}
    return (api_tree(api), pool["last_seq"], pool["free_bytes"],
            pool["files"], pool["dirs"], tenants)


def refused(api, ops, status, name, index, path=None, observer=None, **kw):
    """Sends ops, expects the problem for ops[index] (None: the body as a
    whole), and checks through observer (an admin client; default api)
    that nothing changed. Returns the problem document."""
    observer = observer or api
    before = snapshot(observer)
    r = batch(api, ops, expect=status, **kw)
    p = r.json()
    assert problem_name(r) == name, p
    if index is None:
        assert "op_index" not in p and "op_path" not in p, p
    else:
        assert p["op_index"] == index, p
        assert p["detail"].startswith(f"ops[{index}]"), p
        if path is not None:
            assert p["op_path"] == path, p
    assert snapshot(observer) == before, "a refused batch changed something"
    return p


def test_ops_apply_in_order_and_each_is_acknowledged(api):
    api.put("/v1/dirs/old", expect=201)
    api.put("/v1/files/old/f", json={"size": 4096}, expect=201)
    seq0 = api.get("/v1/pool").json()["last_seq"]
    ops = [
        {"op": "mkdir", "path": "A"},
        {"op": "mkdir", "path": "A/j", "mode": 0o700, "uid": 1000, "gid": 100},
        {"op": "create", "path": "A/j/f0", "size": 3 * MiB, "mode": 0o600,
         "uid": 1000, "gid": 100, "tenant": "tA"},
        {"op": "create", "path": "A/j/f1/", "size": 1},
        {"op": "delete", "path": "old/f"},
        {"op": "delete", "path": "old"},
    ]
    r = batch(api, ops).json()
    res = r["results"]
    assert [x["status"] for x in res] == ["created"] * 4 + ["deleted"] * 2
    assert [x["path"] for x in res] == ["/A", "/A/j", "/A/j/f0", "/A/j/f1",
                                        "/old/f", "/old"]
    # One record each, in order, right after the tail as it was.
    assert [x["seq"] for x in res] == list(range(seq0 + 1, seq0 + 7))
    assert r["seq"] == seq0 + 6
    # The deleted file's reclaim (no agent holds it) may follow at once.
    assert api.get("/v1/pool").json()["last_seq"] in (seq0 + 6, seq0 + 7)
    assert "ino" not in res[4] and "ino" not in res[5]
    # The change feed has the records, one each, in the batch's order.
    recs = api.get(f"/v1/log?after={seq0}").json()["records"][:6]
    assert [(x["seq"], x["type"]) for x in recs] == list(zip(
        range(seq0 + 1, seq0 + 7),
        ["mkdir", "mkdir", "create", "create", "delete", "delete"]))
    f0 = api.get("/v1/files/A/j/f0", expect=200).json()
    assert (f0["ino"], f0["size"], f0["mode"], f0["uid"], f0["gid"],
            f0["tenant"]) == (res[2]["ino"], 3 * MiB, 0o600, 1000, 100, "tA")
    j = api.get("/v1/files/A/j", expect=200).json()
    assert (j["ino"], j["type"], j["mode"], j["uid"]) == (res[1]["ino"], "dir",
                                                         0o700, 1000)
    assert api.get("/v1/files/A/j/f1").json()["ino"] == res[3]["ino"]
    api.get("/v1/files/old", expect=404)


def test_later_ops_see_earlier_ones(api):
    api.put("/v1/dirs/d", expect=201)
    api.put("/v1/files/d/x", json={"size": 4096}, expect=201)
    first = api.get("/v1/files/d/x").json()
    ops = [
        # Replace a file by a different one at the same path.
        {"op": "delete", "path": "d/x"},
        {"op": "create", "path": "d/x", "size": 8192},
        # A directory made, filled, emptied and removed in one batch.
        {"op": "mkdir", "path": "d/t"},
        {"op": "create", "path": "d/t/a", "size": 1},
        {"op": "delete", "path": "d/t/a"},
        {"op": "delete", "path": "d/t"},
        {"op": "delete", "path": "d/t", "missing_ok": True},
        # The same create twice: the second finds the first's entry.
        {"op": "create", "path": "d/y", "size": 1},
        {"op": "create", "path": "d/y", "size": 1},
        {"op": "mkdir", "path": "d/z"},
        {"op": "mkdir", "path": "d/z", "mode": 0o711, "exist_ok": True},
    ]
    res = batch(api, ops).json()["results"]
    assert [x["status"] for x in res] == [
        "deleted", "created", "created", "created", "deleted", "deleted",
        "absent", "created", "exists", "created", "exists"]
    assert res[8]["ino"] == res[7]["ino"] and res[8]["seq"] == 0
    assert res[10]["ino"] == res[9]["ino"]
    x = api.get("/v1/files/d/x").json()
    assert x["size"] == 8192 and x["ino"] == res[1]["ino"] != first["ino"]
    api.get("/v1/files/d/t", expect=404)
    # Within a batch the creates' inode numbers follow their records.
    made = [x["ino"] for x in res if x["status"] == "created"]
    assert made == sorted(made) and len(set(made)) == len(made)
    # The deleted directory's would-be children never existed.
    refused(api, [{"op": "mkdir", "path": "e"}, {"op": "delete", "path": "e"},
                  {"op": "create", "path": "e/f", "size": 1}],
            404, "not-found", 2, "/e/f")
    # A directory with a child the batch made is not empty.
    refused(api, [{"op": "create", "path": "d/z/c", "size": 1},
                  {"op": "delete", "path": "d/z"}], 409, "conflict", 1, "/d/z")


def test_a_refusal_at_the_end_writes_nothing_for_every_problem_type(
        master, api):
    api.put("/v1/dirs/keep", expect=201)
    api.put("/v1/files/keep/f", json={"size": 4096, "tenant": "tA"},
            expect=201)
    api.put("/v1/tenants/tQ/quota", json={"max_bytes": 0, "max_files": 1},
            expect=200)
    # Real work first, so a failure must undo reservations and overlay.
    head = [{"op": "mkdir", "path": "new"},
            {"op": "create", "path": "new/a", "size": 5 * MiB, "tenant": "tA"},
            {"op": "create", "path": "new/b", "size": 1, "tenant": "tQ"},
            {"op": "delete", "path": "keep/f"}]
    n = len(head)
    tail_cases = [
        ({"op": "create", "path": "new/../x", "size": 1}, 400, "validation"),
        ({"op": "create", "path": "new/c", "size": 0}, 400, "validation"),
        ({"op": "create", "path": "new/c", "size": 1, "color": 1}, 400,
         "validation"),
        ({"op": "mkdir", "path": "new/c", "missing_ok": True}, 400,
         "validation"),
        ({"op": "rename", "path": "new/c"}, 400, "validation"),
        ({"op": "delete", "path": ""}, 400, "validation"),
        ({"op": "create", "path": "none/c", "size": 1}, 404, "not-found"),
        ({"op": "delete", "path": "new/nothing"}, 404, "not-found"),
        ({"op": "create", "path": "new/a", "size": 1}, 409, "conflict"),
        ({"op": "mkdir", "path": "new/a"}, 409, "conflict"),
        ({"op": "mkdir", "path": "new", "mode": 0o700}, 409, "conflict"),
        ({"op": "delete", "path": "new"}, 409, "conflict"),
        ({"op": "create", "path": "new/a/under", "size": 1}, 409, "conflict"),
        ({"op": "create", "path": "new/q", "size": 1, "tenant": "tQ"}, 507,
         "quota-exceeded"),
        ({"op": "create", "path": "new/huge", "size": 8 * GiB}, 507,
         "pool-full"),
    ]
    for op, status, name in tail_cases:
        p = refused(api, head + [{"op": "create", "path": "keep/g",
                                  "size": 1}, op], status, name, n + 1)
        assert "op_path" in p or name == "validation", (op, p)
    # forbidden: a tenant token's op outside its directory, or charging
    # another tenant.
    tA = master.client("tA")
    tA.put("/v1/dirs/tA", expect=201)
    for op in ({"op": "create", "path": "tB/x", "size": 1},
               {"op": "create", "path": "tA/x", "size": 1, "tenant": "tB"},
               {"op": "delete", "path": "keep"}):
        refused(tA, [{"op": "mkdir", "path": "tA/d"},
                     {"op": "create", "path": "tA/d/f", "size": 1}, op],
                403, "forbidden", 2, observer=api)
    # The batch with a good tail goes through, whole.
    res = batch(api, head).json()["results"]
    assert [x["status"] for x in res] == ["created", "created", "created",
                                          "deleted"]


def test_retry_returns_the_same_statuses_and_writes_nothing(api):
    api.put("/v1/dirs/slurm", expect=201)
    api.put("/v1/files/slurm/old", json={"size": 1}, expect=201)
    ops = [{"op": "mkdir", "path": "slurm", "exist_ok": True},
           {"op": "mkdir", "path": "slurm/job1", "mode": 0o700},
           {"op": "create", "path": "slurm/job1/f0", "size": 2 * MiB,
            "tenant": "tA"},
           {"op": "create", "path": "slurm/job1/f1", "size": 2 * MiB,
            "tenant": "tA"},
           {"op": "delete", "path": "slurm/old", "missing_ok": True},
           {"op": "delete", "path": "slurm/older", "missing_ok": True}]
    first = batch(api, ops).json()
    assert [x["status"] for x in first["results"]] == [
        "exists", "created", "created", "created", "deleted", "absent"]
    before = snapshot(api)
    again = batch(api, ops).json()
    assert snapshot(api) == before
    # Nothing written: the tail as it is (after the delete's reclaim).
    assert again["seq"] == before[1] >= first["seq"]
    assert [x["status"] for x in again["results"]] == [
        "exists", "exists", "exists", "exists", "absent", "absent"]
    assert all(x["seq"] == 0 for x in again["results"])
    assert [x.get("ino") for x in again["results"][:4]] == \
        [x.get("ino") for x in first["results"][:4]]


def test_tenant_tokens_are_scoped_and_charged_per_op(master, api):
    tA = master.client("tA")
    api.put("/v1/dirs/tA", expect=201)
    api.put("/v1/dirs/tB", expect=201)
    res = batch(tA, [{"op": "mkdir", "path": "tA/job"},
                     {"op": "create", "path": "tA/job/f", "size": 1},
                     {"op": "create", "path": "tA/job/g", "size": 1,
                      "tenant": "tA"}]).json()["results"]
    assert [x["status"] for x in res] == ["created"] * 3
    # No tenant named: the token's own is forced, as for PUT /v1/files.
    assert api.get("/v1/files/tA/job/f").json()["tenant"] == "tA"
    p = refused(tA, [{"op": "delete", "path": "tA/job/f"},
                     {"op": "delete", "path": "tB"}], 403, "forbidden", 1,
                "/tB", observer=api)
    assert "tenant token for tA" in p["detail"]
    # The tenant's own top-level directory is in its scope, the root not.
    refused(tA, [{"op": "mkdir", "path": "", "exist_ok": True}], 403,
            "forbidden", 0, observer=api)
    # Agent tokens may not batch at all (the router's roles).
    r = batch(master.client("agent"), [{"op": "mkdir", "path": "x"}],
              expect=403)
    assert problem_name(r) == "forbidden" and "op_index" not in r.json()
    r = batch(master.client(None), [{"op": "mkdir", "path": "x"}], expect=401)


def test_exist_ok_and_missing_ok(api):
    api.put("/v1/dirs/d", json={"mode": 0o700, "uid": 5}, expect=201)
    api.put("/v1/files/f", json={"size": 1}, expect=201)
    res = batch(api, [{"op": "mkdir", "path": "d", "exist_ok": True},
                      {"op": "mkdir", "path": "d", "mode": 0o700, "uid": 5},
                      {"op": "delete", "path": "nope", "missing_ok": True},
                      {"op": "delete", "path": "no/such/dir", "missing_ok": True}
                      ]).json()["results"]
    assert [x["status"] for x in res] == ["exists", "exists", "absent",
                                          "absent"]
    # Without exist_ok a directory must be identical; a file never does.
    refused(api, [{"op": "mkdir", "path": "d"}], 409, "conflict", 0, "/d")
    refused(api, [{"op": "mkdir", "path": "f", "exist_ok": True}], 409,
            "conflict", 0, "/f")
    refused(api, [{"op": "delete", "path": "nope"}], 404, "not-found", 0,
            "/nope")
    # missing_ok does not excuse a parent that is a file.
    refused(api, [{"op": "delete", "path": "f/x", "missing_ok": True}], 409,
            "conflict", 0)
    refused(api, [{"op": "mkdir", "path": "d", "exist_ok": 1}], 400,
            "validation", 0)


def test_quota_counts_the_batch_so_far_and_names_the_op(api):
    api.put("/v1/tenants/tA/quota", json={"max_bytes": 8 * MiB,
                                          "max_files": 3}, expect=200)
    api.put("/v1/files/have", json={"size": 2 * MiB, "tenant": "tA"},
            expect=201)
    ops = [{"op": "create", "path": f"f{i}", "size": 2 * MiB, "tenant": "tA"}
           for i in range(3)]
    p = refused(api, ops, 507, "quota-exceeded", 2, "/f2")
    assert "tenant tA" in p["detail"]
    # Bytes count as well as files.
    refused(api, [{"op": "create", "path": "big", "size": 6 * MiB + 1,
                   "tenant": "tA"}], 507, "quota-exceeded", 0)
    # A delete earlier in the batch gives its share back.
    res = batch(api, [{"op": "delete", "path": "have"}] + ops).json()
    assert [x["status"] for x in res["results"]] == ["deleted"] + \
        ["created"] * 3
    t = api.get("/v1/tenants/tA").json()
    assert (t["used_files"], t["used_bytes"]) == (3, 6 * MiB)


def test_pool_full_names_the_op_and_holds_nothing(api):
    free = api.get("/v1/pool").json()["free_bytes"]
    n = free // GiB
    ops = [{"op": "create", "path": f"g{i}", "size": GiB} for i in range(n)]
    p = refused(api, ops + [{"op": "create", "path": "last", "size": GiB}],
                507, "pool-full", n, "/last")
    assert "free" in p["detail"]
    # Every reservation was released: the same units serve a new batch.
    res = batch(api, ops).json()["results"]
    assert all(x["status"] == "created" for x in res)
    extents = [e for i in range(n) for e in
               api.get(f"/v1/files/g{i}").json()["extents"]]
    assert len({e["offset"] for e in extents}) == len(extents)


def test_batch_that_does_not_fit_in_the_log_is_log_full(tmp_path,
                                                        master_factory):
    pool = make_pool(tmp_path / "small-log.img", size="1G", alloc_unit="4K",
                     log_size="1M")
    m = master_factory(pool, args=["--reclaim-grace-ms", "0"])
    api = m.client("admin")
    cap = api.get("/v1/pool").json()["log_capacity_bytes"]
    # Records of 100+ bytes each: more than a whole generation.
    n = cap // 64
    ops = [{"op": "mkdir", "path": "d"}] + [
        {"op": "create", "path": f"d/{i:06d}-" + "n" * 40, "size": 1}
        for i in range(n)]
    r = batch(api, ops, expect=503)
    assert problem_name(r) == "log-full" and "op_index" not in r.json()
    assert "Retry-After" in r.headers
    assert api.get("/v1/pool").json()["last_seq"] == 0
    assert api_tree(api) == {}
    # One that fits goes through.
    res = batch(api, ops[:100]).json()["results"]
    assert all(x["status"] == "created" for x in res)


def test_limits(master, api):
    # 1 to 65,536 ops; over the count the body as a whole is refused.
    refused(api, [], 400, "validation", None)
    ops = [{"op": "delete", "path": f"n{i}", "missing_ok": True}
           for i in range(65537)]
    p = refused(api, ops, 400, "validation", None)
    assert "65536" in p["detail"]
    res = batch(api, ops[:65536]).json()["results"]
    assert len(res) == 65536 and {x["status"] for x in res} == {"absent"}
    # The body as a whole: not an object, no ops, unknown members.
    for raw in (b"", b"[]", b"{}", b'{"ops": {}}', b'{"ops": [], "x": 1}',
                b'{"ops": [1]}', b'{"ops": [{"op": "mkdir", "path": "a",'
                b' "path": "b"}]}', b'{"ops": [{"op": "mkdir", "path": '
                b'"a\\u0000b"}]}', b'{"ops": [{"op": "mkdir", "path": "a"}]'):
        r = api.post("/v1/batch", data=raw, expect=400,
                     headers={"Content-Type": "application/json"})
        assert problem_name(r) == "validation", raw
    # Bodies over 1 MiB are taken here (not on other paths), up to 8 MiB.
    long = "d" * 200
    api.put("/v1/dirs/" + long, expect=201)
    ops = [{"op": "delete", "path": f"{long}/{i:08d}-{'x' * 100}",
            "missing_ok": True} for i in range(9000)]
    body = json.dumps({"ops": ops}).encode()
    assert 2 * MiB < len(body) < 8 * MiB
    r = api.post("/v1/batch", data=body, expect=200,
                 headers={"Content-Type": "application/json"})
    assert len(r.json()["results"]) == 9000
    # Only for a token that may batch: no one else makes the master hold
    # more than 1 MiB of a body.
    for tok in ("not-a-token", master.agent_token):
        st, _, data = raw_request(api.base, "POST", "/v1/batch", token=tok,
                                  body=body, headers={
                                      "Content-Type": "application/json"})
        assert st == 413 and b"1048576" in data, (st, data)
    big = json.dumps({"ops": ops * 4}).encode()
    assert len(big) > 8 * MiB
    r = api.post("/v1/batch", data=big, expect=413,
                 headers={"Content-Type": "application/json"})
    assert problem_name(r) == "payload-too-large" and "8388608" in \
        r.json()["detail"]
    r = api.put("/v1/files/x", data=body, expect=413,
                headers={"Content-Type": "application/json"})
    assert "1048576" in r.json()["detail"]
    # Only POST: the path's other methods are 405.
    st, hdrs, _ = raw_request(api.base, "GET", "/v1/batch", token=ADMIN_TOKEN)
    assert st == 405 and hdrs.get("Allow") == "POST"


def test_body_rules_are_the_single_calls(api):
    """The batch's own decoder refuses what api_body() and the single
    calls refuse, with their messages, and reads what they read."""
    api.put("/v1/dirs/d", expect=201)
    # Escapes decode: "\u0041" is "A", a surrogate pair one code point.
    raw = (b'{"ops": [{"op": "mkdir", "path": "d/\\u0041\\ud83d\\ude00",'
           b' "mode": 448}, {"op":"create","path":"d/\\u0041\\ud83d\\ude00/f"'
           b',"size":1,"tenant":"t\\u0041"}]}')
    r = api.post("/v1/batch", data=raw, expect=200,
                 headers={"Content-Type": "application/json"})
    assert r.json()["results"][1]["path"] == "/d/A\U0001f600/f"
    assert api.get("/v1/files/d/A%F0%9F%98%80/f").json()["tenant"] == "tA"
    # Field checks: the messages of PUT /v1/files and /v1/dirs.
    for field, bad in (("size", 0), ("size", 1.5), ("size", -1),
                       ("size", "1"), ("size", 2 ** 64), ("mode", 0o10000),
                       ("uid", 4294967295), ("tenant", ""),
                       ("tenant", "a b"), ("tenant", 7)):
        body = {"size": 1, field: bad}
        single = api.put("/v1/files/d/x", json=body, expect=400).json()
        p = refused(api, [{"op": "create", "path": "d/x", **body}], 400,
                    "validation", 0, "/d/x")
        assert p["detail"].endswith(": " + single["detail"]), (p, single)
    p = refused(api, [{"op": "create", "path": "d/x"}], 400, "validation", 0)
    assert p["detail"].endswith("size: required")
    p = refused(api, [{"op": "mkdir", "path": "d/y", "size": 1}], 400,
                "validation", 0)
    assert p["detail"].endswith("size: unknown field")
    p = refused(api, [{"op": "mkdir"}], 400, "validation", 0)
    assert "op_path" not in p and p["detail"].endswith("path: required")
    p = refused(api, [{"path": "d/y"}], 400, "validation", 0)
    assert p["detail"].endswith("op: required")
    p = refused(api, [{"op": "mkdir", "path": "d//y"}], 400, "validation", 0)
    assert "op_path" not in p and "empty path component" in p["detail"]
    refused(api, [{"op": "mkdir", "path": "/d/y"}], 400, "validation", 0)
    refused(api, [{"op": "mkdir", "path": "d/" + "n" * 256}], 400,
            "validation", 0)
    refused(api, [{"op": "mkdir", "path": "/".join(["abcdefg"] * 520)}], 400,
            "validation", 0)
    # Not JSON, or JSON the closed objects do not take: the body as a whole.
    for raw in (b'{"ops": [{"op": "mkdir", "path": "a"}]} x',
                b'{"ops": [{"op": "mkdir", "path": "a\x01"}]}',
                b'{"ops": [{"op": "mkdir", "path": "\xff"}]}',
                b'{"ops": [{"op": "mkdir", "path": "\\ud800"}]}',
                b'{"ops": [{"op": "mkdir", "path": "\\q"}]}',
                b'{"ops": [{"op": "create", "path": "a", "size": 01}]}',
                b'{"ops": [{"op": "create", "path": "a", "size": 1.}]}',
                b'{"ops": [{"op": "mkdir", "path": "a", "x": ' +
                b'[' * 40 + b']' * 40 + b'}]}',
                b'{"ops": [{"op": "mkdir", "path": "a",}]}',
                b'{"ops": [{"op": "mkdir", "path": "a"}], "ops": []}',
                b'{"ops": [{"op": "mkdir", "path": "a"}], "pad": 1}',
                b'{"ops": [{"op": "mkdir", "path": "a", "op": "mkdir"}]}',
                b'{"ops": [{"op": "mkdir", "path": "a"}]}\x00',
                b'[{"op": "mkdir", "path": "a"}]', b'"ops"', b'nul'):
        p = refused(api, None, 400, "validation", None, data=raw,
                    headers={"Content-Type": "application/json"})
    # Unknown members nested in an op are refused without being read.
    refused(api, [{"op": "mkdir", "path": "a", "x": {"y": [1, {"z": None}]}}],
            400, "validation", 0)
    r = api.post("/v1/batch", data=b'{"ops": [{"op": "mkdir", "path": "a"}]}',
                 headers={"Content-Type": "text/plain"}, expect=400)
    assert "Content-Type" in r.json()["detail"]


def test_body_is_strict_json_where_yajl_alone_is_not(api):
    """What yajl's parser passes and RFC 8259 (and api_body()) refuses:
    each is refused as not JSON, the body as a whole, and writes nothing."""
    ok = b'{"ops": [{"op": "mkdir", "path": "a"}]}'
    batch(api, None, expect=200, data=ok,
          headers={"Content-Type": "application/json"})
    for raw in (ok + b' "',                         # unterminated, after
                ok + b' "x',
                b'{"ops":\v[{"op": "mkdir", "path": "b"}]}',
                b'{"ops":\f[{"op": "mkdir", "path": "b"}]}',
                ok + b'\v',
                b'{"ops": [{"op": "mkdir", "path": "\\udc00"}]}',
                b'{"ops": [{"op": "mkdir", "path": "\\ud800\\u0041"}]}',
                b'{"ops": [{"op": "mkdir", "path": "\\ud800x"}]}',
                b'{"ops": [{"op": "mkdir", "path": "a", "x": "\\udfff"}]}',
                b'{"ops": [{"op": "mkdir", "path": "\xc0\xaf"}]}',
                b'{"ops": [{"op": "mkdir", "path": "\xed\xa0\x80"}]}',
                b'{"ops": [{"op": "mkdir", "path": "\xf4\x90\x80\x80"}]}',
                b'{"ops": [{"op": "mkdir", "path": "a", "\xc0\xaf": 1}]}',
                b'{"ops": [{"op": "mkdir", "path": "a"}]} /* c */',
                b'{"ops": [{"op": "mkdir", "path": "a"}]} {}'):
        p = refused(api, None, 400, "validation", None, data=raw,
                    headers={"Content-Type": "application/json"})
        assert "not valid JSON" in p["detail"], (raw, p)
    # An escaped backslash before "u" is no escape: the path is \ud800.
    raw = b'{"ops": [{"op": "mkdir", "path": "\\\\ud800"}]}'
    r = batch(api, None, expect=200, data=raw,
              headers={"Content-Type": "application/json"})
    assert r.json()["results"][0]["path"] == "/\\ud800"
    # Numbers are read from their text: past 2^64 saturates, not wraps.
    p = refused(api, [{"op": "create", "path": "c", "size": 2 ** 64 + 4096}],
                400, "validation", 0)
    assert "size" in p["detail"], p


def test_restart_replays_the_batch_identically(master, api):
    ops = [{"op": "mkdir", "path": "r"}] + [
        {"op": "create", "path": f"r/f{i}", "size": 4096 * (i + 1),
         "tenant": "tA" if i % 2 else "tB", "mode": 0o600, "uid": i}
        for i in range(200)] + [{"op": "delete", "path": f"r/f{i}"}
                                for i in range(0, 200, 3)]
    api.put("/v1/tenants/tA/quota", json={"max_bytes": 0, "max_files": 1000},
            expect=200)
    r = batch(api, ops).json()
    before = snapshot(api)
    files = {p: api.get("/v1/files" + p).json() for p in before[0]}
    # The deletes' reclaims may follow the batch's records.
    assert before[1] >= r["seq"]
    assert master.stop() == 0
    master.start()
    api2 = master.client("admin")
    assert snapshot(api2) == before
    assert {p: api2.get("/v1/files" + p).json() for p in before[0]} == files


# ---- 10,000 creates, seen on another host's FUSE mount ---------------------

@pytest.fixture(scope="module")
def cluster():
    from multihost import three_hosts
    yield from three_hosts()


def test_ten_thousand_creates_reach_an_agents_mount(cluster, tmp_path):
    from multihost import Fleet
    pool = make_pool(tmp_path / "pool.img", size="4G", alloc_unit="4K")
    fleet = Fleet(cluster, pool, tmp_path)
    try:
        api = fleet.api
        ops = [{"op": "mkdir", "path": "job"}] + [
            {"op": "create", "path": f"job/f{i:05d}", "size": 4096,
             "tenant": "tA"} for i in range(10000)]
        res = api.post("/v1/batch", json={"ops": ops}, expect=200,
                       timeout=60).json()
        assert len(res["results"]) == 10001
        assert {x["status"] for x in res["results"]} == {"created"}
        assert len(api_tree(api, validate=False)) == 10001
        for a in fleet.agents[1:]:
            a.wait_paths(["job/f00000", "job/f09999"], timeout=20)
            tree = a.tree()
            names = {p for p in tree if p.startswith("/job/")}
            assert len(names) == 10000, (a.name, len(names))
            assert all(tree[p][1] == 4096 for p in names)
    finally:
        for a in fleet.agents:
            a.close()
        fleet.master.close()
