-- wrk script of `make bench-served` (loadtests/bench_served.py).
--
-- Every request is the same, so wrk formats it once: the headers come as the script's
-- arguments ("Name: value" each, after wrk's "--"), a returning visitor's Cookie among
-- them, replayed on every request. No response() callback: parsing responses in Lua
-- would make wrk itself slower. done() prints one JSON line the driver reads.

function init(args)
  for _, line in ipairs(args) do
    local name, value = line:match("^([^:]+):%s*(.*)$")
    if name then
      wrk.headers[name] = value
    end
  end
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "socket_errors": %d, "status_errors": %d, '
      .. '"p50_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration,
    errors.connect + errors.read + errors.write + errors.timeout, errors.status,
    latency:percentile(50), latency:percentile(99), latency.max
  ))
end
