--[[
Unit tests of slurm/burst_buffer.lua, outside Slurm: lua5.1
slurm/tests/test_burst_buffer.lua (make test-unit runs it). The directive's
parser, sizes, JSON both ways, the configuration, the state file, the
batches' ops, the command runner and the hooks that need no master.
Prints failures and a summary (-v: every test). Exit 0 when every test
passed, 1 otherwise.
--]]

local here = arg[0]:match("^(.*)/[^/]*$") or "."
assert(os.getenv("FAMFSD_BB_CONFIG") == nil,
	"unset FAMFSD_BB_CONFIG: the tests write their own configuration")
dofile(here .. "/../burst_buffer.lua")
local M = famfsd_bb
local logged = {}
M.log_sink = function(level, msg) logged[#logged + 1] = level .. ": " .. msg end

local tests, failed = {}, 0
local function test(name, fn) tests[#tests + 1] = { name, fn } end

local function fmt(v)
	if type(v) == "string" then
		return string.format("%q", v)
	end
	return tostring(v)
end

local function eq(got, want, what)
	if got ~= want then
		error(string.format("%s: got %s, want %s", what or "value", fmt(got), fmt(want)), 2)
	end
end

-- err must hold every one of the plain strings in `parts`.
local function has(err, parts, what)
	if type(err) ~= "string" then
		error(string.format("%s: no message (got %s)", what or "error", fmt(err)), 2)
	end
	for _, p in ipairs(parts) do
		if not err:find(p, 1, true) then
			error(string.format("%s: %s lacks %s", what or "error", fmt(err), fmt(p)), 2)
		end
	end
end

local function tmpdir()
	local p = io.popen("mktemp -d /tmp/famfsd-bb-test.XXXXXX")
	local d = p:read("*l")
	p:close()
	assert(d and d ~= "", "mktemp -d failed")
	return d
end

local function write(path, text)
	local f = assert(io.open(path, "w"))
	f:write(text)
	f:close()
end

local function ls(dir)
	local p = io.popen("ls -A " .. M.sh_quote(dir))
	local names = {}
	for l in p:lines() do
		names[#names + 1] = l
	end
	p:close()
	table.sort(names)
	return table.concat(names, " ")
end

------------------------------------------------------------------ sizes

test("sizes: Slurm's suffixes, 1024 and 1000", function()
	local cases = {
		{ "1", 1 }, { "4096", 4096 }, { "1K", 1024 }, { "1k", 1024 },
		{ "1KiB", 1024 }, { "1kib", 1024 }, { "1KB", 1000 }, { "1kb", 1000 },
		{ "3M", 3 * 2 ^ 20 }, { "3MiB", 3 * 2 ^ 20 }, { "3MB", 3e6 },
		{ "64G", 64 * 2 ^ 30 }, { "64GiB", 64 * 2 ^ 30 }, { "64GB", 64e9 },
		{ "2T", 2 * 2 ^ 40 }, { "2TB", 2e12 }, { "7P", 7 * 2 ^ 50 },
		{ "7PB", 7e15 }, { "8P", 2 ^ 53 }, { "007G", 7 * 2 ^ 30 },
	}
	for _, c in ipairs(cases) do
		eq(M.parse_size(c[1]), c[2], "parse_size(" .. c[1] .. ")")
	end
end)

test("sizes: bad ones are refused with the reason", function()
	local cases = {
		{ "0", "at least 1 byte" }, { "0G", "at least 1 byte" },
		{ "1.5G", "whole number" }, { "G", "whole number" }, { "", "whole number" },
		{ "-1", "whole number" }, { "10X", "unknown suffix 'X'" },
		{ "10GIBS", "unknown suffix" }, { "2N", "nodes" }, { "2nodes", "nodes" },
		{ "9P", "larger than 8 PiB" }, { "99999999999999999", "larger than 8 PiB" },
		{ "1 G", "whole number" },
	}
	for _, c in ipairs(cases) do
		local n, why = M.parse_size(c[1])
		eq(n, nil, "parse_size(" .. c[1] .. ")")
		has(why, { "'" .. c[1] .. "'", c[2] }, "parse_size(" .. c[1] .. ")")
	end
end)

test("sizes: file size is the capacity shared out, rounded up to the unit", function()
	local MiB, GiB = 2 ^ 20, 2 ^ 30
	eq(M.file_size(64 * GiB, 4, 2 * MiB), 16 * GiB, "64G/4")
	eq(M.file_size(10, 3, 2 * MiB), 2 * MiB, "10 B / 3")
	eq(M.file_size(5 * MiB, 2, 2 * MiB), 4 * MiB, "5M/2 -> 2.5M -> 4M")
	eq(M.file_size(4 * MiB + 1, 1, 2 * MiB), 6 * MiB, "one byte over")
	eq(M.human(16 * GiB), "16.0 GiB", "human")
	eq(M.human(512), "512 B", "human bytes")
end)

-------------------------------------------------------------- directive

local function script(...)
	return "#!/bin/bash\n" .. table.concat({ ... }, "\n") .. "\nsrun app\n"
end

test("directive: the README's request", function()
	local spec, why = M.parse_script(script("#SBATCH -N1",
		"#BB_LUA famfsd pool=famfsd capacity=64G files=4 stage_in=/data/in stage_out=%d/out",
		"#SBATCH -t 5"))
	assert(spec, why)
	eq(spec.capacity, 64 * 2 ^ 30, "capacity")
	eq(spec.files, 4, "files")
	eq(spec.stage_in, "/data/in", "stage_in")
	eq(spec.stage_out, "%d/out", "stage_out")
end)

test("directive: defaults, CRLF, spacing", function()
	local spec = assert(M.parse_script("#!/bin/sh\r\n#BB_LUA   famfsd  capacity=1M\tpool=famfsd\r\n"))
	eq(spec.files, 1, "default files")
	eq(spec.capacity, 2 ^ 20, "capacity")
	eq(spec.stage_in, nil, "no stage_in")
end)

test("directive: every bad option gets a clear refusal", function()
	local base = "#BB_LUA famfsd pool=famfsd "
	local cases = {
		{ base .. "capacity=1G color=red", { "unknown option 'color='" } },
		{ base .. "capacity=1G hurry", { "unknown option 'hurry'" } },
		{ base .. "capacity=lots", { "capacity=lots", "bad size" } },
		{ base .. "capacity=1G files=0", { "files=0", "from 1 to 1024" } },
		{ base .. "capacity=1G files=1025", { "files=1025", "from 1 to 1024" } },
		{ base .. "capacity=1G files=two", { "files=two" } },
		{ base .. "capacity=1G files=-3", { "files=-3" } },
		{ base .. "capacity=3 files=4", { "capacity=3 is smaller than files=4" } },
		{ base .. "capacity=1G stage_in=data", { "stage_in=data", "absolute" } },
		{ base .. "capacity=1G stage_out=./out", { "stage_out=./out", "absolute" } },
		{ base .. "capacity=1G stage_out=~/out", { "absolute" } },
		{ base .. "files=2", { "capacity= is required" } },
		{ "#BB_LUA famfsd capacity=1G", { "pool=famfsd is required" } },
		{ "#BB_LUA famfsd pool=scratch capacity=1G", { "pool=famfsd is required" } },
		{ base .. "capacity=1G capacity=2G", { "capacity= is given twice" } },
		{ base .. "capacity=", { "capacity= has no value" } },
		{ "#BB_LUA pool=famfsd capacity=1G", { "not a famfsd request" } },
		{ "#BB_LUA", { "not a famfsd request" } },
	}
	for _, c in ipairs(cases) do
		local spec, why = M.parse_script(script(c[1]))
		eq(spec, nil, c[1])
		has(why, c[2], c[1])
	end
end)

test("directive: one famfsd line, in the leading comments only", function()
	local spec, why = M.parse_script(script("#BB_LUA famfsd pool=famfsd capacity=1G",
		"#BB_LUA famfsd pool=famfsd capacity=2G"))
	eq(spec, nil, "two lines")
	has(why, { "a second '#BB_LUA famfsd' line" })
	-- Slurm stops at the first line that is not a comment; so does the parser.
	spec, why = M.parse_script("#!/bin/sh\necho hi\n#BB_LUA famfsd pool=famfsd capacity=1G\n")
	eq(spec, nil, "after a command")
	has(why, { "no '#BB_LUA famfsd' line" })
	spec, why = M.parse_script("#!/bin/sh\nsrun app\n")
	eq(spec, nil, "none")
	has(why, { "no '#BB_LUA famfsd' line" })
	-- Empty lines do not end the comments (Slurm's strtok skips them).
	assert(M.parse_script("#!/bin/sh\n\n\n#BB_LUA famfsd pool=famfsd capacity=1G\n"))
	-- A line ending in '\' goes on in the next directive line.
	spec = assert(M.parse_script("#!/bin/sh\n#BB_LUA famfsd pool=famfsd \\\n"
		.. "#BB_LUA capacity=2G\\\n#BB_LUA files=2\n"))
	eq(spec.capacity, 2 * 2 ^ 30, "continued capacity")
	eq(spec.files, 2, "continued twice")
	-- ... but not past another comment line.
	spec, why = M.parse_script("#!/bin/sh\n#BB_LUA famfsd pool=famfsd capacity=1G \\\n"
		.. "#SBATCH -N1\n#BB_LUA files=2\n")
	eq(spec, nil, "a new directive line")
	has(why, { "'#BB_LUA files=2' is not a famfsd request" })
	-- Another site directive is not ours.
	assert(M.parse_script("#!/bin/sh\n#BB_X famfsd pool=famfsd capacity=1G\n", "BB_X"))
end)

------------------------------------------------------------------- JSON

test("json: strings are escaped", function()
	eq(M.json_encode('a"b\\c'), '"a\\"b\\\\c"', "quote, backslash")
	eq(M.json_encode("l1\nl2\r\t\b\f"), '"l1\\nl2\\r\\t\\b\\f"', "named escapes")
	eq(M.json_encode("\1\31\127"), '"\\u0001\\u001f\\u007f"', "control characters, DEL too")
	eq(M.json_encode("caf\195\169 /x"), '"caf\195\169 /x"', "UTF-8 and slash as they are")
end)

test("json: numbers, arrays, objects in a fixed order", function()
	eq(M.json_encode(17179869184), "17179869184", "large integer exact")
	eq(M.json_encode(2 ^ 53), "9007199254740992", "2^53")
	eq(M.json_encode(0.5), "0.5", "fraction")
	eq(M.json_encode({}), "[]", "empty table")
	eq(M.json_encode({ 1, "x", true, false, M.null }), '[1,"x",true,false,null]', "array")
	eq(M.json_encode({ ops = { { path = "A", op = "mkdir", exist_ok = true } } }),
		'{"ops":[{"exist_ok":true,"op":"mkdir","path":"A"}]}', "sorted keys")
	local ok = pcall(M.json_encode, { 1, nil, 3, x = 1 })
	eq(ok, false, "mixed table refused")
	ok = pcall(M.json_encode, 0 / 0)
	eq(ok, false, "NaN refused")
end)

test("json: the reader takes famfsd's replies", function()
	local v = assert(M.json_decode([[
{
  "seq":8812,
  "results":[
    {"path":"/A/slurm","status":"exists","seq":0,"ino":17},
    {"path":"/A/slurm/job1200","status":"absent","seq":0}
  ],
  "fenced":null, "ok":true, "no":false, "neg":-1.5e3, "empty":{}, "none":[]
}]]))
	eq(v.seq, 8812, "seq")
	eq(#v.results, 2, "results")
	eq(v.results[1].path, "/A/slurm", "path")
	eq(v.results[2].status, "absent", "status")
	eq(v.fenced, M.null, "null")
	eq(v.ok, true, "true")
	eq(v.no, false, "false")
	eq(v.neg, -1500, "exponent")
	eq(next(v.empty), nil, "empty object")
	eq(#v.none, 0, "empty array")
end)

test("json: escapes read back, round trip", function()
	local v = assert(M.json_decode('"a\\"b\\\\c\\/d\\n\\u00e9\\u20ac\\ud83d\\ude00"'))
	eq(v, 'a"b\\c/d\n\195\169\226\130\172\240\159\152\128', "escapes")
	local doc = { ops = { { op = "create", path = 'T/slurm/job1/f"0\n', size = 2 ^ 34,
		tenant = "T", mode = 384 } } }
	local back = assert(M.json_decode(M.json_encode(doc)))
	eq(back.ops[1].path, doc.ops[1].path, "path")
	eq(back.ops[1].size, doc.ops[1].size, "size")
	eq(M.json_encode(back), M.json_encode(doc), "same text")
end)

test("json: broken documents are refused, not half read", function()
	local bad = {
		'{"seq":1', '{"seq":1,}', '[1,2', '"open', '{"a" 1}', 'famfsctl: error',
		'{"a":1} trailing', '', '   ', '{"a":tru}', '"\\x"', '"\\u12"', "\"tab\tin\"",
		'{1:2}', '[1 2]',
	}
	for _, s in ipairs(bad) do
		local v, why = M.json_decode(s)
		eq(v, nil, "decode " .. fmt(s))
		has(why, { "bad JSON" }, "decode " .. fmt(s))
	end
	local v, why = M.json_decode(nil)
	eq(v, nil, "nil")
	has(why, { "no JSON" })
end)

----------------------------------------------------------------- config

test("config: defaults without a file", function()
	local cfg = assert(M.load_config("/nonexistent/burst_buffer.conf"))
	eq(cfg.famfsctl, "/usr/local/bin/famfsctl", "famfsctl")
	eq(cfg.url, "http://127.0.0.1:7470", "url")
	eq(cfg.token_file, "/etc/famfsd/slurm.token", "token_file")
	eq(cfg.tenant, "account", "tenant")
	eq(cfg.mount, "/mnt/famfs", "mount")
	eq(cfg.state_dir, "/var/spool/famfsd-bb", "state_dir")
	eq(cfg.timeout, 30, "timeout")
end)

test("config: the example file is valid and shows the defaults", function()
	local cfg, why = M.load_config(here .. "/../burst_buffer.conf.example")
	assert(cfg, why)
	for k, spec in pairs(M.CONFIG_KEYS) do
		eq(tostring(cfg[k]), spec[1], "example's " .. k)
	end
	-- Every key is in the example, so the admin sees all of them.
	local text = M.read_file(here .. "/../burst_buffer.conf.example")
	for k in pairs(M.CONFIG_KEYS) do
		assert(text:find("\n#?" .. k .. " = "), "the example lacks " .. k)
	end
end)

test("config: a file's values, comments and trailing slashes", function()
	local d = tmpdir()
	write(d .. "/bb.conf", "# famfsd\n\n  url = http://10.0.0.1:7470,http://10.0.0.2:7470 \n"
		.. "tenant=user\nmount = /mnt/famfs/\nstate_dir = " .. d .. "/state//\ntimeout = 5\n"
		.. "\t# indented comment\n")
	local cfg = assert(M.load_config(d .. "/bb.conf"))
	eq(cfg.url, "http://10.0.0.1:7470,http://10.0.0.2:7470", "url")
	eq(cfg.tenant, "user", "tenant")
	eq(cfg.mount, "/mnt/famfs", "mount")
	eq(cfg.state_dir, d .. "/state", "state_dir")
	eq(cfg.timeout, 5, "timeout")
	os.execute("rm -rf " .. M.sh_quote(d))
end)

test("config: a bad line names the file, the line and the key", function()
	local d = tmpdir()
	local cases = {
		{ "tenant = group\n", { "line 1", "bad value 'group' for tenant", "'account' or 'user'" } },
		{ "# x\ncolour = red\n", { "line 2", "unknown key 'colour'" } },
		{ "timeout = 0\n", { "timeout", "from 1 to 3600" } },
		{ "timeout = 1.5\n", { "timeout" } },
		{ "mount = mnt\n", { "mount", "absolute" } },
		{ "url = 10.0.0.1:7470\n", { "url", "http://" } },
		{ "url =\n", { "no value for 'url'" } },
		{ "just words\n", { "want 'key = value'" } },
		{ "state_dir = /\n", { "may not be /" } },
	}
	for _, c in ipairs(cases) do
		write(d .. "/bb.conf", c[1])
		local cfg, why = M.load_config(d .. "/bb.conf")
		eq(cfg, nil, c[1])
		has(why, c[2], c[1])
		if not c[1]:find("^state_dir") then
			has(why, { d .. "/bb.conf" }, c[1])
		end
	end
	os.execute("rm -rf " .. M.sh_quote(d))
end)

------------------------------------------------------------------ state

local function test_cfg(d)
	write(d .. "/bb.conf", "state_dir = " .. d .. "\nmount = " .. d .. "/mnt\n"
		.. "url = http://127.0.0.1:1\nfamfsctl = /bin/false\ntimeout = 2\n")
	M.CONFIG_PATH = d .. "/bb.conf"
	return assert(M.load_config())
end

local function sample_state()
	return { version = 1, job_id = "42", tenant = "A", uid = 1000, gid = 100,
		dir = "A/slurm/job42", files = 3, capacity = 6 * 2 ^ 20, file_size = 2 ^ 21,
		phase = "ready", seq = 77, stage_out = "/home/a/out dir" }
end

test("state: written whole, read back, nothing left beside it", function()
	local d = tmpdir()
	local cfg = test_cfg(d)
	eq(M.read_state(cfg, "42"), nil, "no state yet")
	assert(M.write_state(cfg, sample_state()))
	local st = assert(M.read_state(cfg, "42"))
	eq(st.tenant, "A", "tenant")
	eq(st.files, 3, "files")
	eq(st.seq, 77, "seq")
	eq(st.stage_out, "/home/a/out dir", "stage_out")
	st.phase = "setup"
	assert(M.write_state(cfg, st))
	eq(M.read_state(cfg, "42").phase, "setup", "rewritten")
	eq(ls(d), "bb.conf job42.json", "no temporary files")
	os.execute("rm -rf " .. M.sh_quote(d))
end)

test("state: a damaged file is an error, an unwritable directory too", function()
	local d = tmpdir()
	local cfg = test_cfg(d)
	write(d .. "/job7.json", '{"tenant":"A",')
	local st, why = M.read_state(cfg, "7")
	eq(st, nil, "damaged")
	has(why, { "job7.json", "not a famfsd burst buffer state file" })
	cfg.state_dir = d .. "/missing"
	local ok
	ok, why = M.write_state(cfg, sample_state())
	eq(ok, nil, "no directory")
	has(why, { "cannot write the state file", d .. "/missing" })
	os.execute("rm -rf " .. M.sh_quote(d))
end)

------------------------------------------------------------------- ops

test("ops: setup makes mkdir -p, the directory and the files", function()
	local ops = M.setup_ops(sample_state())
	eq(#ops, 6, "3 mkdirs + 3 creates")
	eq(M.json_encode(ops[1]), '{"exist_ok":true,"op":"mkdir","path":"A"}', "tenant dir")
	eq(M.json_encode(ops[2]), '{"exist_ok":true,"op":"mkdir","path":"A/slurm"}', "slurm dir")
	eq(M.json_encode(ops[3]), '{"gid":100,"mode":448,"op":"mkdir","path":"A/slurm/job42","uid":1000}',
		"job dir 0700, no exist_ok (a different one is a conflict)")
	eq(M.json_encode(ops[6]), '{"gid":100,"mode":384,"op":"create","path":"A/slurm/job42/f2",'
		.. '"size":2097152,"tenant":"A","uid":1000}', "last file 0600, charged to A")
end)

test("ops: teardown deletes every entry, children first, then the directory", function()
	local ops = M.teardown_ops("A/slurm/job42", { "A/slurm/job42/f0", "A/slurm/job42/d/x",
		"A/slurm/job42/d" })
	eq(#ops, 4, "count")
	for _, o in ipairs(ops) do
		eq(o.op, "delete", "op")
		eq(o.missing_ok, true, "missing_ok")
	end
	eq(ops[2].path, "A/slurm/job42/d/x", "child before its directory")
	eq(ops[4].path, "A/slurm/job42", "the job's directory last")
end)

test("pools: JSON in allocation units, empty before any figure", function()
	local v = assert(M.json_decode(M.pools_json({ size = 10 * 2 ^ 21 + 5, free = 4 * 2 ^ 21 + 1,
		unit = 2 ^ 21 })))
	eq(v.pools[1].id, "famfsd", "id")
	eq(v.pools[1].granularity, 2 ^ 21, "granularity")
	eq(v.pools[1].quantity, 10, "quantity")
	eq(v.pools[1].free, 4, "free")
	v = assert(M.json_decode(M.pools_json(nil)))
	eq(v.pools[1].quantity, 0, "no figures: empty")
	eq(v.pools[1].granularity, 1, "granularity 1")
end)

test("tenant: famfsd's name rules", function()
	eq(M.tenant_error("proj-a_1.x"), nil, "valid")
	has(M.tenant_error("a b"), { "A-Z a-z 0-9 . _ -" })
	has(M.tenant_error("a/b"), { "A-Z" })
	has(M.tenant_error(".hidden"), { "start with '.'" })
	has(M.tenant_error(string.rep("x", 64)), { "63 bytes" })
	has(M.tenant_error(""), { "empty" })
	local line = "JobId=12 JobName=x UserId=alice(1000) GroupId=users(100) MCS_label=N/A "
		.. "Priority=1 Nice=0 Account=proj-a QOS=normal"
	eq(M.scontrol_field(line, "Account"), "proj-a", "Account")
	eq(M.scontrol_field(line, "UserId"), "alice(1000)", "UserId")
	eq(M.scontrol_field(line, "JobId"), "12", "first field")
	eq(M.scontrol_field(line, "Id"), nil, "no partial key match")
end)

test("sweep: which sets Slurm lost", function()
	local burst = "Name=lua DefaultPool=(null) Granularity=1 TotalSpace=0\n"
		.. "  PoolName[0]=famfsd Granularity=2MiB TotalSpace=958MiB FreeSpace=954MiB\n"
		.. "  Allocated Buffers:\n"
		.. "    JobID=7 CreateTime=2026-12-02T00:15:37 Pool=famfsd Size=4MiB State=allocated "
		.. "UserID=nobody(65534)\n    JobID=12 CreateTime=x Pool=famfsd Size=2MiB\n"
		.. "  Per User Buffer Use:\n    UserID=nobody(65534) Used=6MiB\n"
	local allocs = M.parse_allocs(burst)
	eq(allocs["7"], true, "7")
	eq(allocs["12"], true, "12")
	eq(allocs["65534"], nil, "a user id is not a job")
	local now, st = 1000, { created = 500 }
	local function rec(state)
		return "JobId=9 JobName=a JobState=" .. state .. " Reason=None BurstBufferState=post-run\n"
	end
	eq(M.orphaned(st, rec("STAGE_OUT"), now), true, "stage-out Slurm will never run")
	eq(M.orphaned(st, rec("COMPLETED"), now), true, "completed")
	eq(M.orphaned(st, rec("CANCELLED"), now), true, "cancelled")
	eq(M.orphaned(st, rec("PENDING"), now), false, "pending: Slurm sets it up again")
	eq(M.orphaned(st, rec("RUNNING"), now), false, "running")
	eq(M.orphaned(st, nil, now), true, "purged from slurmctld")
	eq(M.orphaned({ created = 990 }, nil, now), false, "made a moment ago")
end)

test("pre_run: the agents of the job's nodes, else every live one", function()
	local agents = {
		{ host = "n1.cluster", state = "live" }, { host = "n2", state = "live" },
		{ host = "n3", state = "stale" }, { host = "login", state = "live" },
	}
	local function hosts(list)
		local out = {}
		for _, a in ipairs(list) do
			out[#out + 1] = a.host
		end
		return table.concat(out, " ")
	end
	eq(hosts(M.agents_to_wait(agents, { "n1", "n2" })), "n1.cluster n2", "by short name")
	eq(hosts(M.agents_to_wait(agents, { "n2", "n3" })), "n2", "a stale agent is not waited for")
	eq(hosts(M.agents_to_wait(agents, { "other" })), "n1.cluster n2 login", "no match: all live")
	eq(hosts(M.agents_to_wait(agents, nil)), "n1.cluster n2 login", "no nodes known")
	eq(hosts(M.agents_to_wait({}, { "n1" })), "", "none")
end)

------------------------------------------------------------ the runner

test("run: output, stderr and exit status of a real process", function()
	local r = M.run({ "sh", "-c", "printf 'out\\n'; echo 'the reason' >&2; exit 3" }, 5)
	eq(r.rc, 3, "rc")
	eq(r.out, "out\n", "stdout")
	eq(r.err, "the reason\n", "stderr")
	r = M.run({ "printf", "%s|", "it's", "a b", "$HOME", "`x`", "\\n" }, 5)
	eq(r.rc, 0, "rc")
	eq(r.out, "it's|a b|$HOME|`x`|\\n|", "words reach the command as they are")
	r = M.run({ "printf", "no newline" }, 5)
	eq(r.out, "no newline", "output without a newline")
end)

test("run: a command past its time is stopped", function()
	local t0 = os.time()
	local r = M.run({ "sleep", "30" }, 0.3)
	eq(r.rc, 124, "timeout's status")
	assert(os.time() - t0 <= 3, "stopped at once")
	r = M.run({ "/nonexistent/famfsctl" }, 5)
	eq(r.rc, 127, "missing command")
end)

test("famfsctl: a missing or failing client gives a message, not a crash", function()
	local d = tmpdir()
	local cfg = test_cfg(d)
	cfg.famfsctl = "/nonexistent/famfsctl"
	local reply, why, rc = M.famfsctl(cfg, { "status" }, 2)
	eq(reply, nil, "no reply")
	eq(rc, 127, "rc")
	has(why, { "cannot run /nonexistent/famfsctl" })
	-- A client that prints famfsd's problem line, as famfsctl does.
	write(d .. "/ctl", "#!/bin/sh\necho 'famfsctl batch: Quota exceeded (507 quota-exceeded): "
		.. "ops[3] (create /A/slurm/job1/f3): tenant A would use 9 bytes' >&2\n"
		.. "echo 'famfsctl batch: refused at ops[3] (/A/slurm/job1/f3); nothing was written' >&2\n"
		.. "exit 1\n")
	os.execute("chmod +x " .. M.sh_quote(d .. "/ctl"))
	cfg.famfsctl = d .. "/ctl"
	reply, why, rc = M.famfsctl(cfg, { "batch", "/dev/null" }, 2)
	eq(rc, 1, "refused")
	eq(why, "Quota exceeded (507 quota-exceeded): ops[3] (create /A/slurm/job1/f3): tenant A "
		.. "would use 9 bytes; refused at ops[3] (/A/slurm/job1/f3); nothing was written",
		"the master's reason and the op, without famfsctl's prefix")
	eq(M.stderr_message(string.rep("x", 2000)):len(), 1000, "bounded")
	eq(M.stderr_message("\n  \n"), nil, "nothing said")
	write(d .. "/ctl", "#!/bin/sh\necho 'not json'\n")
	reply, why = M.famfsctl(cfg, { "status" }, 2)
	eq(reply, nil, "garbage")
	has(why, { "famfsctl status: the reply is not JSON" })
	write(d .. "/ctl", "#!/bin/sh\nsleep 20\n")
	reply, why, rc = M.famfsctl(cfg, { "status" }, 0.3)
	eq(rc, 124, "timed out")
	has(why, { "no answer from the master (http://127.0.0.1:1) within 0.3 s" })
	-- One that ignores SIGTERM is killed 0.2 s later.
	write(d .. "/ctl", "#!/bin/sh\ntrap '' TERM\nsleep 5 & wait; sleep 5 & wait\n")
	local t0 = os.time()
	reply, why, rc = M.famfsctl(cfg, { "status" }, 0.3)
	eq(rc, 137, "killed")
	has(why, { "no answer from the master" })
	assert(os.time() - t0 <= 2, "killed at once")
	os.execute("rm -rf " .. M.sh_quote(d))
end)

-------------------------------------------------------------- the hooks

test("hooks: job_process accepts and refuses at sbatch time", function()
	local d = tmpdir()
	test_cfg(d)
	write(d .. "/good", script("#BB_LUA famfsd pool=famfsd capacity=4G files=2"))
	local rc, msg = slurm_bb_job_process(d .. "/good")
	eq(rc, M.SUCCESS, "accepted")
	eq(msg, nil, "no message")
	write(d .. "/bad", script("#BB_LUA famfsd pool=famfsd capacity=4Q"))
	rc, msg = slurm_bb_job_process(d .. "/bad")
	eq(rc, M.ERROR, "refused")
	has(msg, { "famfsd: capacity=4Q", "unknown suffix 'Q'" })
	rc, msg = slurm_bb_job_process(d .. "/missing")
	eq(rc, M.ERROR, "no script")
	has(msg, { "cannot read the job script" })
	-- Another Directive= in Slurm's burst_buffer.conf, told in ours.
	write(d .. "/site", script("#BB_SITE famfsd pool=famfsd capacity=4G"))
	rc, msg = slurm_bb_job_process(d .. "/site")
	eq(rc, M.ERROR, "not the default directive")
	has(msg, { "no '#BB_LUA famfsd' line" })
	write(d .. "/bb.conf", M.read_file(d .. "/bb.conf") .. "directive = BB_SITE\n")
	eq(slurm_bb_job_process(d .. "/site"), M.SUCCESS, "the configured one")
	write(d .. "/bb.conf", "directive = #BB\n")
	rc, msg = slurm_bb_job_process(d .. "/site")
	eq(rc, M.ERROR, "bad config")
	has(msg, { "bad configuration", "directive" })
	os.execute("rm -rf " .. M.sh_quote(d))
end)

test("hooks: paths gives the job its environment from the state file", function()
	local d = tmpdir()
	local cfg = test_cfg(d)
	local rc, msg = slurm_bb_paths("42", d .. "/script", d .. "/path")
	eq(rc, M.ERROR, "no state")
	has(msg, { "no state for the job", d })
	local st = sample_state()
	st.phase = "setup"
	assert(M.write_state(cfg, st))
	rc, msg = slurm_bb_paths("42", d .. "/script", d .. "/path")
	eq(rc, M.ERROR, "setup unfinished")
	has(msg, { "setup did not finish" })
	st.phase = "ready"
	assert(M.write_state(cfg, st))
	rc = slurm_bb_paths("42", d .. "/script", d .. "/path")
	eq(rc, M.SUCCESS, "ready")
	local dir = d .. "/mnt/A/slurm/job42"
	eq(M.read_file(d .. "/path"), "FAMFSD_DIR=" .. dir .. "\nFAMFSD_FILES=" .. dir .. "/f0:"
		.. dir .. "/f1:" .. dir .. "/f2\nFAMFSD_TENANT=A\n", "path file")
	local size
	rc, size = slurm_bb_real_size("42")
	eq(size, tostring(3 * 2 ^ 21), "real size: 3 files of 2 MiB")
	os.execute("rm -rf " .. M.sh_quote(d))
end)

test("hooks: pools answers from a fresh cache without any call", function()
	local d = tmpdir()
	local cfg = test_cfg(d)
	-- famfsctl is /bin/false: a call would fail and record its error.
	write(M.pools_path(cfg), M.json_encode({ at = os.time(), tried_at = os.time(),
		size = 8 * 2 ^ 21, free = 3 * 2 ^ 21, unit = 2 ^ 21 }))
	local rc, json = slurm_bb_pools()
	eq(rc, M.SUCCESS, "rc")
	local v = assert(M.json_decode(json))
	eq(v.pools[1].quantity, 8, "quantity")
	eq(v.pools[1].free, 3, "free")
	eq(M.json_decode(M.read_file(M.pools_path(cfg))).error, nil, "no call was made")
end)

test("hooks: a stale cache is refreshed, a failure keeps the old figure", function()
	local d = tmpdir()
	local cfg = test_cfg(d)
	write(M.pools_path(cfg), M.json_encode({ at = 1, tried_at = 1, size = 8 * 2 ^ 21,
		free = 3 * 2 ^ 21, unit = 2 ^ 21 }))
	local t0 = os.time()
	local rc, json = slurm_bb_pools()
	assert(os.time() - t0 <= 2, "bounded")
	eq(rc, M.SUCCESS, "rc")
	eq(assert(M.json_decode(json)).pools[1].free, 3, "old figure kept")
	local cache = M.json_decode(M.read_file(M.pools_path(cfg)))
	assert(cache.tried_at >= t0, "the attempt is recorded")
	has(cache.error, { "famfsctl status" }, "the failure is recorded")
	-- A fake status, through a real process: the figures are taken.
	write(d .. "/ctl", "#!/bin/sh\necho '{\"size_bytes\":41943040,\"free_bytes\":20971520,"
		.. "\"alloc_unit\":2097152,\"role\":\"active\"}'\n")
	os.execute("chmod +x " .. M.sh_quote(d .. "/ctl"))
	write(d .. "/bb.conf", M.read_file(d .. "/bb.conf"):gsub("/bin/false", d .. "/ctl"))
	cache.tried_at = 1
	write(M.pools_path(cfg), M.json_encode(cache))
	rc, json = slurm_bb_pools()
	local v = assert(M.json_decode(json))
	eq(v.pools[1].quantity, 20, "new quantity")
	eq(v.pools[1].free, 10, "new free")
	os.execute("rm -rf " .. M.sh_quote(d))
end)

test("hooks: get_status lists the jobs' sets", function()
	local d = tmpdir()
	local cfg = test_cfg(d)
	assert(M.write_state(cfg, sample_state()))
	local st = sample_state()
	st.job_id, st.dir, st.tenant = "7", "B/slurm/job7", "B"
	assert(M.write_state(cfg, st))
	local rc, text = slurm_bb_get_status("jobs")
	eq(rc, M.SUCCESS, "rc")
	has(text, { "2 job sets", "JOBID", "B/slurm/job7", "A/slurm/job42", "2.0 MiB" })
	assert(text:find("job7", 1, true) < text:find("job42", 1, true), "by job id")
	assert(not text:find("pool famfsd", 1, true), "jobs only")
	rc, text = slurm_bb_get_status()
	has(text, { "pool famfsd: the master (http://127.0.0.1:1) did not answer", "2 job sets" })
	rc, text = slurm_bb_get_status("pool")
	has(text, { "pool famfsd: the master (http://127.0.0.1:1) did not answer" })
	assert(not text:find("job set", 1, true), "pool only")
	-- Later Slurms pass the caller's uid and gid first.
	rc, text = slurm_bb_get_status("1000", "100", "jobs")
	has(text, { "2 job sets" })
	assert(not text:find("pool famfsd", 1, true), "uid, gid, jobs: jobs only")
	rc, text = slurm_bb_get_status("bogus")
	has(text, { "usage: scontrol show bbstat [pool|jobs]" })
	os.execute("rm -rf " .. M.sh_quote(d))
end)

test("hooks: a bad configuration fails the slow hooks with its reason", function()
	local d = tmpdir()
	write(d .. "/bb.conf", "tenant = everyone\n")
	M.CONFIG_PATH = d .. "/bb.conf"
	local rc, msg = slurm_bb_setup("5", "1000", "100", "famfsd", "1024", d .. "/script")
	eq(rc, M.ERROR, "refused")
	has(msg, { "famfsd: bad configuration", "bb.conf line 1", "tenant" })
	rc, msg = slurm_bb_pools()
	eq(rc, M.SUCCESS, "pools still reported")
	eq(assert(M.json_decode(msg)).pools[1].id, "famfsd", "pool id")
	os.execute("rm -rf " .. M.sh_quote(d))
end)

for _, t in ipairs(tests) do
	local ok, err = pcall(t[2])
	if ok then
		if arg[1] == "-v" then
			print("ok   " .. t[1])
		end
	else
		failed = failed + 1
		print("FAIL " .. t[1] .. "\n     " .. tostring(err))
	end
end
print(string.format("lua (burst_buffer.lua): %d passed, %d failed", #tests - failed, failed))
os.exit(failed == 0 and 0 or 1)
