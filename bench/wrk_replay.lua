-- wrk script: replay pre-signed webhook requests, each exactly once, then stop.
--
-- Driven by bench/loadgen.py through the environment:
--   BENCH_REQUESTS  file with one request per line: id TAB timestamp TAB signature TAB body
--   BENCH_PATH      URL path to POST to (e.g. /webhooks/bench)
--   BENCH_THREADS   the -t given to wrk (thread k sends lines k, k+T, k+2T, ...)
--
-- Every request is sent once: delay() hands out one slot per request and parks a connection
-- for an hour once its thread's share is used up, so no filler request pollutes the latency
-- histogram. A thread stops when it has a response for each of its requests. done() prints
-- one line "BENCH_JSON {...}" with latency percentiles (microseconds), wrk's error counters
-- and, per thread, the status counts and wall-clock start/end (CLOCK_REALTIME, seconds).

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clk_id, bench_timespec *tp);
]]

local function now()
  local ts = ffi.new("bench_timespec")
  ffi.C.clock_gettime(0, ts)  -- CLOCK_REALTIME: comparable with the hub's timestamps
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
end

-- main state: the thread objects, for done()
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

-- thread state ------------------------------------------------------------------------------

function init(args)
  local file = os.getenv("BENCH_REQUESTS")
  local path = os.getenv("BENCH_PATH")
  local nthreads = tonumber(os.getenv("BENCH_THREADS"))
  reqs = {}
  local index = 0
  for line in io.lines(file) do
    if index % nthreads == tid then
      local id, ts, sig, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
      reqs[#reqs + 1] = wrk.format("POST", path, {
        ["webhook-id"] = id, ["webhook-timestamp"] = ts, ["webhook-signature"] = sig,
        ["Content-Type"] = "application/json"}, body)
    end
    index = index + 1
  end
  quota = #reqs
  reserved, sent, received = 0, 0, 0
  accepted, duplicate, failed, extra = 0, 0, 0, 0
  started_at, finished_at = 0, 0
end

function delay()
  if reserved < quota then
    reserved = reserved + 1
    return 0
  end
  return 3600000  -- this thread's share is sent: keep the connection idle
end

function request()
  if reserved == 0 then
    -- wrk calls request() once before the run to check the script's output (thread 0 only);
    -- that call sends nothing, so it must not use up a request.
    return reqs[1]
  end
  sent = sent + 1
  if sent == 1 then
    started_at = now()
  end
  if sent > reserved or sent > quota then
    -- Only when a socket error made wrk reconnect and write again; counted, never silent.
    extra = extra + 1
    return reqs[math.min(sent, quota)]
  end
  return reqs[sent]
end

function response(status, headers, body)
  received = received + 1
  if status == 202 then
    accepted = accepted + 1
  elseif status == 200 then
    duplicate = duplicate + 1
  else
    failed = failed + 1
  end
  if received >= quota and finished_at == 0 then
    finished_at = now()
    local marker = os.getenv("BENCH_MARKERS")
    if marker then
      local handle = io.open(marker .. "/done." .. tid, "w")
      handle:write(tostring(received))
      handle:close()
    end
    wrk.thread:stop()
  end
end

-- main state again ----------------------------------------------------------------------------

function done(summary, latency, requests)
  local parts = {}
  for _, t in ipairs(threads) do
    parts[#parts + 1] = string.format(
      '{"quota":%d,"sent":%d,"received":%d,"accepted":%d,"duplicate":%d,"failed":%d,' ..
      '"extra":%d,"started_at":%.6f,"finished_at":%.6f}',
      t:get("quota"), t:get("sent"), t:get("received"), t:get("accepted"),
      t:get("duplicate"), t:get("failed"), t:get("extra"), t:get("started_at"),
      t:get("finished_at"))
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"errors":{"connect":%d,"read":%d,' ..
    '"write":%d,"status":%d,"timeout":%d},"latency_us":{"p50":%d,"p90":%d,"p99":%d,' ..
    '"p999":%d,"max":%d,"mean":%.1f},"threads":[%s]}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean, table.concat(parts, ",")))
end
