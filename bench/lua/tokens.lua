-- wrk script for make bench: each request carries the next token of a file.
--
--   BENCH_TOKENS  file with one JWT per line (required)
--   BENCH_PATH    request path (default "/")
--   BENCH_START   how many tokens an earlier wrk run (the warm-up) already used; this run starts
--                 after them, so a token reaches Envoy once unless the file runs out (default 0)
--
-- Requests are formatted once, up front, so the load generator spends its time sending. At the
-- end the script prints "tokens: used=U available=N wrapped=yes|no": wrapped=yes means tokens
-- were sent twice, and a cache could have answered the second time.

bench_path = os.getenv("BENCH_PATH") or "/"
bench_file = os.getenv("BENCH_TOKENS")
bench_start = tonumber(os.getenv("BENCH_START") or "0")

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  bench_requests = {}
  bench_count = 0
  for line in io.lines(bench_file) do
    if line ~= "" then
      bench_count = bench_count + 1
      bench_requests[bench_count] = wrk.format("GET", bench_path, {["authorization"] = "Bearer " .. line})
    end
  end
  assert(bench_count > 0, "no tokens in " .. tostring(bench_file))
  bench_next = bench_start
end

function request()
  local index = bench_next % bench_count + 1
  bench_next = bench_next + 1
  return bench_requests[index]
end

function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    local next, count = thread:get("bench_next"), thread:get("bench_count")
    local wrapped = next > count and "yes" or "no"
    io.write(string.format("tokens: used=%d available=%d wrapped=%s\n", next, count, wrapped))
  end
end
