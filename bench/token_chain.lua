-- Memory: each connection follows its own rotation chain (the old refresh token dies), so the
-- mock must forget dead tokens to stay flat. One connection per thread keeps the chain serial.
local threads = {}
local counter = 1

function setup(thread)
  local tokens = {}
  for t in string.gmatch(os.getenv("BENCH_RTS"), "[^,]+") do table.insert(tokens, t) end
  thread:set("rt", tokens[counter])
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  done_count = 0
  errors = 0
  limit = tonumber(os.getenv("BENCH_PER_THREAD"))
end

function request()
  return wrk.format("POST", "/oauth2/token",
    {["Content-Type"] = "application/x-www-form-urlencoded",
     ["Authorization"] = "Basic " .. os.getenv("BENCH_BASIC")},
    "grant_type=refresh_token&refresh_token=" .. rt)
end

function response(status, headers, body)
  done_count = done_count + 1
  if status ~= 200 then
    errors = errors + 1
    wrk.thread:stop()
    return
  end
  rt = string.match(body, '"refresh_token"%s*:%s*"([^"]+)"')
  if done_count >= limit then wrk.thread:stop() end
end

function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    io.write(string.format("chain-errors %d\n", thread:get("errors")))
  end
end
