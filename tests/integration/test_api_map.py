"""The web pool map's endpoints against a real master (docs/ui.md):
GET /v1/whoami for each role; GET /v1/pool/map: files in their tenant's
class with exact unit counts, a delete pending (an agent holds it back by
its heartbeats) then free, a tenant token's view (its own class and
"other" only: no other tenant's name, no free space, no reclaim), the cell
count's bounds and bad inputs, the snapshot cache (one build per change,
a create right after a map request shows in the next); GET
/v1/pool/units/{unit}: items, truncation, 404 and 400. Every reply is
checked against api/openapi.yaml by the client."""

import threading

import pytest
import requests

from conftest import problem_name

FREE, HELD, PENDING, CUT, OTHER, UNTENANTED, TENANT = range(7)


@pytest.fixture
def master(small_unit_pool, master_factory):
    """4 KiB units (some 250,000 of them), no reclaim grace; conftest's
    api fixture talks to it."""
    return master_factory(small_unit_pool, args=["--reclaim-grace-ms", "0"])


def cells_of(doc):
    """The map's runs expanded: one class per cell."""
    out = []
    runs = doc["runs"]
    for i in range(0, len(runs), 2):
        assert runs[i + 1] >= 1, runs[i:i + 2]
        out += [runs[i]] * runs[i + 1]
    assert len(out) == doc["cells"]
    return out


def exact_map(client):
    """The map unit by unit (cells = units), checked for consistency."""
    units = client.get("/v1/pool/map?cells=1", expect=200).json()["units"]
    doc = client.get(f"/v1/pool/map?cells={units}", expect=200).json()
    assert doc["cell_units"] == 1 and doc["cells"] == units
    cells = cells_of(doc)
    assert len(doc["class_units"]) == 6 + len(doc["tenants"])
    for k, n in enumerate(doc["class_units"]):
        assert cells.count(k) == n, (k, n)
    return doc, cells


def file_units(doc, f):
    """The unit indices a File object's extents cover."""
    out = []
    for e in f["extents"]:
        first = (e["offset"] - doc["data_offset"]) // doc["alloc_unit"]
        out += range(first, first + e["length"] // doc["alloc_unit"])
    return out


def metric(master, name):
    r = requests.get(master.url + "/metrics", timeout=10, headers={
        "Authorization": f"Bearer {master.admin_token}"})
    for line in r.text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def hb(agent, agent_id, applied):
    agent.post(f"/v1/agents/{agent_id}/heartbeat", expect=200, json={
        "agent_id": agent_id, "host": "h", "address": "10.0.0.2:7071",
        "applied_seq": applied, "open_inos": [], "generation": 1})


# ---- whoami ---------------------------------------------------------------

def test_whoami_for_each_role(master):
    assert master.client("admin").get("/v1/whoami", expect=200).json() == \
        {"role": "admin", "tenant": None}
    assert master.client("agent").get("/v1/whoami", expect=200).json() == \
        {"role": "agent", "tenant": None}
    assert master.client("tA").get("/v1/whoami", expect=200).json() == \
        {"role": "tenant", "tenant": "tA"}
    r = master.client("tB").head("/v1/whoami", expect=200)
    assert r.content == b""
    assert problem_name(master.client(None).get("/v1/whoami", expect=401)) \
        == "unauthorized"
    master.client("no-such-token").get("/v1/whoami", expect=401)
    master.client("admin").post("/v1/whoami", expect=405)


# ---- the map --------------------------------------------------------------

def test_files_show_in_their_tenants_class_with_exact_units(api):
    doc0, cells0 = exact_map(api)
    assert doc0["tenants"] == [] and doc0["class_units"][FREE] == doc0["units"]
    api.put("/v1/dirs/tB", expect=201)
    api.put("/v1/dirs/tA", expect=201)
    files = {
        "tB/x": api.put("/v1/files/tB/x", json={"size": 1, "tenant": "tB"},
                        expect=201).json(),
        "tA/y": api.put("/v1/files/tA/y", json={"size": 10000, "tenant": "tA"},
                        expect=201).json(),
        "z": api.put("/v1/files/z", json={"size": 5 * 4096}, expect=201).json(),
    }
    doc, cells = exact_map(api)
    # Tenants by name, whatever order they appeared in.
    assert doc["tenants"] == ["tA", "tB"]
    want = {"tA/y": TENANT, "tB/x": TENANT + 1, "z": UNTENANTED}
    for path, f in files.items():
        for u in file_units(doc, f):
            assert cells[u] == want[path], (path, u, cells[u])
    assert doc["class_units"][TENANT:] == [3, 1]
    assert doc["class_units"][UNTENANTED] == 5
    assert doc["class_units"][FREE] == doc["units"] - 9
    assert doc["class_units"][HELD] == doc["class_units"][PENDING] == 0
    assert doc["seq"] == api.get("/v1/pool").json()["last_seq"]
    assert doc["generation"] == api.get("/v1/pool").json()["log_generation"]


def test_cell_counts_and_the_vote(api):
    f = api.put("/v1/files/a", json={"size": 3 * 4096}, expect=201).json()
    units = api.get("/v1/pool/map", expect=200).json()["units"]
    first = file_units(api.get("/v1/pool/map").json(), f)[0]
    for n in (1, 2, 7, 1000, 65536, units - 1, units, 1 << 20):
        doc = api.get(f"/v1/pool/map?cells={n}", expect=200).json()
        cu = -(-units // n)
        assert doc["cell_units"] == cu and doc["cells"] == -(-units // cu)
        cells = cells_of(doc)
        # The file's 3 units win their cell only when they are most of it.
        if cu <= 5 and first % cu == 0:
            assert cells[first // cu] == UNTENANTED, n
        if cu >= 7:
            assert UNTENANTED not in cells, n
    assert api.get("/v1/pool/map").json()["cells"] == -(-units // -(-units // 65536))


def test_cells_bounds_and_bad_inputs(api):
    for bad in ("0", "1048577", "-1", "abc", "1.5", "", "0x10",
                "99999999999999999999999"):
        r = api.get(f"/v1/pool/map?cells={bad}", expect=400)
        assert problem_name(r) == "validation" and "cells" in r.json()["detail"]
    assert api.head("/v1/pool/map?cells=5", expect=200).content == b""
    api.put("/v1/pool/map", expect=405)


def test_delete_shows_pending_then_free(master, api):
    agent = master.client("agent")
    f = api.put("/v1/files/gone", json={"size": 2 * 4096}, expect=201).json()
    hb(agent, "h1", f["seq"])
    d = api.delete("/v1/files/gone", expect=200).json()
    doc, cells = exact_map(api)
    units = file_units(doc, f)
    assert [cells[u] for u in units] == [PENDING, PENDING]
    assert doc["class_units"][PENDING] == 2
    item = api.get(f"/v1/pool/units/{units[0]}?count=2", expect=200).json()
    assert item["items"] == [{
        "first_unit": units[0], "units": 2, "kind": "pending",
        "pending": {"ino": f["ino"], "delete_seq": d["seq"], "bytes": 8192}}]
    # The agent applied the delete: reclaimed, free again.
    hb(agent, "h1", d["seq"])
    doc, cells = exact_map(api)
    assert [cells[u] for u in units] == [FREE, FREE]
    assert doc["class_units"][PENDING] == 0
    assert doc["class_units"][FREE] == doc["units"]


def test_tenant_view_holds_only_its_tenant(master, api):
    agent = master.client("agent")
    for t in ("tA", "tB"):
        api.put(f"/v1/dirs/{t}", expect=201)
    ta = master.client("tA")
    mine = ta.put("/v1/files/tA/mine", json={"size": 3 * 4096},
                  expect=201).json()
    theirs = api.put("/v1/files/tB/theirs", json={"size": 4096, "tenant": "tB"},
                     expect=201).json()
    api.put("/v1/files/loose", json={"size": 4096}, expect=201)
    hb(agent, "h1", theirs["seq"])
    gone = api.put("/v1/files/tB/gone", json={"size": 4096, "tenant": "tB"},
                   expect=201).json()
    api.delete("/v1/files/tB/gone", expect=200)
    assert exact_map(api)[0]["class_units"][PENDING] == 1
    doc, cells = exact_map(ta)
    assert doc["tenants"] == ["tA"]
    assert doc["class_units"] == [0, 0, 0, 0, doc["units"] - 3, 0, 3]
    assert set(cells) == {OTHER, TENANT}
    for u in file_units(doc, mine):
        assert cells[u] == TENANT
    for f in (theirs, gone):
        for u in file_units(doc, f):
            assert cells[u] == OTHER
    text = ta.get("/v1/pool/map?cells=1000", expect=200).text
    assert "tB" not in text
    # The units endpoint: the own file in full, everything else "other".
    u = file_units(doc, mine)[0]
    own = ta.get(f"/v1/pool/units/{u}", expect=200).json()["items"]
    assert own[0]["kind"] == "tenant" and own[0]["tenant"] == "tA"
    assert own[0]["file"]["path"] == "/tA/mine"
    for f in (theirs, gone):
        r = ta.get(f"/v1/pool/units/{file_units(doc, f)[0]}?count=1",
                   expect=200)
        assert r.json()["items"] == [{"first_unit": file_units(doc, f)[0],
                                      "units": 1, "kind": "other"}]
        assert "tB" not in r.text and "theirs" not in r.text
    # Its tenant's file outside its tree: its units, but not where.
    away = api.put("/v1/files/away", json={"size": 4096, "tenant": "tA"},
                   expect=201).json()
    u = file_units(doc, away)[0]
    r = ta.get(f"/v1/pool/units/{u}", expect=200)
    assert r.json()["items"] == [{"first_unit": u, "units": 1,
                                  "kind": "tenant", "tenant": "tA"}]
    assert api.get(f"/v1/pool/units/{u}").json()["items"][0]["file"][
        "path"] == "/away"
    everything = ta.get("/v1/pool/units/0?count=1048576", expect=200).json()
    assert {i["kind"] for i in everything["items"]} <= {"other", "tenant"}
    # The admin sees both tenants, the untenanted file and the pending one.
    adm = exact_map(api)[0]
    assert adm["tenants"] == ["tA", "tB"]
    assert adm["class_units"][TENANT] == 4
    assert adm["class_units"][UNTENANTED] == 1


def test_units_items_truncation_and_errors(api):
    ops = [{"op": "create", "path": f"f{i:02d}", "size": 4096}
           for i in range(20)]
    res = api.post("/v1/batch", json={"ops": ops}, expect=200).json()
    doc = api.get("/v1/pool/map").json()
    made = [api.get(f"/v1/files/f{i:02d}").json() for i in range(20)]
    first = min(file_units(doc, f)[0] for f in made)
    r = api.get(f"/v1/pool/units/{first}?count=100", expect=200).json()
    assert r["truncated"] and len(r["items"]) == 16
    assert r["seq"] == res["seq"]
    at = first
    for it in r["items"]:
        assert it["first_unit"] == at and it["kind"] == "untenanted"
        assert it["units"] == 1 and "file" in it and "tenant" not in it
        assert file_units(doc, it["file"]) == [at]
        at += 1
    # The last unit: one free item to the end of the area, clipped.
    last = doc["units"] - 1
    tail = api.get(f"/v1/pool/units/{last}?count=1048576", expect=200).json()
    assert tail == {"seq": tail["seq"], "truncated": False,
                    "items": [{"first_unit": last, "units": 1,
                               "kind": "free"}]}
    assert api.head(f"/v1/pool/units/{last}", expect=200).content == b""
    r = api.get(f"/v1/pool/units/{doc['units']}", expect=404)
    assert problem_name(r) == "not-found"
    api.get("/v1/pool/units/18446744073709551615", expect=404)
    for bad in ("x", "-1", "1e3", "0x1", " 1", "18446744073709551616"):
        r = api.get(f"/v1/pool/units/{bad}", expect=400)
        assert problem_name(r) == "validation"
    for bad in ("0", "1048577", "x"):
        r = api.get(f"/v1/pool/units/0?count={bad}", expect=400)
        assert "count" in r.json()["detail"]
    api.delete("/v1/pool/units/0", expect=405)


# ---- the cache ------------------------------------------------------------

def test_one_build_per_change_and_a_create_shows_at_once(master, api):
    api.get("/v1/pool/map", expect=200)
    builds = metric(master, "famfsd_pool_map_builds_total")
    for n in (1, 100, 65536):
        api.get(f"/v1/pool/map?cells={n}", expect=200)
    master.client("tA").get("/v1/pool/map", expect=200)
    api.get("/v1/pool/units/0", expect=200)
    assert metric(master, "famfsd_pool_map_builds_total") == builds
    seen = api.get("/v1/pool/map", expect=200).json()
    for i in range(5):
        api.put(f"/v1/files/c{i}", json={"size": 4096}, expect=201)
        doc = api.get("/v1/pool/map", expect=200).json()
        assert doc["seq"] > seen["seq"]
        assert doc["class_units"][UNTENANTED] == i + 1
        seen = doc
    assert metric(master, "famfsd_pool_map_builds_total") == builds + 5
    assert metric(master, "famfsd_pool_map_lock_seconds") > 0
    # Many requests at once after a change: still one build.
    api.put("/v1/files/crowd", json={"size": 4096}, expect=201)
    errors = []

    def ask():
        try:
            c = master.client("admin")
            assert c.get("/v1/pool/map", expect=200).json()[
                "class_units"][UNTENANTED] == 6
        except Exception as e:      # noqa: BLE001 (reported below)
            errors.append(e)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    assert metric(master, "famfsd_pool_map_builds_total") == builds + 6


def test_units_never_name_a_file_that_does_not_hold_them(master, api):
    """Creates and deletes run beside units requests: every file an item
    names holds the item's units in the state the reply says (its seq),
    whichever snapshot the request found."""
    stop = threading.Event()
    errors = []

    def churn():
        c = master.client("admin")
        i = 0
        try:
            while not stop.is_set():
                c.put(f"/v1/files/ch{i % 8}", json={"size": 4096 * (1 + i % 3)},
                      expect=201, validate=False)
                c.delete(f"/v1/files/ch{(i + 5) % 8}", expect=(200, 404),
                         validate=False)
                i += 1
        except Exception as e:      # noqa: BLE001 (reported below)
            errors.append(e)

    t = threading.Thread(target=churn)
    t.start()
    seen = 0
    try:
        doc = api.get("/v1/pool/map?cells=1").json()
        for _ in range(150):
            r = api.get("/v1/pool/units/0?count=64", expect=(200, 409))
            if r.status_code == 409:
                continue
            for it in r.json()["items"]:
                if "file" not in it:
                    continue
                seen += 1
                held = set(file_units(doc, it["file"]))
                assert set(range(it["first_unit"],
                                 it["first_unit"] + it["units"])) <= held, it
                assert it["file"]["seq"] <= r.json()["seq"], it
    finally:
        stop.set()
        t.join(30)
    assert not errors, errors
    assert seen > 0
