-- wrk script of `make bench`: one request, repeated on keep-alive
-- connections, set by environment variables (wrk has no other way in):
--   WRK_METHOD  GET (default) or POST
--   WRK_BODY    form body of a POST (application/x-www-form-urlencoded)
--   WRK_AUTH    value of the Authorization header, e.g. "Basic ..."
-- At the end it prints one line for bench/run.sh:
--   WRK requests=N seconds=S rps=R p50_ms=.. p99_ms=.. non2xx=N errors=N
local method = os.getenv("WRK_METHOD") or "GET"
local body = os.getenv("WRK_BODY")
local auth = os.getenv("WRK_AUTH")

wrk.method = method
if body and body ~= "" then
  wrk.body = body
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end
if auth and auth ~= "" then
  wrk.headers["Authorization"] = auth
end

done = function(summary, latency, requests)
  local s = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "WRK requests=%d seconds=%.3f rps=%.1f p50_ms=%.3f p99_ms=%.3f non2xx=%d errors=%d\n",
    summary.requests, s, summary.requests / s,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.status, e.connect + e.read + e.write + e.timeout))
end
