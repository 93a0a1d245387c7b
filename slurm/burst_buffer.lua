--[[
famfsd burst buffer for Slurm's burst_buffer/lua plugin (Slurm 22.05).

A batch script line

    #BB_LUA famfsd pool=famfsd capacity=64G files=4

gets the job a directory of four files in the famfsd pool, made at setup
under the job's tenant and deleted at teardown (slurm/README.md is the
admin's guide and the interface; docs/batch.md the API used).

How it is run, and what follows from it:
- Slurm loads this file afresh for every call, in a new Lua state: nothing
  survives between calls except files. A job's facts live in its state file
  (STATE_DIR/job<ID>.json), the pool's figures in STATE_DIR/pools.json.
- slurm_bb_job_process, slurm_bb_pools and slurm_bb_paths run inside
  slurmctld while it holds locks, and cannot be killed: they read files and
  never call the network, except that pools refreshes a stale cache with
  one call bounded by 500 ms.
- The other hooks run in a process of slurmscriptd that Slurm kills after
  its timeout; each of their calls is bounded by the config's `timeout`.
- Every famfsd call goes through famfsctl (--json, --url, --token-file),
  under coreutils `timeout`, so a hung master cannot hang a hook.
- Every call that writes is idempotent (docs/batch.md), so a hook killed by
  a slurmctld restart and run again succeeds.

Only Lua 5.1 and its standard libraries are used: slurmctld has nothing
else. The helpers are in the table `famfsd_bb` so that
slurm/tests/test_burst_buffer.lua can test them outside Slurm.
--]]

local M = {}
famfsd_bb = M

-- Outside slurmctld (the unit tests) there is no `slurm` table.
local slurm = slurm or { SUCCESS = 0, ERROR = -1 }
M.SUCCESS, M.ERROR = slurm.SUCCESS, slurm.ERROR

M.POOL = "famfsd"
M.MAX_FILES = 1024
-- Lua 5.1 numbers are doubles: integers are exact up to 2^53 (8 PiB).
M.MAX_BYTES = 2 ^ 53
-- The pools hook may wait this long for the master, no more.
M.POOLS_REFRESH_SECONDS = 0.5
-- A pools cache older than this is refreshed (Slurm asks every 30 s).
M.POOLS_STALE_SECONDS = 20

local function log(level, fmt, ...)
	local msg = "famfsd burst buffer: " .. string.format(fmt, ...)
	local f = slurm["log_" .. level]
	if f then
		-- A message is data, never a format (it may hold a '%').
		f("%s", msg)
	elseif M.log_sink then
		M.log_sink(level, msg)
	end
end
M.log = log

local function trim(s)
	return (s:gsub("^%s+", ""):gsub("%s+$", ""))
end

-- One word for /bin/sh, whatever bytes it holds.
local function sh_quote(s)
	return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
M.sh_quote = sh_quote

local function int(n)
	return string.format("%.0f", n)
end

-- "1 file", "4 files".
local function files_text(n)
	return int(n) .. (n == 1 and " file" or " files")
end

---------------------------------------------------------------- sizes --

-- Slurm's burst buffer suffixes (src/common suffix_mult): K/KiB .. P/PiB
-- are powers of 1024, KB .. PB powers of 1000, case-insensitive.
local SUFFIX = { [""] = 1 }
do
	local names = { "k", "m", "g", "t", "p" }
	for i, n in ipairs(names) do
		SUFFIX[n] = 1024 ^ i
		SUFFIX[n .. "ib"] = 1024 ^ i
		SUFFIX[n .. "b"] = 1000 ^ i
	end
end

-- Bytes for a size such as 64G, 500MB, 4096; nil and the reason if bad.
-- Slurm itself reads "1.5G" as 1 and an unknown suffix as bytes: both are
-- refused here, so the job's request is what its user meant.
function M.parse_size(s)
	local digits, suffix = tostring(s):match("^(%d+)(%a*)$")
	if not digits then
		return nil, string.format("bad size '%s': want a whole number with "
			.. "an optional suffix (K, M, G, T, P or KiB .. PiB: powers of "
			.. "1024; KB .. PB: powers of 1000)", tostring(s))
	end
	local lower = suffix:lower()
	if lower == "n" or lower == "node" or lower == "nodes" then
		return nil, string.format("bad size '%s': a size in nodes means "
			.. "nothing for famfsd; give bytes", s)
	end
	local mult = SUFFIX[lower]
	if not mult then
		return nil, string.format("bad size '%s': unknown suffix '%s' (K, M, "
			.. "G, T, P, KiB .. PiB, KB .. PB)", s, suffix)
	end
	local n = tonumber(digits)
	if #digits > 16 or n * mult > M.MAX_BYTES then
		return nil, string.format("bad size '%s': larger than 8 PiB", s)
	end
	if n == 0 then
		return nil, string.format("bad size '%s': must be at least 1 byte", s)
	end
	return n * mult
end

-- "64.0 GiB" for people; exact bytes stay in the JSON.
function M.human(n)
	local units = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" }
	local i = 1
	while n >= 1024 and i < #units do
		n = n / 1024
		i = i + 1
	end
	if i == 1 then
		return int(n) .. " B"
	end
	return string.format("%.1f %s", n, units[i])
end

function M.round_up(n, unit)
	return math.ceil(n / unit) * unit
end

----------------------------------------------------------------- JSON --

local ESC = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b",
	["\f"] = "\\f", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }

local function encode_string(s)
	return '"' .. s:gsub('[%c"\\]', function(c)
		return ESC[c] or string.format("\\u%04x", c:byte())
	end) .. '"'
end

-- A table is an array when it is empty or has keys 1..n only; object keys
-- are written sorted, so a body is the same for the same request.
local function is_array(t)
	local n = 0
	for _ in pairs(t) do
		n = n + 1
	end
	for i = 1, n do
		if t[i] == nil then
			return false
		end
	end
	return true
end

local function encode(v, out)
	local t = type(v)
	if t == "string" then
		out[#out + 1] = encode_string(v)
	elseif t == "number" then
		if v ~= v or v == math.huge or v == -math.huge then
			error("JSON has no NaN or infinity")
		end
		if v == math.floor(v) and math.abs(v) <= M.MAX_BYTES then
			out[#out + 1] = int(v)
		else
			out[#out + 1] = string.format("%.17g", v)
		end
	elseif t == "boolean" then
		out[#out + 1] = tostring(v)
	elseif v == M.null then
		out[#out + 1] = "null"
	elseif t == "table" then
		if is_array(v) then
			out[#out + 1] = "["
			for i, x in ipairs(v) do
				if i > 1 then
					out[#out + 1] = ","
				end
				encode(x, out)
			end
			out[#out + 1] = "]"
		else
			local keys = {}
			for k in pairs(v) do
				if type(k) ~= "string" then
					error("JSON object keys are strings")
				end
				keys[#keys + 1] = k
			end
			table.sort(keys)
			out[#out + 1] = "{"
			for i, k in ipairs(keys) do
				if i > 1 then
					out[#out + 1] = ","
				end
				out[#out + 1] = encode_string(k)
				out[#out + 1] = ":"
				encode(v[k], out)
			end
			out[#out + 1] = "}"
		end
	else
		error("cannot write a " .. t .. " as JSON")
	end
end

-- A sentinel for JSON null (nil cannot be kept in a table).
M.null = setmetatable({}, { __tostring = function() return "null" end })

function M.json_encode(v)
	local out = {}
	encode(v, out)
	return table.concat(out)
end

-- The reader: a whole document, strict enough to notice a truncated or
-- foreign reply (famfsctl printing an error instead of JSON).
local decode_value

local function skip(s, i)
	return s:find("[^ \t\r\n]", i) or #s + 1
end

local function decode_error(s, i, what)
	error({ json = string.format("%s at byte %d", what, i) })
end

local function utf8(cp)
	if cp < 0x80 then
		return string.char(cp)
	elseif cp < 0x800 then
		return string.char(0xc0 + math.floor(cp / 0x40), 0x80 + cp % 0x40)
	elseif cp < 0x10000 then
		return string.char(0xe0 + math.floor(cp / 0x1000),
			0x80 + math.floor(cp / 0x40) % 0x40, 0x80 + cp % 0x40)
	end
	return string.char(0xf0 + math.floor(cp / 0x40000),
		0x80 + math.floor(cp / 0x1000) % 0x40,
		0x80 + math.floor(cp / 0x40) % 0x40, 0x80 + cp % 0x40)
end

local UNESC = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b",
	f = "\f", n = "\n", r = "\r", t = "\t" }

local function decode_string(s, i)
	-- s:sub(i, i) is the opening quote.
	local out, j = {}, i + 1
	while true do
		local k = s:find('["\\%c]', j)
		if not k then
			decode_error(s, i, "unterminated string")
		end
		out[#out + 1] = s:sub(j, k - 1)
		local c = s:sub(k, k)
		if c == '"' then
			return table.concat(out), k + 1
		elseif c ~= "\\" then
			decode_error(s, k, "control character in a string")
		end
		local e = s:sub(k + 1, k + 1)
		if UNESC[e] then
			out[#out + 1] = UNESC[e]
			j = k + 2
		elseif e == "u" then
			local hex = s:match("^%x%x%x%x", k + 2)
			if not hex then
				decode_error(s, k, "bad \\u escape")
			end
			local cp = tonumber(hex, 16)
			j = k + 6
			-- A surrogate pair is one code point.
			if cp >= 0xd800 and cp < 0xdc00 then
				local lo = s:match("^\\u(%x%x%x%x)", j)
				lo = lo and tonumber(lo, 16)
				if lo and lo >= 0xdc00 and lo < 0xe000 then
					cp = 0x10000 + (cp - 0xd800) * 0x400 + (lo - 0xdc00)
					j = j + 6
				end
			end
			out[#out + 1] = utf8(cp)
		else
			decode_error(s, k, "bad escape")
		end
	end
end

function decode_value(s, i)
	i = skip(s, i)
	local c = s:sub(i, i)
	if c == "{" then
		local obj = {}
		i = skip(s, i + 1)
		if s:sub(i, i) == "}" then
			return obj, i + 1
		end
		while true do
			if s:sub(i, i) ~= '"' then
				decode_error(s, i, "expected a key")
			end
			local k
			k, i = decode_string(s, i)
			i = skip(s, i)
			if s:sub(i, i) ~= ":" then
				decode_error(s, i, "expected ':'")
			end
			obj[k], i = decode_value(s, i + 1)
			i = skip(s, i)
			c = s:sub(i, i)
			if c == "}" then
				return obj, i + 1
			elseif c ~= "," then
				decode_error(s, i, "expected ',' or '}'")
			end
			i = skip(s, i + 1)
		end
	elseif c == "[" then
		local arr = {}
		i = skip(s, i + 1)
		if s:sub(i, i) == "]" then
			return arr, i + 1
		end
		while true do
			arr[#arr + 1], i = decode_value(s, i)
			i = skip(s, i)
			c = s:sub(i, i)
			if c == "]" then
				return arr, i + 1
			elseif c ~= "," then
				decode_error(s, i, "expected ',' or ']'")
			end
			i = i + 1
		end
	elseif c == '"' then
		return decode_string(s, i)
	elseif s:find("^true", i) then
		return true, i + 4
	elseif s:find("^false", i) then
		return false, i + 5
	elseif s:find("^null", i) then
		return M.null, i + 4
	end
	local num = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", i)
	if num and tonumber(num) then
		return tonumber(num), i + #num
	end
	decode_error(s, i, c == "" and "unexpected end" or "unexpected '" .. c .. "'")
end

-- The value of a JSON document, or nil and why.
function M.json_decode(s)
	if type(s) ~= "string" then
		return nil, "no JSON text"
	end
	local ok, v, i = pcall(decode_value, s, 1)
	if not ok then
		if type(v) == "table" and v.json then
			return nil, "bad JSON: " .. v.json
		end
		error(v, 0)
	end
	if skip(s, i) <= #s then
		return nil, string.format("bad JSON: text after the value at byte %d", i)
	end
	return v
end

--------------------------------------------------------------- config --

M.CONFIG_PATH = "/etc/famfsd/burst_buffer.conf"

-- One table: each key's default and its check (slurm/README.md lists them).
local function absolute(v)
	if v:sub(1, 1) ~= "/" then
		return "want an absolute path"
	end
end

local function seconds(lo, hi)
	return function(v)
		local n = tonumber(v)
		if not v:match("^%d+$") or n < lo or n > hi then
			return string.format("want whole seconds from %d to %d", lo, hi)
		end
	end
end

M.CONFIG_KEYS = {
	famfsctl = { "/usr/local/bin/famfsctl", absolute },
	url = { "http://127.0.0.1:7470", function(v)
		if not v:match("^https?://[^%s]+$") then
			return "want http://HOST:PORT or https://..., comma-separated"
		end
	end },
	token_file = { "/etc/famfsd/slurm.token", absolute },
	tenant = { "account", function(v)
		if v ~= "account" and v ~= "user" then
			return "want 'account' or 'user'"
		end
	end },
	mount = { "/mnt/famfs", absolute },
	state_dir = { "/var/spool/famfsd-bb", absolute },
	timeout = { "30", seconds(1, 3600) },
	-- Slurm's burst_buffer.conf Directive= (the word after '#').
	directive = { "BB_LUA", function(v)
		if not v:match("^[%w_]+$") then
			return "want the word of Slurm's Directive= (letters, digits, _)"
		end
	end },
	-- Tests only: seconds setup or teardown waits, after writing the state
	-- file and before its batch, so a test can restart slurmctld there.
	test_delay_setup = { "0", seconds(0, 600) },
	test_delay_teardown = { "0", seconds(0, 600) },
}

-- The configuration as a table; nil and why when the file is bad. A file
-- that does not exist gives the defaults (its path is in cfg.path).
function M.load_config(path)
	path = path or os.getenv("FAMFSD_BB_CONFIG") or M.CONFIG_PATH
	local cfg = { path = path }
	for k, spec in pairs(M.CONFIG_KEYS) do
		cfg[k] = spec[1]
	end
	local f = io.open(path, "r")
	if f then
		local n = 0
		for line in f:lines() do
			n = n + 1
			line = trim(line)
			if line ~= "" and line:sub(1, 1) ~= "#" then
				local k, v = line:match("^([%w_]+)%s*=%s*(.-)$")
				local spec = k and M.CONFIG_KEYS[k]
				local why
				if not k then
					why = "want 'key = value'"
				elseif not spec then
					why = "unknown key '" .. k .. "'"
				elseif v == "" then
					why = "no value for '" .. k .. "'"
				else
					why = spec[2](v)
					why = why and string.format("bad value '%s' for %s: %s",
						v, k, why)
				end
				if why then
					f:close()
					return nil, string.format("%s line %d: %s", path, n, why)
				end
				cfg[k] = v
			end
		end
		f:close()
	end
	cfg.timeout = tonumber(cfg.timeout)
	cfg.test_delay_setup = tonumber(cfg.test_delay_setup)
	cfg.test_delay_teardown = tonumber(cfg.test_delay_teardown)
	cfg.mount = cfg.mount:gsub("/+$", "")
	cfg.state_dir = cfg.state_dir:gsub("/+$", "")
	if cfg.mount == "" or cfg.state_dir == "" then
		return nil, path .. ": mount and state_dir may not be /"
	end
	return cfg
end

------------------------------------------------------------ directive --

M.DIRECTIVE = "BB_LUA"

local OPTIONS = { pool = true, capacity = true, files = true,
	stage_in = true, stage_out = true }

-- A stage path is absolute; Slurm replaces %d (the job's working directory,
-- absolute) and the other symbols before the slow hooks read it.
local function stage_path_error(name, v)
	if v:sub(1, 1) ~= "/" and v:sub(1, 2) ~= "%d" then
		return string.format("%s=%s: the path must be absolute (start with / "
			.. "or %%d, the job's working directory)", name, v)
	end
	if v:find("%z") then
		return name .. ": the path holds a NUL byte"
	end
end

-- The options of one "famfsd" directive line (the words after the word
-- famfsd); the spec, or nil and the reason.
function M.parse_options(words)
	local opt = {}
	for _, w in ipairs(words) do
		local k, v = w:match("^([^=]+)=(.*)$")
		if not k then
			return nil, string.format("unknown option '%s' (options: pool=, "
				.. "capacity=, files=, stage_in=, stage_out=)", w)
		end
		if not OPTIONS[k] then
			return nil, string.format("unknown option '%s=' (options: pool=, "
				.. "capacity=, files=, stage_in=, stage_out=)", k)
		end
		if opt[k] then
			return nil, string.format("%s= is given twice", k)
		end
		if v == "" then
			return nil, string.format("%s= has no value", k)
		end
		opt[k] = v
	end
	local spec = { files = 1 }
	if not opt.capacity then
		return nil, "capacity= is required (e.g. capacity=64G)"
	end
	-- Slurm 22.05 itself refuses capacity= without pool= on the line.
	if opt.pool ~= M.POOL then
		return nil, string.format("pool=%s is required with capacity= "
			.. "(the only pool is %s)", M.POOL, M.POOL)
	end
	local why
	spec.capacity, why = M.parse_size(opt.capacity)
	if not spec.capacity then
		return nil, "capacity=" .. opt.capacity .. ": " .. why
	end
	if opt.files then
		local n = opt.files:match("^%d+$") and tonumber(opt.files)
		if not n or n < 1 or n > M.MAX_FILES then
			return nil, string.format("files=%s: want a whole number from 1 "
				.. "to %d", opt.files, M.MAX_FILES)
		end
		spec.files = n
	end
	if spec.capacity < spec.files then
		return nil, string.format("capacity=%s is smaller than files=%d: "
			.. "each file needs at least 1 byte", opt.capacity, spec.files)
	end
	for _, k in ipairs({ "stage_in", "stage_out" }) do
		if opt[k] then
			why = stage_path_error(k, opt[k])
			if why then
				return nil, why
			end
			spec[k] = opt[k]
		end
	end
	return spec
end

-- The famfsd request in a job script's text: the spec, or nil and the
-- reason. Like Slurm, only the script's leading comment lines count (the
-- first other line ends them; empty lines are skipped), and a directive
-- line ending in '\' goes on in the next directive line.
function M.parse_script(text, directive)
	local mark = "#" .. (directive or M.DIRECTIVE)
	local requests, cont = {}, false
	for line in (text .. "\n"):gmatch("([^\n]*)\n") do
		line = line:gsub("\r$", "")
		if line ~= "" then
			if line:sub(1, 1) ~= "#" then
				break
			end
			if line:sub(1, #mark) == mark then
				local rest = line:sub(#mark + 1)
				local more = rest:sub(-1) == "\\"
				if more then
					rest = rest:sub(1, -2)
				end
				if not cont then
					requests[#requests + 1] = { line = line, words = {} }
				end
				local words = requests[#requests].words
				for w in rest:gmatch("%S+") do
					words[#words + 1] = w
				end
				cont = more
			else
				cont = false
			end
		end
	end
	if #requests == 0 then
		return nil, "no '" .. mark .. " famfsd' line in the job script"
	end
	for _, r in ipairs(requests) do
		if r.words[1] ~= "famfsd" then
			return nil, string.format("'%s' is not a famfsd request: write '%s "
				.. "famfsd pool=%s capacity=SIZE ...'", r.line, mark, M.POOL)
		end
	end
	if #requests > 1 then
		return nil, "a second '" .. mark .. " famfsd' line: a job has one set of files"
	end
	table.remove(requests[1].words, 1)
	return M.parse_options(requests[1].words)
end

local function read_file(path)
	local f, err = io.open(path, "rb")
	if not f then
		return nil, err
	end
	local s = f:read("*a")
	f:close()
	return s
end
M.read_file = read_file

function M.script_spec(cfg, job_script)
	local text, err = read_file(job_script)
	if not text then
		return nil, "cannot read the job script: " .. tostring(err)
	end
	return M.parse_script(text, cfg.directive)
end

------------------------------------------------------------- commands --

local EXIT_MARK = "famfsd_bb_exit="

-- prefix.XXXXXX, unique on this host (the basename of an mkstemp name), for
-- a temporary file renamed into place.
local function unique(prefix)
	local t = os.tmpname()
	os.remove(t)
	return prefix .. "." .. t:match("([^/]+)$")
end

-- Runs argv (a list of words, quoted here) under `timeout`, with stdin from
-- /dev/null. Returns {rc, out, err}; rc 124 (137 once killed) means the time
-- ran out, 127 that it could not run. stderr goes through a temporary file:
-- Lua 5.1's popen gives one stream and no exit status, so the status is
-- echoed after the output.
function M.run(argv, secs)
	local words = {}
	for i, w in ipairs(argv) do
		words[i] = sh_quote(w)
	end
	local errf = os.tmpname()
	-- SIGTERM at secs, SIGKILL soon after: a short call stays short.
	local cmd = string.format("timeout -k %s %s %s </dev/null 2>%s; echo %s$?",
		secs < 2 and "0.2" or "1", tostring(secs), table.concat(words, " "),
		sh_quote(errf), EXIT_MARK)
	local p, perr = io.popen(cmd, "r")
	if not p then
		os.remove(errf)
		return { rc = 127, out = "", err = "cannot start a shell: " .. tostring(perr) }
	end
	local all = p:read("*a") or ""
	p:close()
	local err = read_file(errf) or ""
	os.remove(errf)
	local out, rc = all:match("^(.*)" .. EXIT_MARK .. "(%d+)%s*$")
	if not rc then
		return { rc = 127, out = all, err = err }
	end
	return { rc = tonumber(rc), out = out, err = err }
end

-- The last line of a command's stderr that says something.
local function last_line(s)
	local last
	for l in s:gmatch("[^\n]+") do
		if trim(l) ~= "" then
			last = trim(l)
		end
	end
	return last
end

-- famfsctl's stderr as one line for a job's reason: its lines without the
-- "famfsctl CMD: " prefix, joined ("Quota exceeded (507 quota-exceeded):
-- ops[3] ...: tenant A would use ...; refused at ops[3] (...); nothing was
-- written"), at most 1000 bytes.
function M.stderr_message(err)
	local parts = {}
	for l in err:gmatch("[^\n]+") do
		l = trim(l):gsub("^famfsctl[%w ]*: ", "")
		if l ~= "" then
			parts[#parts + 1] = l
		end
	end
	if #parts == 0 then
		return nil
	end
	local msg = table.concat(parts, "; ")
	if #msg > 1000 then
		msg = msg:sub(1, 997) .. "..."
	end
	return msg
end

-- famfsctl ARGS against the masters: its JSON reply, or nil, a message for
-- the job's reason, and famfsctl's exit code (0 done, 1 refused, 8 no
-- answer, 16 usage; 124 or 137: stopped at the time limit).
function M.famfsctl(cfg, args, secs)
	local argv = { cfg.famfsctl }
	for _, a in ipairs(args) do
		argv[#argv + 1] = a
	end
	for _, a in ipairs({ "--json", "--url", cfg.url, "--token-file", cfg.token_file }) do
		argv[#argv + 1] = a
	end
	local r = M.run(argv, secs or cfg.timeout)
	if r.rc == 0 then
		local reply, why = M.json_decode(r.out)
		if reply == nil then
			return nil, string.format("famfsctl %s: the reply is not JSON (%s)",
				args[1], why), r.rc
		end
		return reply, nil, 0
	end
	local msg
	if r.rc == 124 or r.rc == 137 then
		msg = string.format("famfsctl %s: no answer from the master (%s) within %s s",
			args[1], cfg.url, tostring(secs or cfg.timeout))
	else
		-- A problem printed as JSON has its detail; else famfsctl's own
		-- line, "famfsctl CMD: Title (STATUS type): detail".
		local doc = M.json_decode(r.out)
		if type(doc) == "table" and type(doc.detail) == "string" then
			msg = string.format("%s (%s %s): %s", tostring(doc.title),
				tostring(doc.status), tostring(doc.type):match("[^/]*$"), doc.detail)
		else
			msg = M.stderr_message(r.err) or string.format("famfsctl %s exited %d",
				args[1], r.rc)
		end
		if r.rc == 126 or r.rc == 127 then
			msg = string.format("cannot run %s: %s", cfg.famfsctl, msg)
		end
	end
	return nil, msg, r.rc
end

local function sleep(secs)
	os.execute("sleep " .. tostring(secs))
end

--------------------------------------------------------------- state --

-- Writes path whole or not at all: a temporary file beside it, renamed.
function M.write_atomic(path, text)
	local tmp = unique(path)
	local f, err = io.open(tmp, "wb")
	if not f then
		return nil, err
	end
	local ok, werr = f:write(text)
	local cok, cerr = f:close()
	if not ok or not cok then
		os.remove(tmp)
		return nil, werr or cerr
	end
	local rok, rerr = os.rename(tmp, path)
	if not rok then
		os.remove(tmp)
		return nil, rerr
	end
	return true
end

function M.state_path(cfg, job_id)
	return string.format("%s/job%s.json", cfg.state_dir, job_id)
end

function M.write_state(cfg, st)
	local ok, err = M.write_atomic(M.state_path(cfg, st.job_id), M.json_encode(st) .. "\n")
	if not ok then
		return nil, "cannot write the state file in " .. cfg.state_dir .. ": " .. tostring(err)
	end
	return true
end

-- The job's state, nil if it has none, or nil and why if it is unreadable.
function M.read_state(cfg, job_id)
	local path = M.state_path(cfg, job_id)
	local text = read_file(path)
	if not text then
		return nil
	end
	local st, why = M.json_decode(text)
	if type(st) ~= "table" or type(st.dir) ~= "string" or type(st.files) ~= "number" then
		return nil, path .. ": not a famfsd burst buffer state file (" .. tostring(why) .. ")"
	end
	return st
end

-- The job's files as the job sees them.
function M.job_paths(cfg, st)
	local dir = cfg.mount .. "/" .. st.dir
	local files = {}
	for i = 0, st.files - 1 do
		files[#files + 1] = dir .. "/f" .. i
	end
	return dir, files
end

-- Where a job's files live, relative to the pool's root.
function M.job_dir(tenant, job_id)
	return tenant .. "/slurm/job" .. job_id
end

------------------------------------------------------------ the pool --

function M.pools_path(cfg)
	return cfg.state_dir .. "/pools.json"
end

-- Asks the master for the pool's figures and keeps them for the pools hook.
function M.refresh_pool(cfg, secs)
	local st, why = M.famfsctl(cfg, { "status" }, secs)
	local cache = M.json_decode(read_file(M.pools_path(cfg)) or "") or {}
	if type(cache) ~= "table" then
		cache = {}
	end
	cache.tried_at = os.time()
	if st then
		if type(st.size_bytes) ~= "number" or type(st.free_bytes) ~= "number"
			or type(st.alloc_unit) ~= "number" or st.alloc_unit < 1 then
			st, why = nil, "famfsctl status: the reply has no size_bytes, free_bytes, alloc_unit"
		else
			cache.at = cache.tried_at
			cache.size = st.size_bytes
			cache.free = st.free_bytes
			cache.unit = st.alloc_unit
			cache.url = cfg.url
		end
	end
	if not st then
		cache.error = why
	else
		cache.error = nil
	end
	M.write_atomic(M.pools_path(cfg), M.json_encode(cache) .. "\n")
	return st, why
end

-- The JSON slurm_bb_pools returns: pool famfsd in allocation units. With
-- no figure ever read, the pool is reported empty (jobs wait, none fails).
function M.pools_json(cache)
	local unit, size, free = 1, 0, 0
	if type(cache) == "table" and type(cache.unit) == "number" and cache.unit >= 1 then
		unit = cache.unit
		size = math.floor((cache.size or 0) / unit)
		free = math.min(size, math.floor((cache.free or 0) / unit))
	end
	return M.json_encode({ pools = { { id = M.POOL, granularity = unit,
		quantity = size, free = free } } })
end

-------------------------------------------------------------- tenant --

-- The tenant name rules of famfsd (lib/names.c famfs_tenant_check).
function M.tenant_error(t)
	if t == "" then
		return "empty"
	elseif #t > 63 then
		return "longer than 63 bytes"
	elseif t:find("[^%w._-]") then
		return "may hold only A-Z a-z 0-9 . _ -"
	elseif t:sub(1, 1) == "." then
		return "may not start with '.'"
	end
end

-- The job's Account or user name from `scontrol show job -o` output.
function M.scontrol_field(text, key)
	return (" " .. text):match("%s" .. key .. "=(%S*)")
end

-- The job's tenant (config `tenant`), or nil and why.
function M.resolve_tenant(cfg, job_id, uid)
	local name, how
	if cfg.tenant == "user" and uid then
		how = "user " .. uid
		local r = M.run({ "getent", "passwd", tostring(uid) }, 10)
		name = r.rc == 0 and r.out:match("^([^:\n]+):") or nil
		if not name then
			return nil, "no user name for uid " .. uid .. " (getent passwd)"
		end
	else
		local r = M.run({ "scontrol", "show", "job", tostring(job_id), "-o" }, 10)
		if r.rc ~= 0 then
			return nil, "scontrol show job " .. job_id .. ": " ..
				(last_line(r.err) or ("exit " .. r.rc))
		end
		if cfg.tenant == "user" then
			name = M.scontrol_field(r.out, "UserId")
			name = name and name:match("^([^(]+)")
			how = "user"
		else
			name = M.scontrol_field(r.out, "Account")
			how = "account"
		end
		if not name or name == "" or name == "(null)" then
			return nil, string.format("job %s has no %s to be its tenant (tenant = %s "
				.. "in %s)", job_id, how, cfg.tenant, cfg.path)
		end
	end
	local why = M.tenant_error(name)
	if why then
		return nil, string.format("the job's %s '%s' cannot be a famfsd tenant: %s",
			how, name, why)
	end
	return name
end

-------------------------------------------------------------- batches --

-- The ops that make a job's set (docs/batch.md): `mkdir -p` of TENANT/slurm,
-- the job's directory 0700 and its files 0600, owned by the job's user and
-- charged to its tenant. Sent again after a restart, each op finds its
-- entry and succeeds without writing.
function M.setup_ops(st)
	local ops = {
		{ op = "mkdir", path = st.tenant, exist_ok = true },
		{ op = "mkdir", path = st.tenant .. "/slurm", exist_ok = true },
		{ op = "mkdir", path = st.dir, mode = 448, uid = st.uid, gid = st.gid },
	}
	for i = 0, st.files - 1 do
		ops[#ops + 1] = { op = "create", path = st.dir .. "/f" .. i,
			size = st.file_size, mode = 384, uid = st.uid, gid = st.gid,
			tenant = st.tenant }
	end
	return ops
end

-- Each file's size: the capacity shared out, rounded up to the pool's unit.
function M.file_size(capacity, files, unit)
	return M.round_up(math.ceil(capacity / files), unit)
end

-- Pool paths (relative) under dir, children before their parent, from
-- `famfsctl ls --json`; the directory itself is not in the list.
local function list_tree(cfg, dir, depth, out)
	local reply, why, rc = M.famfsctl(cfg, { "ls", "/" .. dir })
	if not reply then
		if rc == 1 and why:find("%(404 ") then
			return out
		end
		return nil, why
	end
	if type(reply.entries) ~= "table" then
		return nil, "famfsctl ls /" .. dir .. ": the reply has no entries"
	end
	for _, e in ipairs(reply.entries) do
		local p = type(e.path) == "string" and e.path:gsub("^/+", "")
		if not p or p:sub(1, #dir + 1) ~= dir .. "/" then
			return nil, "famfsctl ls /" .. dir .. ": an entry outside it: " .. tostring(e.path)
		end
		if e.type == "dir" then
			if depth >= 16 then
				return nil, "/" .. p .. ": directories nested deeper than 16"
			end
			local _, err = list_tree(cfg, p, depth + 1, out)
			if err then
				return nil, err
			end
		end
		out[#out + 1] = p
	end
	return out
end
M.list_tree = list_tree

function M.teardown_ops(dir, entries)
	local ops = {}
	for _, p in ipairs(entries) do
		ops[#ops + 1] = { op = "delete", path = p, missing_ok = true }
	end
	ops[#ops + 1] = { op = "delete", path = dir, missing_ok = true }
	return ops
end

-- One POST /v1/batch through `famfsctl batch FILE`: the reply, or nil and
-- the master's reason.
function M.batch(cfg, ops)
	local body = os.tmpname()
	local ok, err = M.write_atomic(body, M.json_encode({ ops = ops }))
	if not ok then
		os.remove(body)
		return nil, "cannot write the batch body: " .. tostring(err)
	end
	local reply, why = M.famfsctl(cfg, { "batch", body })
	os.remove(body)
	if reply and type(reply.seq) ~= "number" then
		return nil, "famfsctl batch: the reply has no seq"
	end
	return reply, why
end

-- Deletes a job's set, whatever its directory holds, and its state file:
-- the number of entries deleted, or nil and why. Safe to run again, and
-- beside another run (each delete has missing_ok).
function M.delete_set(cfg, job_id, dir)
	local entries, why = list_tree(cfg, dir, 0, {})
	if not entries then
		return nil, "cannot list /" .. dir .. ": " .. why
	end
	local reply
	reply, why = M.batch(cfg, M.teardown_ops(dir, entries))
	if not reply then
		return nil, "deleting /" .. dir .. " refused: " .. why
	end
	os.remove(M.state_path(cfg, job_id))
	return #entries
end

-------------------------------------------------------------- staging --

-- Staging runs the copies as the job's user, which only root can become: with
-- another SlurmUser a job could make it copy what that user may read (the
-- scheduler's token among them).
local function staging_refused(what)
	local r = M.run({ "id", "-u" }, 5)
	if r.rc == 0 and tonumber(r.out) == 0 then
		return nil
	end
	return string.format("%s needs slurmctld to run as root (SlurmUser=root): the "
		.. "copies run as the job's user (this is uid %s)", what, trim(r.out))
end

-- argv run as the job's user: a job stages only what its user may read and
-- write (the hooks run as root, SlurmUser=root, to be able to).
local function as_user(st, argv)
	local w = { "setpriv", "--reuid=" .. int(st.uid), "--regid=" .. int(st.gid),
		"--init-groups", "--" }
	for _, a in ipairs(argv) do
		w[#w + 1] = a
	end
	return w
end

local function fail(r, what)
	return string.format("%s: %s", what, last_line(r.err) or
		(r.rc == 124 and "timed out" or ("exit " .. r.rc)))
end

-- Waits up to secs for path to be a file of at least size bytes in this
-- host's mount (the agent replays the setup a moment after the reply).
function M.wait_file(path, size, secs)
	local deadline = os.time() + secs
	while true do
		local f = io.open(path, "rb")
		if f then
			local n = f:seek("end")
			f:close()
			if n and n >= size then
				return true
			end
		end
		if os.time() > deadline then
			return nil
		end
		sleep(0.1)
	end
end

-- The regular files of dir, by name: { {name=, size=}, ... }.
function M.list_stage_dir(st, dir, secs)
	local r = M.run(as_user(st, { "find", dir, "-mindepth", "1", "-maxdepth", "1",
		"-type", "f", "-printf", "%s %P\\0" }), secs)
	if r.rc ~= 0 then
		return nil, fail(r, "stage_in: cannot list " .. dir)
	end
	local files = {}
	for size, name in r.out:gmatch("(%d+) ([^%z]+)%z") do
		files[#files + 1] = { name = name, size = tonumber(size) }
	end
	table.sort(files, function(a, b) return a.name < b.name end)
	return files
end

function M.stage_in(cfg, st)
	local dir, targets = M.job_paths(cfg, st)
	local src = st.stage_in
	local files, why = M.list_stage_dir(st, src, cfg.timeout)
	if not files then
		return nil, why
	end
	if #files > st.files then
		return nil, string.format("stage_in: %s has %d regular files, the job has "
			.. "%d (files=)", src, #files, st.files)
	end
	for i, f in ipairs(files) do
		if f.size > st.file_size then
			return nil, string.format("stage_in: %s/%s is %s bytes, longer than its "
				.. "pool file f%d (%s bytes)", src, f.name, int(f.size), i - 1,
				int(st.file_size))
		end
	end
	-- The agent applies the setup's records in order: with the last file,
	-- this host's mount has them all.
	if not M.wait_file(targets[#targets], st.file_size, cfg.timeout) then
		return nil, string.format("stage_in: %s did not appear in this host's famfsd "
			.. "mount within %d s (is the agent on %s running?)", targets[#targets],
			cfg.timeout, cfg.mount)
	end
	for i, f in ipairs(files) do
		-- notrunc: a pool file keeps its size; fsync: the bytes are in the
		-- pool before the job may start on another host.
		local r = M.run(as_user(st, { "dd", "if=" .. src .. "/" .. f.name,
			"of=" .. targets[i], "bs=4M", "conv=notrunc,fsync", "status=none" }),
			cfg.timeout + math.ceil(f.size / 2 ^ 28))
		if r.rc ~= 0 then
			return nil, fail(r, string.format("stage_in: copying %s/%s to f%d",
				src, f.name, i - 1))
		end
	end
	return #files
end

function M.stage_out(cfg, st)
	local _, sources = M.job_paths(cfg, st)
	local dst = st.stage_out
	local r = M.run(as_user(st, { "mkdir", "-p", "--", dst }), cfg.timeout)
	if r.rc ~= 0 then
		return nil, fail(r, "stage_out: cannot make " .. dst)
	end
	for i, src in ipairs(sources) do
		local name = "f" .. (i - 1)
		local tmp = dst .. "/." .. name .. ".famfsd-stage"
		-- A copy is renamed into place only whole and on disk.
		r = M.run(as_user(st, { "dd", "if=" .. src, "of=" .. tmp, "bs=4M",
			"conv=fsync", "status=none" }), cfg.timeout + math.ceil(st.file_size / 2 ^ 28))
		if r.rc == 0 then
			r = M.run(as_user(st, { "mv", "-f", "--", tmp, dst .. "/" .. name }),
				cfg.timeout)
		end
		if r.rc ~= 0 then
			M.run(as_user(st, { "rm", "-f", "--", tmp }), cfg.timeout)
			return nil, fail(r, string.format("stage_out: copying %s to %s", name, dst))
		end
	end
	return #sources
end

------------------------------------------------------------ the sweep --

-- Slurm can lose a set: slurmctld saves its records of the sets (its
-- "allocated buffers") every 30 s, and a restart finds only those, so a
-- slurmctld killed soon after a job's set was made never stages out or tears
-- down that job (it stays in STAGE_OUT or COMPLETED). The state files are
-- the script's own record: a setup or teardown of one job deletes the sets
-- of others that Slurm no longer tracks and will not set up again.

M.SWEEP_MAX = 16
-- Job states in which Slurm will not run the job's setup again.
local ENDED = { COMPLETED = true, CANCELLED = true, FAILED = true, TIMEOUT = true,
	NODE_FAIL = true, PREEMPTED = true, BOOT_FAIL = true, DEADLINE = true,
	OUT_OF_MEMORY = true, STAGE_OUT = true, COMPLETING = true }

-- The job ids of Slurm's allocated buffers (`scontrol show burst`).
function M.parse_allocs(text)
	local ids = {}
	for id in text:gmatch("JobID=(%d+)") do
		ids[id] = true
	end
	return ids
end

-- Whether the set of st's job is lost to Slurm, which has no allocated
-- buffer for it: rec is the job's `scontrol show job -o` text, nil when
-- slurmctld no longer knows the job (purged after MinJobAge).
function M.orphaned(st, rec, now)
	if not rec then
		-- A set made a minute ago belongs to a job slurmctld knew then.
		return now - (tonumber(st.created) or 0) > 60
	end
	return ENDED[M.scontrol_field(rec, "JobState")] == true
end

-- From a hook of job self_id, which has an allocated buffer: deletes the
-- sets Slurm lost. Nothing is deleted unless Slurm's list of buffers holds
-- self_id (so the list is this cluster's and complete); failures are logged
-- and left for the next sweep.
function M.sweep(cfg, self_id)
	local others = {}
	for _, st in ipairs(M.job_states(cfg)) do
		if st.job_id ~= tostring(self_id) then
			others[#others + 1] = st
		end
	end
	if #others == 0 then
		return
	end
	local r = M.run({ "scontrol", "show", "burst" }, cfg.timeout)
	local allocs = r.rc == 0 and M.parse_allocs(r.out) or {}
	if not allocs[tostring(self_id)] then
		log("info", "sweep skipped: scontrol show burst (exit %d) does not list job %s",
			r.rc, tostring(self_id))
		return
	end
	local now, swept = os.time(), 0
	for _, st in ipairs(others) do
		if swept >= M.SWEEP_MAX then
			break
		end
		if not allocs[st.job_id] then
			local j = M.run({ "scontrol", "show", "job", "-o", st.job_id }, cfg.timeout)
			local rec = j.rc == 0 and j.out:find("JobId=" .. st.job_id, 1, true) and j.out
			local gone = j.rc ~= 0 and (j.err .. j.out):find("Invalid job id", 1, true)
			if (rec or gone) and M.orphaned(st, rec or nil, now) then
				swept = swept + 1
				local n, why = M.delete_set(cfg, st.job_id, st.dir)
				if n then
					log("info", "swept job %s's set, which Slurm no longer tracks: deleted "
						.. "/%s and %d entries", st.job_id, st.dir, n)
				else
					log("error", "sweep of job %s's set failed: %s", st.job_id, why)
				end
			end
		end
	end
end

----------------------------------------------------------- the hooks --

-- Each hook's failure: slurm.ERROR and one line, which Slurm shows as the
-- job's reason (scontrol show job) or prints at sbatch.
local function refuse(hook, job_id, msg)
	if job_id then
		log("error", "%s job %s: %s", hook, tostring(job_id), msg)
	else
		log("error", "%s: %s", hook, msg)
	end
	return slurm.ERROR, "famfsd: " .. msg
end

local function config(hook, job_id)
	local cfg, why = M.load_config()
	if not cfg then
		return nil, refuse(hook, job_id, "bad configuration: " .. why)
	end
	return cfg
end

-- sbatch time, inside slurmctld: the directive is checked, nothing else.
function slurm_bb_job_process(job_script)
	local cfg, r1, r2 = config("job_process", nil)
	if not cfg then
		return r1, r2
	end
	local spec, why = M.script_spec(cfg, job_script)
	if not spec then
		return refuse("job_process", nil, why)
	end
	return slurm.SUCCESS
end

-- Inside slurmctld, every 30 s: the pool's figures from the cache, which
-- a stale cache refreshes with a call of at most 500 ms.
function slurm_bb_pools()
	local cfg, why = M.load_config()
	if not cfg then
		-- Pools must still be reported, or every job is refused.
		log("error", "bad configuration: %s", why)
		return slurm.SUCCESS, M.pools_json(nil)
	end
	local cache = M.json_decode(read_file(M.pools_path(cfg)) or "")
	local last = type(cache) == "table" and (cache.tried_at or cache.at) or 0
	if os.time() - last >= M.POOLS_STALE_SECONDS then
		local ok, err = M.refresh_pool(cfg, M.POOLS_REFRESH_SECONDS)
		if not ok then
			log("info", "pool figures not refreshed, keeping the last ones: %s", err)
		end
		cache = M.json_decode(read_file(M.pools_path(cfg)) or "")
	end
	return slurm.SUCCESS, M.pools_json(cache)
end

function slurm_bb_setup(job_id, uid, gid, pool, bb_size, job_script)
	local cfg, r1, r2 = config("setup", job_id)
	if not cfg then
		return r1, r2
	end
	-- Setup's script has Slurm's %-symbols replaced (%d, %j, %u ...): the
	-- stage paths it names are the ones the stages use.
	local spec, why = M.script_spec(cfg, job_script)
	if not spec then
		return refuse("setup", job_id, why)
	end
	for _, k in ipairs({ "stage_in", "stage_out" }) do
		if spec[k] and spec[k]:sub(1, 1) ~= "/" then
			return refuse("setup", job_id, string.format("%s=%s: not an absolute "
				.. "path once Slurm replaced its symbols", k, spec[k]))
		end
	end
	-- A rerun keeps the tenant the first run charged (a restart must not
	-- make a second set elsewhere); a state of another user is a leftover
	-- of an earlier job with this id (Slurm's state was reset).
	local old = M.read_state(cfg, job_id)
	local tenant = old and old.uid == tonumber(uid) and old.tenant
	if not tenant then
		tenant, why = M.resolve_tenant(cfg, job_id, uid)
		if not tenant then
			return refuse("setup", job_id, why)
		end
	end
	local pst
	pst, why = M.refresh_pool(cfg, cfg.timeout)
	if not pst then
		return refuse("setup", job_id, "cannot ask the pool's allocation unit: " .. why)
	end
	local st = { version = 1, job_id = tostring(job_id), tenant = tenant,
		uid = tonumber(uid), gid = tonumber(gid), dir = M.job_dir(tenant, job_id),
		files = spec.files, capacity = spec.capacity,
		file_size = M.file_size(spec.capacity, spec.files, pst.alloc_unit),
		stage_in = spec.stage_in, stage_out = spec.stage_out, phase = "setup",
		created = os.time() }
	-- Written before the batch: a teardown after a kill in the middle of the
	-- call still finds the set.
	local ok, err = M.write_state(cfg, st)
	if not ok then
		M.run({ "mkdir", "-p", "-m", "0700", "--", cfg.state_dir }, cfg.timeout)
		ok, err = M.write_state(cfg, st)
	end
	if not ok then
		return refuse("setup", job_id, err)
	end
	if cfg.test_delay_setup > 0 then
		sleep(cfg.test_delay_setup)
	end
	local reply
	reply, why = M.batch(cfg, M.setup_ops(st))
	if not reply then
		return refuse("setup", job_id, string.format("%s of %s under tenant %s "
			.. "refused: %s", files_text(st.files), M.human(st.file_size), tenant, why))
	end
	st.seq = reply.seq
	st.phase = "ready"
	ok, err = M.write_state(cfg, st)
	if not ok then
		return refuse("setup", job_id, err)
	end
	log("info", "setup job %s: %s of %s in /%s (seq %s)", job_id, files_text(st.files),
		M.human(st.file_size), st.dir, int(st.seq))
	M.sweep(cfg, job_id)
	M.refresh_pool(cfg, cfg.timeout)
	return slurm.SUCCESS
end

-- The job's state after setup, or a refusal.
local function ready_state(hook, cfg, job_id)
	local st, why = M.read_state(cfg, job_id)
	if not st then
		return nil, refuse(hook, job_id, why or ("no state for the job in " .. cfg.state_dir
			.. " (its setup did not finish)"))
	end
	if st.phase ~= "ready" then
		return nil, refuse(hook, job_id, "the job's setup did not finish")
	end
	return st
end

-- Stage-in or stage-out (hook "data_in" or "data_out"): the job's state
-- names the directory (taken at setup), copy(cfg, st) does the copying.
local function stage(hook, job_id, key, copy, dir_word)
	local cfg, r1, r2 = config(hook, job_id)
	if not cfg then
		return r1, r2
	end
	local st
	st, r1, r2 = ready_state(hook, cfg, job_id)
	if not st then
		return r1, r2
	end
	if not st[key] then
		return slurm.SUCCESS
	end
	local n, why = nil, staging_refused(key)
	if not why then
		n, why = copy(cfg, st)
	end
	if not n then
		return refuse(hook, job_id, why)
	end
	log("info", "%s job %s: %s %s %s", hook, job_id, files_text(n), dir_word, st[key])
	return slurm.SUCCESS
end

function slurm_bb_data_in(job_id, job_script)
	return stage("data_in", job_id, "stage_in", M.stage_in, "from")
end

-- The set's real size: each file rounded up to the pool's unit.
function slurm_bb_real_size(job_id)
	local cfg = M.load_config()
	local st = cfg and M.read_state(cfg, job_id)
	if not st or not st.file_size then
		return slurm.SUCCESS
	end
	return slurm.SUCCESS, int(st.files * st.file_size)
end

-- Inside slurmctld: the job's environment, from its state file.
function slurm_bb_paths(job_id, job_script, path_file)
	local cfg, r1, r2 = config("paths", job_id)
	if not cfg then
		return r1, r2
	end
	local st
	st, r1, r2 = ready_state("paths", cfg, job_id)
	if not st then
		return r1, r2
	end
	local dir, files = M.job_paths(cfg, st)
	local text = string.format("FAMFSD_DIR=%s\nFAMFSD_FILES=%s\nFAMFSD_TENANT=%s\n",
		dir, table.concat(files, ":"), st.tenant)
	local f, err = io.open(path_file, "w")
	if not f then
		return refuse("paths", job_id, "cannot write " .. path_file .. ": " .. tostring(err))
	end
	f:write(text)
	f:close()
	return slurm.SUCCESS
end

-- The agents to wait for: the live ones on the job's nodes (host names
-- compared without their domains), or every live one when none of the
-- nodes has an agent of that name (agents may name their hosts otherwise).
function M.agents_to_wait(agents, nodes)
	local function short(h)
		return (tostring(h):match("^[^.]*"))
	end
	local live, on_nodes, want = {}, {}, {}
	for _, n in ipairs(nodes or {}) do
		want[short(n)] = true
	end
	for _, a in ipairs(agents) do
		if a.state == "live" then
			live[#live + 1] = a
			if want[short(a.host)] then
				on_nodes[#on_nodes + 1] = a
			end
		end
	end
	return #on_nodes > 0 and on_nodes or live
end

-- The job's nodes' host names (scontrol), or nil.
function M.job_nodes(cfg, job_id)
	local r = M.run({ "scontrol", "show", "job", "-o", tostring(job_id) }, cfg.timeout)
	local list = r.rc == 0 and M.scontrol_field(r.out, "NodeList")
	if not list or list == "" or list == "(null)" then
		return nil
	end
	r = M.run({ "scontrol", "show", "hostnames", list }, cfg.timeout)
	if r.rc ~= 0 then
		return nil
	end
	local nodes = {}
	for n in r.out:gmatch("%S+") do
		nodes[#nodes + 1] = n
	end
	return nodes
end

-- Before the job starts: the agents of its nodes have applied the setup's
-- seq, so the files are in their mounts.
function M.wait_agents(cfg, seq, secs, nodes)
	local deadline = os.time() + secs
	local why
	while true do
		local reply, err = M.famfsctl(cfg, { "agents" }, math.max(1, deadline - os.time()))
		if reply then
			local agents = M.agents_to_wait(type(reply.agents) == "table"
				and reply.agents or {}, nodes)
			local behind = {}
			for _, a in ipairs(agents) do
				if type(a.applied_seq) ~= "number" or a.applied_seq < seq then
					behind[#behind + 1] = string.format("%s at seq %s",
						tostring(a.host), tostring(a.applied_seq))
				end
			end
			if #agents > 0 and #behind == 0 then
				return #agents
			end
			why = #agents == 0 and "no live famfsd agent" or
				("agents behind seq " .. int(seq) .. ": " .. table.concat(behind, ", "))
		else
			why = err
		end
		if os.time() >= deadline then
			return nil, why
		end
		sleep(0.2)
	end
end

function slurm_bb_pre_run(job_id, job_script)
	local cfg, r1, r2 = config("pre_run", job_id)
	if not cfg then
		return r1, r2
	end
	local st
	st, r1, r2 = ready_state("pre_run", cfg, job_id)
	if not st then
		return r1, r2
	end
	local n, why = M.wait_agents(cfg, st.seq or 0, cfg.timeout, M.job_nodes(cfg, job_id))
	if not n then
		return refuse("pre_run", job_id, string.format("the files are not on the "
			.. "agents within %d s: %s", cfg.timeout, why))
	end
	return slurm.SUCCESS
end

function slurm_bb_post_run(job_id, job_script)
	return slurm.SUCCESS
end

-- Slurm 24.05 polls these after data_in and data_out; both copy before they
-- return, so there is nothing to wait for. 22.05 never calls them.
function slurm_bb_test_data_in(job_id, job_script)
	return slurm.SUCCESS
end

function slurm_bb_test_data_out(job_id, job_script)
	return slurm.SUCCESS
end

function slurm_bb_data_out(job_id, job_script)
	return stage("data_out", job_id, "stage_out", M.stage_out, "to")
end

-- Deletes every entry of the job's directory (listed, so nothing the set
-- came to hold is left), then the directory: one batch, missing_ok, so it
-- may run any number of times. Same in hurry mode: nothing here waits for
-- the job's data.
function slurm_bb_job_teardown(job_id, job_script, hurry)
	local cfg, r1, r2 = config("teardown", job_id)
	if not cfg then
		return r1, r2
	end
	local st, why = M.read_state(cfg, job_id)
	if why then
		return refuse("teardown", job_id, why)
	end
	local dir
	if st then
		dir = st.dir
	else
		-- No state: setup never wrote one, so nothing was made, unless the
		-- state directory was lost; look where setup would have put it.
		local tenant = M.resolve_tenant(cfg, job_id, nil)
		if not tenant then
			log("info", "teardown job %s: no state and no tenant: nothing to delete", job_id)
			return slurm.SUCCESS
		end
		dir = M.job_dir(tenant, job_id)
	end
	if cfg.test_delay_teardown > 0 then
		sleep(cfg.test_delay_teardown)
	end
	local n
	n, why = M.delete_set(cfg, job_id, dir)
	if not n then
		return refuse("teardown", job_id, why)
	end
	log("info", "teardown job %s: deleted /%s and %d entries (hurry %s)", job_id, dir,
		n, tostring(hurry))
	M.sweep(cfg, job_id)
	M.refresh_pool(cfg, cfg.timeout)
	return slurm.SUCCESS
end

-- Every job's state file in the state directory.
function M.job_states(cfg)
	local r = M.run({ "find", cfg.state_dir, "-maxdepth", "1", "-name", "job*.json",
		"-printf", "%f\\n" }, 10)
	local jobs = {}
	for name in r.out:gmatch("[^\n]+") do
		local id = name:match("^job(%d+)%.json$")
		local st = id and M.read_state(cfg, id)
		if st then
			jobs[#jobs + 1] = st
		end
	end
	table.sort(jobs, function(a, b) return tonumber(a.job_id) < tonumber(b.job_id) end)
	return jobs
end

-- The text of `scontrol show bbstat`: the pool's line unless pst is false,
-- the jobs' lines unless jobs is nil.
function M.status_text(cfg, pst, why, jobs)
	local out = {}
	if pst then
		out[#out + 1] = string.format("pool %s: %s free of %s, allocation unit %s "
			.. "(master %s, role %s)", M.POOL, M.human(pst.free_bytes),
			M.human(pst.size_bytes), M.human(pst.alloc_unit), cfg.url, tostring(pst.role))
	elseif pst == nil then
		out[#out + 1] = string.format("pool %s: the master (%s) did not answer: %s",
			M.POOL, cfg.url, tostring(why))
	end
	if jobs then
		out[#out + 1] = string.format("%d job set%s (state in %s)", #jobs,
			#jobs == 1 and "" or "s", cfg.state_dir)
		if #jobs > 0 then
			out[#out + 1] = string.format("%-10s %-8s %-16s %5s %10s  %s", "JOBID",
				"PHASE", "TENANT", "FILES", "EACH", "DIR")
		end
		for _, st in ipairs(jobs) do
			out[#out + 1] = string.format("%-10s %-8s %-16s %5d %10s  %s", st.job_id,
				tostring(st.phase), st.tenant, st.files, M.human(st.file_size or 0),
				cfg.mount .. "/" .. st.dir)
		end
	end
	return table.concat(out, "\n") .. "\n"
end

-- `scontrol show bbstat [pool|jobs]`: the pool's figures from the master
-- and each job's set from the state files. Slurm 22.05 passes only the
-- command's words; later versions pass the caller's uid and gid first.
function slurm_bb_get_status(...)
	local cfg, why = M.load_config()
	if not cfg then
		return slurm.SUCCESS, "famfsd: bad configuration: " .. why .. "\n"
	end
	local args = { ... }
	if #args >= 2 and tostring(args[1]):match("^%d+$") and tostring(args[2]):match("^%d+$") then
		table.remove(args, 1)
		table.remove(args, 1)
	end
	local arg = args[1]
	if arg and arg ~= "pool" and arg ~= "jobs" then
		return slurm.SUCCESS, "usage: scontrol show bbstat [pool|jobs]\n"
	end
	local pst = false
	if arg ~= "jobs" then
		pst, why = M.refresh_pool(cfg, cfg.timeout)
	end
	return slurm.SUCCESS, M.status_text(cfg, pst, why,
		arg ~= "pool" and M.job_states(cfg) or nil)
end

-- Slurm takes the script's value as its load status.
return slurm.SUCCESS
