--[[
Runs one hook of slurm/burst_buffer.lua outside Slurm, as slurmscriptd or
slurmctld would call it, and prints {"rc": N, "msg": "..."} on stdout:

    FAMFSD_BB_CONFIG=bb.conf lua5.1 slurm/tests/run_hook.lua setup 12 1000 1000 famfsd 4194304 job.sh

tests/integration/test_bb_lua.py drives the hooks with it against a real
master and agent. The script's log lines go to stderr.
--]]

local here = arg[0]:match("^(.*)/[^/]*$") or "."
dofile(here .. "/../burst_buffer.lua")
local M = famfsd_bb
M.log_sink = function(level, msg) io.stderr:write(level, ": ", msg, "\n") end

local fn = _G["slurm_bb_" .. tostring(arg[1])]
if type(fn) ~= "function" then
	io.stderr:write("run_hook: no hook slurm_bb_", tostring(arg[1]), "\n")
	os.exit(2)
end
local args = {}
for i = 2, #arg do
	args[#args + 1] = arg[i]
end
local rc, msg = fn(unpack(args))
print(M.json_encode({ rc = rc, msg = msg == nil and M.null or msg }))
