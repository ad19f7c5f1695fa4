-- Memory: each connection follows its own rotation chain (the old refresh token dies), so the
-- mock must forget dead tokens to stay flat. One connection per thread keeps the chain serial.
-- The run is cut into segments: done() prints each chain's current refresh token for the next.
local threads = {}
local counter = 1

function setup(thread)
  local tokens = {}
  for t in string.gmatch(os.getenv("BENCH_RTS"), "[^,]+") do table.insert(tokens, t) end
  thread:set("rt", tokens[counter])
  thread:set("errors", 0)
  counter = counter + 1
  table.insert(threads, thread)
end

function request()
  return wrk.format("POST", os.getenv("BENCH_PATH") or "/oauth2/token",
    {["Content-Type"] = "application/x-www-form-urlencoded",
     ["Authorization"] = "Basic " .. os.getenv("BENCH_BASIC")},
    "grant_type=refresh_token&refresh_token=" .. rt)
end

function response(status, headers, body)
  if status ~= 200 then
    errors = errors + 1
    wrk.thread:stop()
    return
  end
  rt = string.match(body, '"refresh_token"%s*:%s*"([^"]+)"')
end

function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    io.write(string.format("chain %s %d\n", thread:get("rt"), thread:get("errors")))
  end
end
