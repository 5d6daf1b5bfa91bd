-- wrk script for scripts/soak.js: rotates over the soak server's paths (scripts/soak/http-server.js)
-- and tallies, per thread, the answers by the x-soak tag the server puts on each (which path
-- answered) and status, and the bodies whose length is not the path's. done() sums the
-- threads' tallies (wrk's setup/thread:get pattern) and prints one line:
--   SOAK_TALLY {"counts":{"bytes 200":n,...},"badLength":n,"requests":n,"errors":{...},...}
-- Arguments (after --): name=bytes for each tag, e.g. bytes=1024 file=16384 ...

local paths = { "/bytes", "/fetch", "/file", "/missing", "/fail" }
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  -- globals, so that done() can read them with thread:get
  counts = {}
  badLength = 0
  sizes = {}
  for _, a in ipairs(args) do
    local k, v = a:match("^(%w+)=(%d+)$")
    if k then sizes[k] = tonumber(v) end
  end
  reqs = {}
  for i, p in ipairs(paths) do reqs[i] = wrk.format("GET", p) end
  n = id -- threads start at different paths
end

function request()
  n = n + 1
  return reqs[(n % #reqs) + 1]
end

function response(status, headers, body)
  local tag = headers["x-soak"] or "untagged"
  local key = tag .. " " .. status
  counts[key] = (counts[key] or 0) + 1
  local want = sizes[tag]
  if want == nil or #body ~= want then badLength = badLength + 1 end
end

function done(summary, latency, requests)
  local total = {}
  local bad = 0
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("counts")) do total[k] = (total[k] or 0) + v end
    bad = bad + t:get("badLength")
  end
  local parts = {}
  for k, v in pairs(total) do table.insert(parts, string.format('"%s":%d', k, v)) end
  local e = summary.errors
  io.write(string.format(
    'SOAK_TALLY {"counts":{%s},"badLength":%d,"requests":%d,"durationUs":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"latencyP99Us":%d,"latencyMaxUs":%d}\n',
    table.concat(parts, ","), bad, summary.requests, summary.duration,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(99), latency.max))
end
