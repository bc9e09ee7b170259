-- wrk script: each request goes to the next id in BENCH_IDS (one per line), so every discard
-- hits a distinct task. Threads take disjoint slices. BENCH_METHOD (GET or POST) and
-- BENCH_PATH (a prefix; the id and BENCH_SUFFIX follow) say what to send; BENCH_OFFSET skips
-- the ids earlier runs used.
local ids = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

function init(args)
  for line in io.lines(os.getenv("BENCH_IDS")) do
    if #line > 0 then table.insert(ids, line) end
  end
  nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
  index = tid + tonumber(os.getenv("BENCH_OFFSET") or "0")
  prefix = os.getenv("BENCH_PATH")
  suffix = os.getenv("BENCH_SUFFIX") or ""
  wrk.method = os.getenv("BENCH_METHOD") or "GET"
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY")
end

function request()
  local id = ids[(index % #ids) + 1]
  index = index + nthreads
  return wrk.format(nil, prefix .. id .. suffix)
end

function done(summary, latency, requests)
  local out = io.open(os.getenv("BENCH_OUT"), "w")
  out:write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, ' ..
    '"errors_connect": %d, "errors_read": %d, "errors_status": %d, "errors_timeout": %d}',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), summary.errors.connect, summary.errors.read,
    summary.errors.status, summary.errors.timeout))
  out:close()
end
