"""The web pool map in a real browser (docs/ui.md): headless Chromium on a
real master's /ui/, signed in with real tokens, its map read back as
pixels from screenshots.

One master and one browser for the module (starting Chromium takes about a
second): a pool of 1,024 units of 4 KiB, so the page's map is exact unit by
unit, with files of known sizes of two tenants, an untenanted one and two
with hostile names; an agent heartbeats through the API and keeps its
applied_seq behind, so a deletion stays pending until the test moves it on.
Every expected figure comes from the sizes created here and from the map
endpoint, never from the page. After each test the browser's console must
hold no script error and no Content-Security-Policy refusal.

The scale case (100,000 files through POST /v1/batch) has its own master
on a bigger pool and asserts correctness only; its timing is
bench/ui_bench.py's.
"""

import json
import re
import signal
import time
import urllib.parse

import pytest

from browser import Browser, hex_color, png_counts, png_rgb, require_browser
from conftest import (ADMIN_TOKEN, AGENT_TOKEN, TENANT_TOKENS, Master, make_pool,
                      write_tokens)

AU = 4096
XSS = "<img src=x onerror=alert(1)>"
# No '/' (a name cannot hold one); quotes, an entity, an event handler,
# and non-ASCII UTF-8 (two-byte, three-byte, four-byte).
SCRIPTY = "\"'><svg onload=window.pwned=1>&amp; Grüße 文件 🙂"
# Files: path -> (size, tenant). Units: ceil(size / 4 KiB).
FILES = {
    "/tA/a": (40960, "tA"),          # 10 units
    "/tA/b": (4097, "tA"),           # 2
    "/tA/c": (100000, "tA"),         # 25
    f"/tA/{XSS}": (8192, "tA"),      # 2
    "/tB/x": (65536, "tB"),          # 16, deleted by the pending test
    "/tB/y": (12288, "tB"),          # 3
    "/misc/u": (12288, None),        # 3
    f"/misc/{SCRIPTY}": (5000, None),   # 2
}
QUOTAS = {"tA": (1 << 20, 10), "tB": (512 << 10, 5)}
FIXED = {"free": "#e8e8e8", "held": "#f0c000", "pending": "#e05050",
         "cut": "#404040", "other": "#b0b0b0", "untenanted": "#8060c0"}
KINDS = ["free", "held", "pending", "cut", "other", "untenanted"]
TENANT_COLORS = ["#3070d0", "#30a050", "#d07020", "#20a0a0", "#a03080", "#708030"]
ALL_COLORS = set(FIXED.values()) | set(TENANT_COLORS)


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what}: not within {timeout}s"
        time.sleep(0.05)


def units(size):
    return -(-size // AU)


UNITS = {"B": 1, "bytes": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30,
         "TiB": 1 << 40}


def shows_size(text, size):
    """Whether text states size: exactly in bytes ("100000 bytes", "100000
    B"), or rounded in binary units as shown ("97.66 KiB" is 100000 within
    half its last digit)."""
    for num, unit in re.findall(r"(\d[\d,]*(?:\.\d+)?)\s*(bytes|B|KiB|MiB|GiB|TiB)\b",
                                text or ""):
        num = num.replace(",", "")
        decimals = len(num.split(".")[1]) if "." in num else 0
        value, mult = float(num), UNITS[unit]
        if abs(value * mult - size) <= 0.5 * 10 ** -decimals * mult:
            return True
    return False


def first_int(text):
    m = re.search(r"\d+", text.replace(",", ""))
    return int(m.group(0)) if m else None


def url_path(path):
    return urllib.parse.quote(path, safe="/")


def kind_of(cls):
    return KINDS[cls] if cls < 6 else "tenant"


def color_of(cls, tenants):
    if cls < 6:
        return FIXED[KINDS[cls]]
    return TENANT_COLORS[(cls - 6) % len(TENANT_COLORS)]


def heartbeat(agent_api, applied, agent_id="h1", host="host-h1"):
    body = {"agent_id": agent_id, "host": host, "address": "10.0.0.2:7071",
            "applied_seq": applied, "open_inos": [], "generation": 1}
    agent_api.post(f"/v1/agents/{agent_id}/heartbeat", json=body, expect=200)


class Env:
    """The module's master, its clients and the browser."""

    def __init__(self, master, browser, work):
        self.m = master
        self.api = master.client("admin")
        self.agent = master.client("agent")
        self.b = browser
        self.work = work
        self.files = dict(FILES)       # as the tests change them
        self.data_offset = self.map(1)["data_offset"]

    def last_seq(self):
        return self.api.get("/v1/pool", expect=200).json()["last_seq"]

    def map(self, cells, token="admin"):
        c = self.api if token == "admin" else self.m.client(token)
        return c.get(f"/v1/pool/map?cells={cells}", expect=200).json()

    def admin_page(self):
        """The page signed in as admin, its map at the pool's last seq."""
        b = self.b
        b.open()
        if b.state() != "signin":
            b.wait(lambda: b.state() in ("signin", "ready"), 15, "a first state")
        if b.state() == "ready" and "admin" in (b.text("#who") or ""):
            return b.wait_map_seq(self.last_seq())
        if b.state() == "ready":
            b.sign_out()
        b.sign_in(ADMIN_TOKEN)
        return b.wait_map_seq(self.last_seq())

    def file_unit(self, path):
        """The first unit of a file's first extent."""
        f = self.api.get("/v1/files" + url_path(path), expect=200).json()
        return (f["extents"][0]["offset"] - self.data_offset) // AU


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    require_browser()
    work = tmp_path_factory.mktemp("ui")
    pool = make_pool(work / "pool.img", size="8M", alloc_unit="4K", log_size="1M")
    m = Master(pool, work, args=["--reclaim-grace-ms", "0"])
    b = None
    leaked = []
    try:
        api = m.client("admin")
        for t, (max_bytes, max_files) in QUOTAS.items():
            api.put(f"/v1/tenants/{t}/quota",
                    json={"max_bytes": max_bytes, "max_files": max_files},
                    expect=200)
        for d in ("/tA", "/tB", "/misc"):
            api.put("/v1/dirs" + d, expect=201)
        for path, (size, tenant) in FILES.items():
            body = {"size": size, **({"tenant": tenant} if tenant else {})}
            api.put("/v1/files" + url_path(path), json=body, expect=201)
        # An agent that has applied everything so far, and stays there
        # until a test moves it: a later delete waits for it (pending).
        heartbeat(m.client("agent"), api.get("/v1/pool").json()["last_seq"])
        b = Browser(m.url, work)
        yield Env(m, b, work)
    finally:
        if b:
            leaked = b.close()
        m.close()
    assert not leaked, f"chromium processes left after quit: {leaked}"


@pytest.fixture
def page(env):
    """The module's browser; after the test, no new console error or CSP
    refusal (but those a test lists in page.allow)."""
    env.allow = []
    before = len(env.b.logs())
    yield env
    new = env.b.logs()[before:]
    bad = [e for e in new if e in env.b.problems(allow=env.allow)]
    assert not bad, f"browser console: {bad}"


def expected_class_units(files, mp, pending=()):
    """Units per class of files (path -> (size, tenant); those in pending
    deleted and not reclaimed yet), by the map's tenant order."""
    want = [0] * (6 + len(mp["tenants"]))
    for path, (size, tenant) in files.items():
        if path in pending:
            want[2] += units(size)
        elif tenant:
            want[6 + mp["tenants"].index(tenant)] += units(size)
        else:
            want[5] += units(size)
    want[0] = mp["units"] - sum(want)
    return want


def expand(runs):
    """Per-cell class list from the map's run pairs."""
    out = []
    for i in range(0, len(runs), 2):
        out += [runs[i]] * runs[i + 1]
    return out


def cells_per_class(mp):
    out = {}
    for i in range(0, len(mp["runs"]), 2):
        out[mp["runs"][i]] = out.get(mp["runs"][i], 0) + mp["runs"][i + 1]
    return out


def check_map_pixels(b, mp, attrs, path):
    """The #map screenshot: each class's colour covers exactly its cells'
    squares, no legend colour of an absent class appears, and the centre
    pixel of every cell has the colour of that cell's class."""
    assert attrs["cells"] == mp["cells"] and attrs["cell_units"] == mp["cell_units"]
    png = b.screenshot("#map", path)
    counts = png_counts(png)
    px = attrs["cell_px"]
    per = cells_per_class(mp)
    colors = {}
    for cls, n in per.items():
        colors[color_of(cls, mp["tenants"])] = colors.get(
            color_of(cls, mp["tenants"]), 0) + n * px * px
    for c in ALL_COLORS:
        assert counts.get(c, 0) == colors.get(c, 0), \
            (f"{c}: {counts.get(c, 0)} pixels, the map's cells want "
             f"{colors.get(c, 0)} ({path})")
    # Where each cell is: its centre, inside the canvas's border.
    img = png_rgb(png)
    bx, by = b.js("var e = document.getElementById('map');"
                  "return [e.clientLeft, e.clientTop]")
    for cell, cls in enumerate(expand(mp["runs"])):
        x, y = b.cell_offset(cell, attrs)
        got = hex_color(img.getpixel((bx + x, by + y)))
        assert got == color_of(cls, mp["tenants"]), (cell, got, cls)
    return counts


def check_legend(b, mp):
    leg = b.legend()
    want = []
    for cls, n in enumerate(mp["class_units"]):
        if n == 0:
            continue
        want.append({"kind": kind_of(cls),
                     "tenant": mp["tenants"][cls - 6] if cls >= 6 else None,
                     "color": color_of(cls, mp["tenants"]), "units": str(n)})
    key = lambda x: (x["kind"], x["tenant"] or "")      # noqa: E731
    assert sorted(leg, key=key) == sorted(want, key=key)


def wait_map(env, seq, token="admin"):
    """The page's map at seq or later, and the endpoint's map for the
    same cells at the same seq (nothing changes the state meanwhile)."""
    attrs = env.b.wait_map_seq(seq)
    mp = env.map(attrs["cells"], token)
    assert mp["seq"] == attrs["seq"], (mp["seq"], attrs)
    return attrs, mp


# ---- the admin's page ---------------------------------------------------------

def test_map_pixels_match_the_files_units(page):
    b = page.b
    page.admin_page()
    attrs, mp = wait_map(page, page.last_seq())
    assert mp["cell_units"] == 1 and mp["cells"] == mp["units"] == 1024, mp
    assert mp["tenants"] == ["tA", "tB"]
    assert mp["class_units"] == expected_class_units(page.files, mp)
    check_legend(b, mp)
    counts = check_map_pixels(b, mp, attrs, page.work / "map-admin.png")
    px2 = attrs["cell_px"] ** 2
    assert counts[TENANT_COLORS[0]] == 39 * px2       # tA: 10 + 2 + 25 + 2
    assert counts[TENANT_COLORS[1]] == 19 * px2       # tB: 16 + 3
    assert counts[FIXED["untenanted"]] == 5 * px2
    assert b.text("#who").strip() == "admin"


def test_hover_shows_path_size_and_tenant(page):
    b = page.b
    page.admin_page()
    for path in ("/tA/c", "/misc/u"):
        size, tenant = FILES[path]
        unit = page.file_unit(path)
        b.hover_cell(unit)       # cell_units 1: the cell is the unit
        b.wait(lambda: b.data("#unit-info") and
               b.data("#unit-info").get("unit") == str(unit), 5,
               f"#unit-info[data-unit={unit}]")
        b.wait(lambda: b.text("#unit-info .item .path") == path, 5,
               f"#unit-info showing {path}")
        item = b.js("var i = document.querySelector('#unit-info .item');"
                    "function t(s) { var e = i.querySelector(s);"
                    "  return e ? e.textContent : null; }"
                    "return {kind: i.dataset.kind, size: t('.size'),"
                    "        tenant: t('.tenant')};")
        assert item["kind"] == ("tenant" if tenant else "untenanted"), item
        assert shows_size(item["size"], size), item
        if tenant:
            assert item["tenant"].strip() == tenant, item


def test_hostile_names_render_as_text(page):
    b = page.b
    # An agent's host name is any string too; it is evicted at the end
    # (its position would hold back the pending test's reclaim).
    heartbeat(page.agent, page.last_seq(), agent_id="h2", host=XSS)
    page.admin_page()
    row = b.wait(lambda: b.js("return document.querySelector("
                              "'#agents tr[data-agent=\"h2\"]')"), 5, "agent h2's row")
    assert XSS in b.js("return arguments[0].textContent", row)
    for d, name in (("/tA", XSS), ("/misc", SCRIPTY)):
        path = f"{d}/{name}"
        open_dir(page, d)
        li = find_entry(b, path)
        assert li is not None, f"{path!r} not in the tree"
        assert b.js("return arguments[0].querySelector('.name').textContent", li) == name
        unit = page.file_unit(path)
        b.hover_cell(unit)
        b.wait(lambda: b.text("#unit-info .item .path") == path, 5,
               f"#unit-info showing {path!r}")
    assert not b.alert_open()
    assert b.js("return document.querySelectorAll('img, svg, iframe, object, "
                "embed').length") == 0
    assert b.js("return Array.from(document.scripts).map(function (s) "
                "{ return s.src; })") == [page.m.url + "/ui/app.js"]
    assert b.js("return typeof window.pwned") == "undefined"
    page.api.delete("/v1/agents/h2", expect=200)


def test_pending_then_free_after_reclaim(page):
    b = page.b
    page.admin_page()
    r = page.api.delete("/v1/files/tB/x", expect=200)
    assert page.api.get("/v1/pool").json()["pending_reclaim_bytes"] == 16 * AU
    attrs, mp = wait_map(page, page.last_seq())
    assert mp["class_units"] == expected_class_units(page.files, mp,
                                                     pending=("/tB/x",)), r.text
    counts = check_map_pixels(b, mp, attrs, page.work / "map-pending.png")
    assert counts[FIXED["pending"]] == 16 * attrs["cell_px"] ** 2
    check_legend(b, mp)
    # What a pending cell holds.
    unit = next(c for c, cls in enumerate(expand(mp["runs"])) if cls == 2)
    b.hover_cell(unit)
    b.wait(lambda: b.js("var i = document.querySelector('#unit-info .item');"
                        "return i && i.dataset.kind") == "pending", 5,
           "#unit-info showing a pending unit")
    # The agent catches up: the reclaim record frees the units.
    heartbeat(page.agent, page.last_seq())
    b.wait(lambda: page.api.get("/v1/pool").json()["pending_reclaim_bytes"] == 0,
           5, "the reclaim")
    attrs, mp = wait_map(page, page.last_seq())
    del page.files["/tB/x"]
    want = expected_class_units(page.files, mp)
    assert mp["class_units"] == want
    counts = check_map_pixels(b, mp, attrs, page.work / "map-reclaimed.png")
    assert counts.get(FIXED["pending"], 0) == 0
    assert counts[FIXED["free"]] == want[0] * attrs["cell_px"] ** 2
    check_legend(b, mp)


def test_log_panel_matches_pool(page):
    b = page.b
    page.admin_page()
    p = page.api.get("/v1/pool", expect=200).json()
    b.wait(lambda: b.data("#log-fill") and
           b.data("#log-fill").get("used") == str(p["log_used_bytes"]), 5,
           f"#log-fill[data-used={p['log_used_bytes']}]")
    assert b.data("#log-fill")["capacity"] == str(p["log_capacity_bytes"])
    assert b.text("#log-generation").strip() == str(p["log_generation"])


def test_agents_table_shows_lag(page):
    b = page.b
    page.admin_page()
    # Records the agent has not applied: its lag grows by them.
    page.api.put("/v1/dirs/lag", expect=201)
    page.api.delete("/v1/dirs/lag", expect=200)
    ag = {a["agent_id"]: a for a in page.api.get("/v1/agents").json()["agents"]}
    assert ag["h1"]["lag"] >= 2

    def lag_shown():
        return b.js("var r = document.querySelector('#agents tr[data-agent=\"h1\"]');"
                    "return r ? r.querySelector('.lag').textContent : null")
    b.wait(lambda: (lag_shown() or "").strip() == str(ag["h1"]["lag"]), 5,
           f"#agents h1 lag {ag['h1']['lag']}")
    shown = b.js("return Array.from(document.querySelectorAll('#agents tr[data-agent]'))"
                 ".map(function (r) { return r.dataset.agent; })")
    assert sorted(shown) == sorted(ag), (shown, ag)
    age = b.text('#agents tr[data-agent="h1"] .heartbeat')
    assert age and age.strip(), "no heartbeat age"
    heartbeat(page.agent, page.last_seq())


def test_quota_bars_match_tenants(page):
    b = page.b
    page.admin_page()
    for t in page.api.get("/v1/tenants", expect=200).json()["tenants"]:
        q = b.js("var want = arguments[0];"
                 "var r = Array.from(document.querySelectorAll('#tenants tr'))"
                 ".find(function (x) { return x.dataset.tenant === want; });"
                 "return r ? Object.assign({}, r.querySelector('.quota').dataset) : null",
                 t["tenant"])
        assert q == {"used": str(t["used_bytes"]), "quota": str(t["max_bytes"])}, (q, t)


def test_live_update_without_reload(page):
    b = page.b
    attrs = page.admin_page()
    b.js("window.famfsdTestMark = 42")
    px2 = attrs["cell_px"] ** 2
    before = b.pixels("#map")[TENANT_COLORS[0]]
    t0 = time.monotonic()
    seq = page.api.put("/v1/files/tA/live", json={"size": 20480, "tenant": "tA"},
                       expect=201).json()
    page.files["/tA/live"] = (20480, "tA")
    want = page.last_seq()
    b.wait_map_seq(want, timeout=5)
    took = time.monotonic() - t0
    assert b.js("return window.famfsdTestMark") == 42, "the page reloaded"
    attrs, mp = wait_map(page, want)
    counts = check_map_pixels(b, mp, attrs, page.work / "map-live.png")
    assert counts[TENANT_COLORS[0]] == before + 5 * px2, (seq, took)
    assert int(b.data("#live")["seq"]) >= want


def listed_under(b, d):
    return b.js("var d = arguments[0] + '/';"
                "return Array.from(document.querySelectorAll('#tree li[data-path]'))"
                ".some(function (x) { return x.dataset.path.indexOf(d) === 0; })", d)


def open_dir(page, d):
    """Opens top-level directory d in the tree by clicking its entry, on
    a freshly loaded page (which lists the root), unless its entries are
    listed already."""
    b = page.b
    if listed_under(b, d):
        return
    page.admin_page()
    li = b.wait(lambda: find_entry(b, d), 5, f"tree entry {d}")
    b.js("arguments[0].querySelector('.name').click()", li)
    b.wait(lambda: listed_under(b, d), 5, f"{d} opened")


def find_entry(b, path):
    return b.js("var want = arguments[0];"
                "return Array.from(document.querySelectorAll('#tree li[data-path]'))"
                ".find(function (x) { return x.dataset.path === want; })"
                " || null", path)


def test_tree_stat_and_extents(page):
    b = page.b
    page.admin_page()
    open_dir(page, "/tA")
    li = find_entry(b, "/tA/c")
    b.js("arguments[0].querySelector('.name').click()", li)
    b.wait(lambda: (b.text("#stat-path") or "").strip() == "/tA/c", 5, "#stat of /tA/c")
    f = page.api.get("/v1/files/tA/c", expect=200).json()
    stat = b.js("var s = document.getElementById('stat'); function t(c) {"
                "  return s.querySelector(c).textContent.trim(); }"
                "return {size: t('.size'), mode: t('.mode'), uid: t('.uid'),"
                "        gid: t('.gid'), tenant: t('.tenant')};")
    assert shows_size(stat["size"], f["size"]), stat
    assert stat["mode"].lstrip("0") == ("%o" % f["mode"]).lstrip("0"), (stat, f["mode"])
    assert (stat["uid"], stat["gid"], stat["tenant"]) == \
        (str(f["uid"]), str(f["gid"]), "tA"), stat
    rows = b.js("return Array.from(document.querySelectorAll('#extents tr'))"
                ".filter(function (r) { return r.querySelector('td'); })"
                ".map(function (r) { return Array.from(r.querySelectorAll('td'))"
                ".map(function (c) { return c.textContent.trim(); }); })")
    want = [[x["offset"], x["length"]] for x in f["extents"]]
    assert [[first_int(c) for c in r[:2]] for r in rows] == want, (rows, want)


# ---- sign-in, sign-out, tokens --------------------------------------------------

def test_bad_token_shows_error(page):
    b = page.b
    page.admin_page()
    b.sign_out()
    page.allow = ["401"]        # the refused whoami, on purpose
    b.sign_in("not-a-token-0123456789", expect="signin")
    b.wait(lambda: (b.text("#signin-error") or "").strip(), 5, "#signin-error text")
    assert b.js("return sessionStorage.length") == 0


def test_revoked_token_signs_out_with_the_reason(page):
    """A 401 on any call signs out and says why: the admin token is taken
    out of the token file (SIGHUP re-reads it) while the page is open, and
    a create by another admin token wakes the page's feed."""
    b = page.b
    page.admin_page()
    other = "admin-2-0123456789abcdef"
    with open(page.m.tokens_file) as f:
        saved = f.read()
    page.allow = ["401"]
    try:
        write_tokens(page.m.tokens_file, admin=other)
        page.m.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: page.m.client(other).get("/v1/whoami").status_code == 200,
                   5, "the new token file read")
        page.m.client(other).put("/v1/files/misc/revoked", json={"size": 1},
                                 expect=201)
        page.files["/misc/revoked"] = (1, None)
        b.wait_state("signin", 30)
        assert (b.text("#signin-error") or "").strip(), "no reason shown"
        assert b.js("return sessionStorage.length") == 0
    finally:
        with open(page.m.tokens_file, "w") as f:
            f.write(saved)
        page.m.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: page.api.get("/v1/whoami", validate=False).status_code == 200,
                   5, "the token file restored")


def test_sign_out_clears_session_storage(page):
    b = page.b
    page.admin_page()
    assert b.js("return sessionStorage.length") > 0
    b.sign_out()
    assert b.js("return sessionStorage.length") == 0
    assert b.el("#signin").is_displayed()


def test_tenant_sees_only_its_tenant(page):
    b = page.b
    page.admin_page()
    b.sign_out()
    b.sign_in(TENANT_TOKENS["tA"])
    attrs, mp = wait_map(page, page.last_seq(), token="tA")
    assert mp["tenants"] == ["tA"]
    assert b.text("#who").strip() == "tenant tA"
    leg = b.legend()
    assert sorted((x["kind"], x["tenant"]) for x in leg) == \
        [("other", None), ("tenant", "tA")], leg
    counts = check_map_pixels(b, mp, attrs, page.work / "map-tenant.png")
    mine = sum(units(s) for s, t in page.files.values() if t == "tA")
    px2 = attrs["cell_px"] ** 2
    assert counts[TENANT_COLORS[0]] == mine * px2
    assert counts[FIXED["other"]] == (mp["cells"] - mine) * px2
    for c in ALL_COLORS - {TENANT_COLORS[0], FIXED["other"]}:
        assert counts.get(c, 0) == 0, c
    # Its tree: /tA only; its quota; no agents or log panel.
    b.wait(lambda: b.els("#tree li[data-path]"), 5, "the tenant's tree")
    paths = b.js("return Array.from(document.querySelectorAll('#tree li[data-path]'))"
                 ".map(function (x) { return x.dataset.path; })")
    assert paths and all(p == "/tA" or p.startswith("/tA/") for p in paths), paths
    rows = b.js("return Array.from(document.querySelectorAll('#tenants tr[data-tenant]'))"
                ".map(function (r) { return [r.dataset.tenant,"
                " Object.assign({}, r.querySelector('.quota').dataset)]; })")
    t = page.m.client("tA").get("/v1/tenants/tA", expect=200).json()
    assert rows == [["tA", {"used": str(t["used_bytes"]), "quota": str(t["max_bytes"])}]]
    for panel in ("#agents", "#log"):
        shown = b.js("var e = document.querySelector(arguments[0]);"
                     "return !!e && e.getClientRects().length > 0", panel)
        assert not shown, f"{panel} shown to a tenant"
    # It polls (no feed for a tenant): a create shows without a reload.
    b.js("window.famfsdTestMark = 7")
    page.api.put("/v1/files/tA/tlive", json={"size": 4096, "tenant": "tA"}, expect=201)
    page.files["/tA/tlive"] = (4096, "tA")
    attrs = b.wait_map_seq(page.last_seq(), timeout=6)
    assert b.js("return window.famfsdTestMark") == 7, "the page reloaded"
    counts = png_counts(b.screenshot("#map", page.work / "map-tenant-live.png"))
    assert counts[TENANT_COLORS[0]] == (mine + 1) * px2
    b.sign_out()


def test_token_in_no_url_and_no_cookie(page):
    b = page.b
    page.admin_page()
    urls = b.urls()
    assert any(u.startswith(page.m.url + "/v1/pool/map") for u in urls), urls[:20]
    for tok in [ADMIN_TOKEN, AGENT_TOKEN, *TENANT_TOKENS.values()]:
        for u in urls:
            assert tok not in u and urllib.parse.quote(tok) not in u, u
    assert b.driver.get_cookies() == []
    assert b.js("return document.cookie") == ""
    # Nothing was asked of any host but the master.
    hosts = {urllib.parse.urlsplit(u).netloc for u in urls
             if u.startswith(("http:", "https:", "ws:"))}
    assert hosts == {page.m.url.split("//")[1]}, hosts


# ---- scale ------------------------------------------------------------------------

SCALE_FILES = 100_000
BATCH_MAX = 65_536


def test_scale_100k_files_map_is_right(env, tmp_path):
    """100,000 files in a pool of its own: the page gets to ready and its
    legend and pixels match the endpoint's map (no timing asserted)."""
    pool = make_pool(tmp_path / "big.img", size="1G", alloc_unit="4K",
                     log_size="128M")
    with Master(pool, tmp_path, name="big") as m:
        api = m.client("admin")
        api.put("/v1/dirs/tA", expect=201)
        api.put("/v1/dirs/s", expect=201)
        ops = [{"op": "create", "path": f"{'tA' if i % 3 == 0 else 's'}/f{i:06d}",
                "size": AU * (1 + i % 2),
                **({"tenant": "tA"} if i % 3 == 0 else {})}
               for i in range(SCALE_FILES)]
        for i in range(0, len(ops), BATCH_MAX):
            r = api.post("/v1/batch", data=json.dumps({"ops": ops[i:i + BATCH_MAX]}),
                         headers={"Content-Type": "application/json"},
                         expect=200, validate=False, timeout=120)
            assert {x["status"] for x in r.json()["results"]} == {"created"}
        seq = api.get("/v1/pool").json()["last_seq"]
        b = Browser(m.url, tmp_path)
        try:
            b.open()
            b.sign_in(ADMIN_TOKEN, timeout=60)
            attrs = b.wait_map_seq(seq, timeout=30)
            mp = api.get(f"/v1/pool/map?cells={attrs['cells']}", expect=200).json()
            assert mp["seq"] == attrs["seq"]
            tA = sum(1 + i % 2 for i in range(0, SCALE_FILES, 3))
            other = sum(1 + i % 2 for i in range(SCALE_FILES)) - tA
            assert mp["class_units"][6] == tA and mp["class_units"][5] == other
            check_legend(b, mp)
            check_map_pixels(b, mp, attrs, tmp_path / "map-100k.png")
            assert not b.problems(), b.problems()
        finally:
            leaked = b.close()
        assert not leaked, f"chromium processes left after quit: {leaked}"
