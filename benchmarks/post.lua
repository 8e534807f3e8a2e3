-- wrk script for the proxy benchmarks: POST one fixed body (or bodies from a file, in turn), optional
-- pacing and request cap, and a machine-readable summary line. Settings come from the environment (see
-- benchmarks/wrk.py).
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY") or ""
wrk.headers["Content-Type"] = os.getenv("BENCH_CONTENT_TYPE") or "application/x-www-form-urlencoded"

local header_name, header_value = (os.getenv("BENCH_HEADER") or ""):match("^([^:]+):%s*(.*)$")
if header_name then
  wrk.headers[header_name] = header_value
end

local bodies_file = os.getenv("BENCH_BODIES") or ""
if bodies_file ~= "" then
  -- one body per line, sent in turn: each request a different value (reveal decrypts every one). The
  -- requests are formatted once, on the first call, so a request costs wrk a table lookup.
  local bodies, prepared, next_one = {}, nil, 0
  for line in io.lines(bodies_file) do bodies[#bodies + 1] = line end
  if #bodies == 0 then error("BENCH_BODIES " .. bodies_file .. " holds no body") end
  function request()
    if prepared == nil then
      prepared = {}
      for k, body in ipairs(bodies) do prepared[k] = wrk.format(nil, nil, nil, body) end
    end
    next_one = next_one % #prepared + 1
    return prepared[next_one]
  end
end

local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
local max_requests = tonumber(os.getenv("BENCH_MAX_REQUESTS") or "0")

if delay_ms > 0 then
  -- pacing: before each request (its first too) a connection waits a random time, exponentially
  -- distributed with mean BENCH_DELAY_MS, so the connections' requests arrive as a Poisson stream. A
  -- fixed delay kept every connection in step: all of them sent at once every interval, and the last
  -- request of each burst waited for the whole burst (p99 = connections x service time).
  function delay()
    return math.floor(-delay_ms * math.log(1 - math.random()) + 0.5)
  end
end

if max_requests > 0 then
  -- a cap on responses per thread (run wrk with -t1): stops the run after exactly that many
  local seen = 0
  function response(status, headers, body)
    seen = seen + 1
    if seen == max_requests then
      -- wrk's main thread sleeps out -d; benchmarks/wrk.py sends SIGINT when it reads this line
      io.write("BENCH_REACHED\n")
      io.flush()
      wrk.thread:stop()
    end
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "p50_us": %d, "p90_us": %d, ' ..
    '"p99_us": %d, "mean_us": %.1f, "max_us": %d, "errors_connect": %d, "errors_read": %d, ' ..
    '"errors_write": %d, "errors_status": %d, "errors_timeout": %d}\n',
    summary.requests, summary.duration, summary.bytes, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.mean, latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
