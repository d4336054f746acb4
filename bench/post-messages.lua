-- wrk script of bench/pushd.mjs: each request posts one message through
-- the API, cycling over a list of (conversation, sender session) pairs.
--
--   wrk ... -s bench/post-messages.lua URL -- PAIRS_FILE RUN_NUMBER
--
-- PAIRS_FILE has one "CONVERSATION_ID SESSION_TOKEN" line per pair, the
-- token of a member of that conversation. Every client_id is unique across
-- runs and threads (run number, thread number, request counter), so each
-- request writes a new message instead of returning a stored one.

local next_thread_number = 1

function setup(thread)
  thread:set("thread_number", next_thread_number)
  next_thread_number = next_thread_number + 1
end

local targets = {}
local run_number
local counter = 0

function init(args)
  local pairs_file, run = args[1], args[2]
  if pairs_file == nil or run == nil then
    error("usage: wrk ... -s post-messages.lua URL -- PAIRS_FILE RUN_NUMBER")
  end
  run_number = tonumber(run)
  for line in io.lines(pairs_file) do
    local conversation, token = line:match("^(%d+) (%S+)$")
    if conversation then
      targets[#targets + 1] = {
        path = "/api/conversations/" .. conversation .. "/messages",
        headers = {
          ["Content-Type"] = "application/json",
          ["Cookie"] = "blinkchat_session=" .. token,
        },
      }
    end
  end
  if #targets == 0 then
    error("no 'CONVERSATION_ID TOKEN' lines in " .. pairs_file)
  end
end

function request()
  counter = counter + 1
  -- Threads start at different offsets so they write to different
  -- conversations at the same moment.
  local target = targets[(counter + thread_number * 997) % #targets + 1]
  local client_id = string.format("%08x-%04x-4000-8000-%012x", run_number, thread_number, counter)
  local body = string.format('{"client_id":"%s","body":"write %d"}', client_id, counter)
  return wrk.format("POST", target.path, target.headers, body)
end
