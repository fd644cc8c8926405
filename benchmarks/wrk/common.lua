-- Shared by every scenario: one connection per thread (run wrk with -t equal to -c), so
-- a thread's globals are its connection's state (and ``id`` its number). Each thread
-- counts what it completed (or wrk does: page.lua); done() prints one JSON line the
-- orchestrator reads.
local threads = {}
completed, failed = 0, 0

function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)  -- the connection's number, for scripts that keep files
end

function done(summary, latency, requests)
  local ok, bad = 0, 0
  for _, thread in ipairs(threads) do
    ok = ok + thread:get("completed")
    bad = bad + thread:get("failed")
  end
  local e = summary.errors
  if response == nil then  -- wrk's own count (page.lua)
    ok, bad = summary.requests - e.status, e.status
  end
  io.write(string.format(
    '{"requests": %d, "seconds": %.3f, "completed": %d, "failed": %d, "socket_errors": %d,'
      .. ' "non_2xx_3xx": %d, "p50_ms": %.2f, "p99_ms": %.2f}\n',
    summary.requests, summary.duration / 1e6, ok, bad,
    e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
