// SPDX-License-Identifier: GPL-2.0-or-later
// famfsd's web pool map (docs/ui.md). Plain script, no framework, no build
// step. Every name from the pool (files, tenants, agents, hosts) goes into
// the page with textContent or as an attribute value, never as HTML. The
// token lives in sessionStorage and travels only in the Authorization
// header of this page's own fetch() calls, to relative URLs (same origin).

const TOKEN_KEY = "famfsd-token";
const KINDS = ["free", "held", "pending", "cut", "other", "untenanted"];
const FIXED_COLORS = ["#e8e8e8", "#f0c000", "#e05050", "#404040", "#b0b0b0", "#8060c0"];
const TENANT_COLORS = ["#3070d0", "#30a050", "#d07020", "#20a0a0", "#a03080", "#708030"];
const MAP_MAX_W = 1024;		// CSS pixels the map may take
const MAP_MAX_H = 512;
const MAP_MIN_GAP_MS = 1000;	// the map is refetched at most once a second
const TENANT_POLL_MS = 2000;
const SIDE_POLL_MS = 5000;	// agents' lag moves without log records
const FEED_WAIT_S = 25;
const TREE_PAGE = 100;
const HOVER_DEBOUNCE_MS = 60;

const $ = (id) => document.getElementById(id);

// One signed-in session: everything it started stops when it ends.
let S = null;

class SignedOut extends Error {}

function newSession(token) {
	return {
		token,
		abort: new AbortController(),
		timers: new Set(),
		role: null,
		tenant: null,
		map: null,		// the last drawn map and its geometry
		mapBusy: false,
		mapDirty: false,
		mapTimer: 0,
		mapLastStart: 0,
		seq: 0,
		hoverTimer: 0,
		hoverSerial: 0,
		hoverAbort: null,
		treeDir: "/",
		treeWant: "/",
		treeRoot: "/",
		treeCursor: null,
		treePages: 0,
		treeSerial: 0,
		agents: [],
		agentsAt: 0,
	};
}

// ---- the API ----------------------------------------------------------

// "/a/b c" -> "/a/b%20c": every segment percent-encoded on its own.
function encodePath(path) {
	return path.split("/").filter((s) => s !== "").map(encodeURIComponent).join("/");
}

function apiUrl(base, path) {
	const enc = encodePath(path);
	return enc ? `${base}/${enc}` : base;
}

// GET a JSON document; a 401 signs out with the server's reason.
async function api(s, url, signal) {
	let r;
	try {
		r = await fetch(url, {
			headers: { Authorization: `Bearer ${s.token}`, Accept: "application/json" },
			signal: signal || s.abort.signal,
			cache: "no-store",
			credentials: "omit",
			redirect: "follow",
		});
	} catch (e) {
		if (e.name === "AbortError")
			throw e;
		throw new Error(`cannot reach the master (${e.message})`);
	}
	let body = null;
	try {
		body = await r.json();
	} catch (e) {
		body = null;
	}
	if (r.status === 401) {
		const why = (body && body.detail) || "the token was refused";
		signOut(`Signed out: ${why}`);
		throw new SignedOut(why);
	}
	if (!r.ok) {
		const why = body && body.detail ? body.detail : r.statusText;
		const e = new Error(`${r.status} ${why} (${url})`);
		e.status = r.status;
		throw e;
	}
	return body;
}

function alive(s) {
	return S === s && !s.abort.signal.aborted;
}

function later(s, ms, fn) {
	const t = setTimeout(() => {
		s.timers.delete(t);
		if (alive(s))
			fn();
	}, ms);
	s.timers.add(t);
	return t;
}

function status(text) {
	$("status").textContent = text;
}

// Errors of background refreshes: shown, never thrown further.
function report(s, e) {
	if (e instanceof SignedOut || e.name === "AbortError" || !alive(s))
		return;
	status(e.message);
}

// ---- formatting -------------------------------------------------------

function bytes(n) {
	const u = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
	let i = 0;
	let v = Number(n);
	while (v >= 1024 && i < u.length - 1) {
		v /= 1024;
		i++;
	}
	return i ? `${v.toFixed(v < 10 ? 2 : 1)} ${u[i]}` : `${v} B`;
}

function el(tag, cls, text) {
	const e = document.createElement(tag);
	if (cls)
		e.className = cls;
	if (text !== undefined && text !== null)
		e.textContent = String(text);
	return e;
}

// ---- the map ----------------------------------------------------------

function classColor(cls) {
	if (cls < FIXED_COLORS.length)
		return FIXED_COLORS[cls];
	return TENANT_COLORS[(cls - FIXED_COLORS.length) % TENANT_COLORS.length];
}

function classKind(cls) {
	return cls < KINDS.length ? KINDS[cls] : "tenant";
}

// "#rrggbb" as a pixel of a Uint32Array over ImageData bytes (r, g, b, a
// in memory order, whatever the machine's endianness).
function pixel(hex) {
	const b = new Uint8ClampedArray([
		parseInt(hex.slice(1, 3), 16), parseInt(hex.slice(3, 5), 16),
		parseInt(hex.slice(5, 7), 16), 255]);
	return new Uint32Array(b.buffer)[0];
}

// The CSS box the map may fill: the panel's width, up to 1024 x 512.
function mapArea() {
	const w = Math.floor($("map-box").clientWidth) || MAP_MAX_W;
	return { w: Math.max(64, Math.min(MAP_MAX_W, w)), h: MAP_MAX_H };
}

// The largest integer cell size that fits cells into the area.
function geometry(cells, area) {
	let px = Math.max(1, Math.floor(Math.sqrt((area.w * area.h) / Math.max(1, cells))));
	for (; px > 1; px--) {
		const cols = Math.floor(area.w / px);
		if (Math.ceil(cells / cols) * px <= area.h)
			break;
	}
	const cols = Math.min(cells, Math.floor(area.w / px)) || 1;
	return { px, cols, rows: Math.ceil(cells / cols) };
}

function drawMap(m, geo) {
	const canvas = $("map");
	const dpr = Math.max(1, Math.round(window.devicePixelRatio || 1));
	const dev = geo.px * dpr;		// device pixels per cell side
	const width = geo.cols * dev;
	const height = geo.rows * dev;
	if (canvas.width !== width || canvas.height !== height) {
		canvas.width = width;
		canvas.height = height;
	}
	canvas.style.width = `${geo.cols * geo.px}px`;
	canvas.style.height = `${geo.rows * geo.px}px`;
	const ctx = canvas.getContext("2d", { alpha: true });
	ctx.imageSmoothingEnabled = false;
	const img = ctx.createImageData(width, height);
	const out = new Uint32Array(img.data.buffer);
	const colors = [];
	const runs = m.runs;
	const nclasses = Math.max(m.class_units.length, FIXED_COLORS.length + m.tenants.length);
	for (let c = 0; c < nclasses; c++)
		colors.push(pixel(classColor(c)));
	if (dev === 1 && geo.cols === width) {
		// One pixel per cell, rows as wide as the canvas: cell i is pixel i.
		let at = 0;
		for (let i = 0; i + 1 < runs.length; i += 2) {
			out.fill(colors[runs[i]] || 0, at, at + runs[i + 1]);
			at += runs[i + 1];
		}
	} else {
		drawScaled(out, runs, colors, geo, dev, width);
	}
	ctx.putImageData(img, 0, 0);
}

// Cells of dev x dev device pixels: each row of cells is made once as a
// line of pixels, then copied down dev times.
function drawScaled(out, runs, colors, geo, dev, width) {
	const line = new Uint32Array(width);
	let run = 0;
	let left = runs.length ? runs[1] : 0;
	for (let r = 0; r < geo.rows; r++) {
		line.fill(0);
		for (let c = 0; c < geo.cols; c++) {
			while (left === 0 && run + 2 < runs.length) {
				run += 2;
				left = runs[run + 1];
			}
			if (left === 0)
				break;
			line.fill(colors[runs[run]] || 0, c * dev, (c + 1) * dev);
			left--;
		}
		for (let k = 0; k < dev; k++)
			out.set(line, (r * dev + k) * width);
	}
}

function drawLegend(m) {
	const ul = $("legend");
	const items = [];
	for (let c = 0; c < m.class_units.length; c++) {
		const units = m.class_units[c];
		if (!units)
			continue;
		const li = el("li");
		const kind = classKind(c);
		const color = classColor(c);
		li.dataset.kind = kind;
		li.dataset.color = color;
		li.dataset.units = String(units);
		let name = kind;
		if (kind === "tenant") {
			const t = m.tenants[c - FIXED_COLORS.length];
			li.dataset.tenant = t;
			name = `tenant ${t}`;
		}
		const sw = el("span", `swatch c${c < FIXED_COLORS.length ? c : 6 + ((c - 6) % TENANT_COLORS.length)}`);
		li.append(sw, el("span", "name", name),
			el("span", "units", ` ${units} units (${bytes(units * m.alloc_unit)})`));
		items.push(li);
	}
	ul.replaceChildren(...items);
}

async function loadMap(s) {
	const t0 = performance.now();
	const area = mapArea();
	const want = Math.min(1048576, area.w * area.h);
	const m = await api(s, `/v1/pool/map?cells=${want}`);
	if (!alive(s))
		return;
	const before = s.map ? s.map.m.seq : m.seq;
	const geo = geometry(m.cells, area);
	drawMap(m, geo);
	drawLegend(m);
	s.map = { m, geo };
	const c = $("map");
	c.dataset.seq = String(m.seq);
	c.dataset.cells = String(m.cells);
	c.dataset.cellUnits = String(m.cell_units);
	c.dataset.cols = String(geo.cols);
	c.dataset.cellPx = String(geo.px);
	const per = m.cell_units === 1 ? "1 unit" : `${m.cell_units} units`;
	$("map-caption").textContent = `${m.units} units of ${bytes(m.alloc_unit)}; ` +
		`${m.cells} cells of ${per}; seq ${m.seq}, generation ${m.generation}`;
	noteSeq(s, m.seq);
	c.dataset.drawMs = (performance.now() - t0).toFixed(1);
	if (m.seq !== before)
		refreshTree(s);
}

// A change asks for the map again: at most one fetch at a time and one
// start per second; changes seen meanwhile make one more fetch after it.
function refreshMap(s) {
	s.mapDirty = true;
	pumpMap(s);
}

function pumpMap(s) {
	if (!s.mapDirty || s.mapBusy || s.mapTimer)
		return;
	const wait = s.mapLastStart + MAP_MIN_GAP_MS - performance.now();
	if (wait > 0) {
		s.mapTimer = later(s, wait, () => {
			s.mapTimer = 0;
			pumpMap(s);
		});
		return;
	}
	s.mapDirty = false;
	s.mapBusy = true;
	s.mapLastStart = performance.now();
	loadMap(s).catch((e) => report(s, e)).finally(() => {
		s.mapBusy = false;
		if (alive(s))
			pumpMap(s);
	});
}

// ---- what a cell holds --------------------------------------------------

function cellAt(s, ev) {
	if (!s.map)
		return -1;
	const { m, geo } = s.map;
	const rect = $("map").getBoundingClientRect();
	const col = Math.floor((ev.clientX - rect.left) / geo.px);
	const row = Math.floor((ev.clientY - rect.top) / geo.px);
	if (col < 0 || col >= geo.cols || row < 0)
		return -1;
	const cell = row * geo.cols + col;
	return cell < m.cells ? cell : -1;
}

function onPointer(ev) {
	const s = S;
	if (!s || !s.map)
		return;
	const cell = cellAt(s, ev);
	if (cell < 0)
		return;
	clearTimeout(s.hoverTimer);
	s.hoverTimer = setTimeout(() => showCell(s, cell), HOVER_DEBOUNCE_MS);
}

// The latest pointer wins: an older reply is dropped, its fetch aborted.
async function showCell(s, cell) {
	if (!alive(s) || !s.map)
		return;
	const { m } = s.map;
	const unit = cell * m.cell_units;
	const count = Math.min(m.cell_units, m.units - unit);
	const serial = ++s.hoverSerial;
	if (s.hoverAbort)
		s.hoverAbort.abort();
	const ac = new AbortController();
	s.hoverAbort = ac;
	const stop = () => ac.abort();
	s.abort.signal.addEventListener("abort", stop, { once: true });
	try {
		const r = await api(s, `/v1/pool/units/${unit}?count=${count}`, ac.signal);
		if (serial === s.hoverSerial && alive(s))
			drawUnitInfo(unit, count, m, r);
	} catch (e) {
		if (serial === s.hoverSerial)
			report(s, e);
	} finally {
		s.abort.signal.removeEventListener("abort", stop);
	}
}

function drawUnitInfo(unit, count, m, r) {
	const box = $("unit-info");
	const head = el("p", "range",
		count > 1 ? `units ${unit}-${unit + count - 1}` : `unit ${unit}`);
	head.append(el("span", "offset", ` at pool offset ${m.data_offset + unit * m.alloc_unit}`));
	const list = el("ul", "items");
	for (const it of r.items) {
		const li = el("li", "item");
		li.dataset.kind = it.kind;
		li.append(el("span", "kind", it.kind),
			el("span", "units", ` ${it.units} unit${it.units === 1 ? "" : "s"} from ${it.first_unit}`));
		if (it.file) {
			li.append(el("span", "path", it.file.path),
				el("span", "size", bytes(it.file.size)));
			li.lastChild.title = `${it.file.size} bytes`;
		}
		const tenant = it.tenant || (it.file && it.file.tenant);
		if (tenant)
			li.append(el("span", "tenant", tenant));
		if (it.pending) {
			li.append(el("span", "size", bytes(it.pending.bytes)),
				el("span", "ino", `ino ${it.pending.ino}, deleted at seq ${it.pending.delete_seq}`));
		}
		list.append(li);
	}
	const parts = [head, list];
	if (r.truncated)
		parts.push(el("p", "truncated", "more runs in this cell"));
	box.dataset.unit = String(unit);
	box.replaceChildren(...parts);
}

// ---- log, pool, tenants, agents ----------------------------------------

async function loadPool(s) {
	const p = await api(s, "/v1/pool");
	if (!alive(s))
		return;
	const meter = $("log-fill");
	meter.max = Math.max(1, p.log_capacity_bytes);
	meter.value = p.log_used_bytes;
	meter.dataset.used = String(p.log_used_bytes);
	meter.dataset.capacity = String(p.log_capacity_bytes);
	const pct = p.log_capacity_bytes ? (100 * p.log_used_bytes) / p.log_capacity_bytes : 0;
	$("log-fill-text").textContent =
		`${bytes(p.log_used_bytes)} of ${bytes(p.log_capacity_bytes)} (${pct.toFixed(1)} %), ${p.log_records} records`;
	$("log-generation").textContent = String(p.log_generation);
	const dl = $("pool-stats");
	const rows = [
		["role", p.role], ["used", bytes(p.used_bytes)], ["free", bytes(p.free_bytes)],
		["pending reclaim", bytes(p.pending_reclaim_bytes)], ["files", p.files],
		["last seq", p.last_seq],
	];
	const kids = [];
	for (const [k, v] of rows)
		kids.push(el("dt", null, k), el("dd", k.replace(/ /g, "-"), v));
	dl.replaceChildren(...kids);
}

function quotaBar(used, max) {
	const mtr = el("meter", "quota");
	mtr.min = 0;
	mtr.max = max > 0 ? max : Math.max(1, used);
	mtr.value = used;
	mtr.dataset.used = String(used);
	mtr.dataset.quota = max > 0 ? String(max) : "";
	mtr.title = max > 0 ? `${used} of ${max} bytes` : `${used} bytes, no quota`;
	return mtr;
}

async function loadTenants(s) {
	const r = await api(s, "/v1/tenants");
	if (!alive(s))
		return;
	const rows = [];
	for (const t of r.tenants) {
		const tr = el("tr");
		tr.dataset.tenant = t.tenant;
		const q = el("td");
		q.append(quotaBar(t.used_bytes, t.max_bytes),
			el("span", "quota-text", t.max_bytes > 0 ? ` of ${bytes(t.max_bytes)}` : " no quota"));
		tr.append(el("td", "name", t.tenant), el("td", "bytes", bytes(t.used_bytes)), q,
			el("td", "files", t.max_files > 0 ? `${t.used_files} of ${t.max_files}` : String(t.used_files)));
		rows.push(tr);
	}
	$("tenants").tBodies[0].replaceChildren(...rows);
}

function age(sec) {
	if (sec < 60)
		return `${sec.toFixed(0)} s ago`;
	if (sec < 3600)
		return `${Math.floor(sec / 60)} min ago`;
	return `${(sec / 3600).toFixed(1)} h ago`;
}

async function loadAgents(s) {
	const r = await api(s, "/v1/agents");
	if (!alive(s))
		return;
	s.agents = r.agents;
	s.agentsAt = performance.now();
	const rows = [];
	for (const a of r.agents) {
		const tr = el("tr");
		tr.dataset.agent = a.agent_id;
		tr.dataset.state = a.state;
		const hb = el("td", "heartbeat", age(a.age_seconds));
		hb.title = a.last_heartbeat;
		tr.append(el("td", "name", a.agent_id), el("td", "host", a.host),
			el("td", "state", a.state), el("td", "applied", a.applied_seq),
			el("td", "lag", a.lag), hb);
		rows.push(tr);
	}
	$("agents").tBodies[0].replaceChildren(...rows);
}

// The heartbeat ages move on between fetches.
function tickAges(s) {
	const cells = $("agents").querySelectorAll("td.heartbeat");
	const gone = (performance.now() - s.agentsAt) / 1000;
	cells.forEach((td, i) => {
		if (s.agents[i])
			td.textContent = age(s.agents[i].age_seconds + gone);
	});
	later(s, 1000, () => tickAges(s));
}

// ---- live updates -------------------------------------------------------

function noteSeq(s, seq) {
	if (seq > s.seq) {
		s.seq = seq;
		const live = $("live");
		live.dataset.seq = String(seq);
		live.textContent = `seq ${seq}`;
	}
}

function refreshAdmin(s) {
	refreshMap(s);
	loadPool(s).catch((e) => report(s, e));
	loadTenants(s).catch((e) => report(s, e));
	loadAgents(s).catch((e) => report(s, e));
}

// Admin: the change feed as a wake-up; what changed is fetched again.
async function follow(s) {
	let backoff = 1000;
	let gen = null;
	while (alive(s)) {
		try {
			const f = await api(s, `/v1/log?after=${s.seq}&wait=${FEED_WAIT_S}`);
			if (!alive(s))
				return;
			backoff = 1000;
			const changed = f.last_seq > s.seq || (gen !== null && f.generation !== gen);
			gen = f.generation;
			if (f.last_seq < s.seq)
				s.seq = f.last_seq;	// another log (a new pool): follow it
			if (changed) {
				noteSeq(s, f.last_seq);
				refreshAdmin(s);
				status("");
				// Churn: one feed round trip per map refresh at most.
				await new Promise((ok) => later(s, 500, ok));
			}
		} catch (e) {
			if (e instanceof SignedOut || e.name === "AbortError" || !alive(s))
				return;
			report(s, e);
			await new Promise((ok) => later(s, backoff, ok));
			backoff = Math.min(backoff * 2, 10000);
		}
	}
}

function sidePoll(s) {
	loadAgents(s).catch((e) => report(s, e));
	loadPool(s).catch((e) => report(s, e));
	later(s, SIDE_POLL_MS, () => sidePoll(s));
}

// Tenant: no feed for its token; the map and its quota every 2 s.
function tenantPoll(s) {
	refreshMap(s);
	loadTenants(s).catch((e) => report(s, e));
	later(s, TENANT_POLL_MS, () => tenantPoll(s));
}

// ---- the tree -----------------------------------------------------------

function parentOf(path) {
	const i = path.lastIndexOf("/");
	return i <= 0 ? "/" : path.slice(0, i);
}

function openDir(s, path) {
	return listDir(s, path, true);
}

// A directory's first page; fresh: a directory the user opened (the
// stat shown is then kept, as is the list's scroll on a re-list).
async function listDir(s, path, fresh) {
	const serial = ++s.treeSerial;
	s.treeWant = path;
	let page;
	try {
		page = await api(s, `${apiUrl("/v1/dirs", path)}?limit=${TREE_PAGE}`);
	} catch (e) {
		// A tenant's directory appears with its first file.
		if (e.status !== 404 || path !== s.treeRoot)
			throw e;
		page = { path, entries: [], next_cursor: null };
	}
	if (!alive(s) || serial !== s.treeSerial)
		return;
	s.treeDir = path;
	$("tree-path").textContent = page.path;
	$("tree-up").disabled = path === s.treeRoot;
	$("tree").replaceChildren();
	s.treePages = 0;
	addEntries(s, page);
	if (fresh)
		$("tree").scrollTop = 0;
}

// The state changed: the directory shown is listed again, if the user
// did not page on (a re-list would drop what "more" brought).
function refreshTree(s) {
	if (s.treePages !== 1)
		return;
	listDir(s, s.treeWant, false).catch((e) => report(s, e));
}

async function moreDir(s) {
	if (!s.treeCursor)
		return;
	const serial = s.treeSerial;
	const url = `${apiUrl("/v1/dirs", s.treeDir)}?limit=${TREE_PAGE}&cursor=${encodeURIComponent(s.treeCursor)}`;
	const page = await api(s, url);
	if (alive(s) && serial === s.treeSerial)
		addEntries(s, page);
}

function addEntries(s, page) {
	const frag = document.createDocumentFragment();
	for (const e of page.entries) {
		const li = el("li", e.type);
		li.dataset.path = e.path;
		li.dataset.type = e.type;
		const name = e.path === "/" ? "/" : e.path.slice(e.path.lastIndexOf("/") + 1);
		li.append(el("span", "name", name));
		if (e.type === "file")
			li.append(el("span", "size", bytes(e.size)));
		if (e.tenant)
			li.append(el("span", "tenant", e.tenant));
		frag.append(li);
	}
	$("tree").append(frag);
	s.treePages++;
	s.treeCursor = page.next_cursor;
	$("tree-more").hidden = !page.next_cursor;
}

function mode(m) {
	return `0${(m & 0o7777).toString(8).padStart(3, "0")}`;
}

async function statFile(s, path) {
	const f = await api(s, apiUrl("/v1/files", path));
	if (!alive(s))
		return;
	const st = $("stat");
	$("stat-path").textContent = f.path;
	st.querySelector(".size").textContent = `${f.size} bytes (${bytes(f.size)})`;
	st.querySelector(".mode").textContent = mode(f.mode);
	st.querySelector(".uid").textContent = String(f.uid);
	st.querySelector(".gid").textContent = String(f.gid);
	st.querySelector(".tenant").textContent = f.tenant || "none";
	st.querySelector(".mtime").textContent = f.mtime;
	const rows = [];
	for (const x of f.extents || []) {
		const tr = el("tr");
		tr.dataset.offset = String(x.offset);
		tr.dataset.length = String(x.length);
		tr.append(el("td", "offset", x.offset), el("td", "length", `${x.length} (${bytes(x.length)})`));
		rows.push(tr);
	}
	$("extents").replaceChildren(...rows);
	st.hidden = false;
}

function onTreeClick(ev) {
	const s = S;
	const li = ev.target.closest("li[data-path]");
	if (!s || !li || !$("tree").contains(li))
		return;
	const path = li.dataset.path;
	const job = li.dataset.type === "dir" ? openDir(s, path) : statFile(s, path);
	job.catch((e) => report(s, e));
}

// ---- sign-in, panels, sign-out ------------------------------------------

function setState(st) {
	document.body.dataset.state = st;
}

function showPanels(admin) {
	for (const e of document.querySelectorAll(".admin-only"))
		e.hidden = !admin;
	$("panels").hidden = false;
	$("signin").hidden = true;
	$("signout").hidden = false;
}

async function start(s) {
	setState("loading");
	status("");
	const me = await api(s, "/v1/whoami");
	if (!alive(s))
		return;
	if (me.role !== "admin" && me.role !== "tenant") {
		signOut(`Signed out: ${me.role} tokens have no page; use an admin or tenant token`);
		return;
	}
	s.role = me.role;
	s.tenant = me.tenant;
	$("who").textContent = me.role === "tenant" ? `tenant ${me.tenant}` : "admin";
	s.treeRoot = me.role === "tenant" ? `/${me.tenant}` : "/";
	showPanels(me.role === "admin");
	const first = [loadMap(s), loadTenants(s), openDir(s, s.treeRoot)];
	if (me.role === "admin")
		first.push(loadPool(s), loadAgents(s));
	s.mapLastStart = performance.now();
	await Promise.all(first);
	if (!alive(s))
		return;
	setState("ready");
	if (me.role === "admin") {
		follow(s);
		later(s, SIDE_POLL_MS, () => sidePoll(s));
		later(s, 1000, () => tickAges(s));
	} else {
		later(s, TENANT_POLL_MS, () => tenantPoll(s));
	}
}

function signIn(token) {
	if (S)
		signOut("");
	sessionStorage.setItem(TOKEN_KEY, token);
	const s = newSession(token);
	S = s;
	start(s).catch((e) => {
		if (e instanceof SignedOut || e.name === "AbortError" || !alive(s))
			return;
		setState("error");
		status(e.message);
	});
}

function resetPanels() {
	$("who").textContent = "";
	$("live").textContent = "";
	$("live").dataset.seq = "0";
	$("legend").replaceChildren();
	$("unit-info").replaceChildren();
	$("unit-info").dataset.unit = "";
	$("tenants").tBodies[0].replaceChildren();
	$("agents").tBodies[0].replaceChildren();
	$("tree").replaceChildren();
	$("tree-path").textContent = "";
	$("tree-more").hidden = true;
	$("extents").replaceChildren();
	$("stat").hidden = true;
	$("pool-stats").replaceChildren();
	$("log-fill-text").textContent = "";
	$("log-generation").textContent = "";
	const c = $("map");
	c.getContext("2d").clearRect(0, 0, c.width, c.height);
	for (const k of ["seq", "cells", "cellUnits", "cols", "cellPx", "drawMs"])
		delete c.dataset[k];
}

function signOut(reason) {
	const s = S;
	S = null;
	if (s) {
		s.abort.abort();
		for (const t of s.timers)
			clearTimeout(t);
		clearTimeout(s.hoverTimer);
		if (s.hoverAbort)
			s.hoverAbort.abort();
	}
	sessionStorage.removeItem(TOKEN_KEY);
	resetPanels();
	status("");
	$("panels").hidden = true;
	$("signout").hidden = true;
	$("signin").hidden = false;
	$("signin-error").textContent = reason || "";
	$("token").value = "";
	setState("signin");
	$("token").focus();
}

function init() {
	$("signin").addEventListener("submit", (ev) => {
		ev.preventDefault();
		const token = $("token").value.trim();
		$("token").value = "";
		$("signin-error").textContent = "";
		if (token)
			signIn(token);
	});
	$("signout").addEventListener("click", () => signOut("Signed out."));
	$("map").addEventListener("pointermove", onPointer);
	$("map").addEventListener("pointerdown", onPointer);
	$("tree").addEventListener("click", onTreeClick);
	$("tree-up").addEventListener("click", () => {
		if (S && S.treeDir !== S.treeRoot)
			openDir(S, parentOf(S.treeDir)).catch((e) => report(S, e));
	});
	$("tree-more").addEventListener("click", () => {
		if (S)
			moreDir(S).catch((e) => report(S, e));
	});
	const token = sessionStorage.getItem(TOKEN_KEY);
	if (token)
		signIn(token);
	else
		signOut("");
}

init();
