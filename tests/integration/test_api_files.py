"""The master's file and directory API against a real famfsd: create
(idempotent), stat, list with cursors, delete, and every validation and
conflict error, each response checked against api/openapi.yaml."""

import json
import socket

import requests

from conftest import ADMIN_TOKEN, SPEC, problem_name, raw_request

MiB = 1 << 20


def test_healthz_needs_no_token(master):
    r = requests.get(master.url + "/healthz", timeout=5)
    assert r.status_code == 200
    SPEC.check("GET", "/healthz", r)
    assert r.json()["role"] == "master" and r.json()["epoch"] >= 1


def test_create_file_then_stat(api):
    r = api.put("/v1/files/a", json={"size": 5 * MiB}, expect=201)
    f = r.json()
    assert f["path"] == "/a" and f["type"] == "file" and f["size"] == 5 * MiB
    assert f["mode"] == 0o644 and f["uid"] == 0 and f["tenant"] == ""
    assert sum(e["length"] for e in f["extents"]) == 6 * MiB  # 2 MiB units
    assert all(e["offset"] % (2 * MiB) == 0 for e in f["extents"])
    st = api.get("/v1/files/a", expect=200).json()
    assert st == f


def test_create_is_idempotent_and_conflicts_on_difference(api):
    body = {"size": 4096, "mode": 0o600, "uid": 10, "gid": 20}
    first = api.put("/v1/files/x", json=body, expect=201).json()
    again = api.put("/v1/files/x", json=body, expect=200).json()
    assert again == first
    for diff in ({"size": 8192}, {"mode": 0o644}, {"uid": 11}, {"gid": 21},
                 {"tenant": "tA"}):
        r = api.put("/v1/files/x", json={**body, **diff}, expect=409)
        assert problem_name(r) == "conflict"
    # Nothing was allocated by the repeats.
    assert api.get("/v1/pool").json()["files"] == 1


def test_create_over_a_directory_and_mkdir_over_a_file_conflict(api):
    api.put("/v1/dirs/d", expect=201)
    assert problem_name(api.put("/v1/files/d", json={"size": 1}, expect=409)) == "conflict"
    api.put("/v1/files/f", json={"size": 1}, expect=201)
    assert problem_name(api.put("/v1/dirs/f", expect=409)) == "conflict"


def test_missing_parent_is_404_and_file_parent_is_409(api):
    r = api.put("/v1/files/no/such/file", json={"size": 1}, expect=404)
    assert problem_name(r) == "not-found" and "/no" in r.json()["detail"]
    api.put("/v1/files/f", json={"size": 1}, expect=201)
    r = api.put("/v1/files/f/child", json={"size": 1}, expect=409)
    assert "is a file" in r.json()["detail"]
    api.get("/v1/files/f/child", expect=409)
    api.get("/v1/files/nothing", expect=404)


def test_path_validation(api):
    api.put("/v1/dirs/d", expect=201)
    bad = [
        "/v1/files/d%2Fx",                 # encoded slash
        "/v1/files/d/%00x",                # NUL
        "/v1/files/d//x",                  # empty component
        "/v1/files/d/%2E%2E",              # ..
        "/v1/files/d/%2E",                 # .
        "/v1/files/d/" + "n" * 256,        # component too long
        "/v1/files/d/%FF",                 # not UTF-8
        "/v1/files/" + "/".join(["abcdefg"] * 520),   # path > 4095 bytes
    ]
    for path in bad:
        r = api.put(path, json={"size": 1}, expect=400)
        assert problem_name(r) == "validation", path
    for raw in ("/v1/files/d/%G1", "/v1/files/d/%4", "/v1/files/d/./x",
                "/v1/files/d/../x"):
        st, _, body = raw_request(api.base, "PUT", raw, token=ADMIN_TOKEN,
                                  body=b'{"size": 1}',
                                  headers={"Content-Type": "application/json"})
        assert st == 400, (raw, st, body)
        SPEC.validate_component(json.loads(body), "Problem")
    # 255 bytes and UTF-8 are fine; one trailing slash is ignored.
    api.put("/v1/files/d/" + "n" * 255, json={"size": 1}, expect=201)
    r = api.put("/v1/files/d/%C3%A9t%C3%A9/", json={"size": 1}, expect=201)
    assert r.json()["path"] == "/d/\u00e9t\u00e9"


def test_body_validation(api):
    url = "/v1/files/b"
    bad_bodies = [
        {}, {"size": 0}, {"size": -1}, {"size": "1"}, {"size": 1.5},
        {"size": 1, "mode": 4096}, {"size": 1, "uid": -1},
        {"size": 1, "uid": 4294967295}, {"size": 1, "extra": 1},
        {"size": 1, "tenant": ""}, {"size": 1, "tenant": "bad/name"},
        {"size": 1, "tenant": "x" * 64}, {"size": True}, [1], "str",
    ]
    for body in bad_bodies:
        r = api.put(url, json=body, expect=400)
        assert problem_name(r) == "validation", body
    for raw in (b"", b"{", b"{} x", b"\xff", b"null", b'{"size": 1, "size": }'):
        api.put(url, data=raw, headers={"Content-Type": "application/json"},
                expect=400)
    api.put(url, data=b'{"size": 1}', headers={"Content-Type": "text/plain"},
            expect=400)
    api.put("/v1/dirs/dd", json={"mode": "0755"}, expect=400)
    api.put("/v1/dirs/dd", json={"size": 1}, expect=400)
    api.get("/v1/files/b", expect=404)


def test_body_larger_than_one_mib_is_413(api):
    big = b'{"size": 1, "pad": "' + b"x" * (MiB + 16) + b'"}'
    r = api.put("/v1/files/big", data=big,
                headers={"Content-Type": "application/json"}, expect=413)
    assert problem_name(r) == "payload-too-large"

    def chunks():
        for _ in range(20):
            yield b"x" * (64 << 10)
    r = api.put("/v1/files/big", data=chunks(),
                headers={"Content-Type": "application/json"}, expect=413)
    assert problem_name(r) == "payload-too-large"
    # An absurd announced length is refused from the headers alone.
    host, port = api.base.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"PUT /v1/files/big HTTP/1.1\r\nHost: x\r\n"
                  b"Authorization: Bearer " + ADMIN_TOKEN.encode() +
                  b"\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 100000000\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 413")
    api.get("/v1/files/big", expect=404)


def test_mkdir_idempotent_optional_body_and_conflict(api):
    d = api.put("/v1/dirs/d", expect=201).json()
    assert d["type"] == "dir" and d["mode"] == 0o755 and d["size"] == 0
    assert "extents" not in d
    assert api.put("/v1/dirs/d", expect=200).json() == d
    assert api.put("/v1/dirs/d/", json={"mode": 0o755}, expect=200).json() == d
    api.put("/v1/dirs/d", json={"mode": 0o700}, expect=409)
    e = api.put("/v1/dirs/d/e", json={"mode": 0o700, "uid": 5, "gid": 6},
                expect=201).json()
    assert (e["mode"], e["uid"], e["gid"], e["path"]) == (0o700, 5, 6, "/d/e")
    # The root exists as a 0755 directory owned by 0:0.
    assert api.put("/v1/dirs/", expect=200).json()["ino"] == 1


def test_stat_root_and_directory(api):
    root = api.get("/v1/files/", expect=200).json()
    assert root["path"] == "/" and root["ino"] == 1 and root["seq"] == 0
    api.put("/v1/dirs/d", expect=201)
    assert api.get("/v1/files/d", expect=200).json()["type"] == "dir"


def test_list_pagination_with_cursor_survives_changes(api):
    api.put("/v1/dirs/l", expect=201)
    names = [f"f{i:03d}" for i in range(25)]
    for n in names:
        api.put(f"/v1/files/l/{n}", json={"size": 1}, expect=201)
    seen, cursor, pages = [], None, 0
    while True:
        q = "?limit=10" + (f"&cursor={cursor}" if cursor else "")
        page = api.get("/v1/dirs/l" + q, expect=200).json()
        assert page["path"] == "/l" and len(page["entries"]) <= 10
        assert all("extents" not in e for e in page["entries"])
        seen += [e["path"].rsplit("/", 1)[1] for e in page["entries"]]
        pages += 1
        if pages == 1:
            # Concurrent changes: delete one already listed, one not yet
            # listed, add one; nothing that exists throughout is lost.
            api.delete("/v1/files/l/f000", expect=200)
            api.delete("/v1/files/l/f020", expect=200)
            api.put("/v1/files/l/new", json={"size": 1}, expect=201)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    survivors = [n for n in names if n not in ("f000", "f020")]
    assert [n for n in seen if n in survivors] == survivors
    assert len(seen) == len(set(seen))
    assert pages == 3


def test_list_errors_and_root(api):
    api.put("/v1/files/f", json={"size": 1}, expect=201)
    api.get("/v1/dirs/f", expect=409)
    api.get("/v1/dirs/missing", expect=404)
    for q in ("?limit=0", "?limit=1001", "?limit=x", "?cursor=abc", "?cursor=",
              "?cursor=-1"):
        assert problem_name(api.get("/v1/dirs/" + q, expect=400)) == "validation"
    root = api.get("/v1/dirs/", expect=200).json()
    assert root["path"] == "/" and [e["path"] for e in root["entries"]] == ["/f"]
    assert root["next_cursor"] is None
    assert api.get("/v1/dirs", expect=200).json() == root


def test_delete_file_and_directory_rules(api):
    api.put("/v1/dirs/d", expect=201)
    api.put("/v1/files/d/f", json={"size": 1}, expect=201)
    assert problem_name(api.delete("/v1/dirs/d", expect=409)) == "conflict"
    assert problem_name(api.delete("/v1/files/d", expect=409)) == "conflict"
    api.delete("/v1/dirs/d/f", expect=409)          # a file via /v1/dirs
    r = api.delete("/v1/files/d/f", expect=200).json()
    assert r["path"] == "/d/f" and r["seq"] >= 1
    api.get("/v1/files/d/f", expect=404)
    api.delete("/v1/files/d/f", expect=404)
    api.delete("/v1/dirs/d", expect=200)
    assert problem_name(api.delete("/v1/files/", expect=400)) == "validation"
    assert problem_name(api.delete("/v1/dirs/", expect=400)) == "validation"
    # A deleted name can be created again, as a new inode.
    again = api.put("/v1/files/d", json={"size": 1}, expect=201).json()
    assert again["ino"] > r["seq"] - 10


def test_method_not_allowed_and_unknown_routes(api):
    r = api.post("/v1/pool", expect=405)
    assert problem_name(r) == "method-not-allowed"
    assert r.headers["Allow"] == "GET, HEAD"
    r = api.request("PATCH", "/v1/files/x", expect=405)
    assert "PUT" in r.headers["Allow"] and "DELETE" in r.headers["Allow"]
    r = api.get("/v1/nothing", expect=404)
    assert problem_name(r) == "not-found"
    api.get("/v1/tenants/a/b", expect=404)


def test_pool_counts_follow_changes(api):
    p0 = api.get("/v1/pool", expect=200).json()
    assert p0["used_bytes"] == 0 and p0["files"] == 0 and p0["dirs"] == 0
    assert p0["used_bytes"] + p0["free_bytes"] + p0["pending_reclaim_bytes"] \
        == p0["size_bytes"]
    api.put("/v1/dirs/d", expect=201)
    f = api.put("/v1/files/d/f", json={"size": 3 * MiB}, expect=201).json()
    p1 = api.get("/v1/pool").json()
    assert p1["files"] == 1 and p1["dirs"] == 1 and p1["used_bytes"] == 4 * MiB
    assert p1["last_seq"] == f["seq"] == p1["log_records"]
    assert p1["log_used_bytes"] > 0
    assert p1["log_capacity_bytes"] > p1["log_used_bytes"]


def test_pool_full_is_507(api):
    free = api.get("/v1/pool").json()["free_bytes"]
    r = api.put("/v1/files/huge", json={"size": free + 1}, expect=507)
    assert problem_name(r) == "pool-full"
    r = api.put("/v1/files/huge", json={"size": 2 ** 63 - 1}, expect=507)
    assert problem_name(r) == "pool-full"
    api.put("/v1/files/all", json={"size": free}, expect=201)
    assert api.get("/v1/pool").json()["free_bytes"] == 0
    assert problem_name(api.put("/v1/files/one", json={"size": 1},
                                expect=507)) == "pool-full"
