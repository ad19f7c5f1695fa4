-- Throughput: the same refresh grant over and over (the client keeps its old refresh token
-- valid, so every request does the full work of issuing a new pair).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. os.getenv("BENCH_BASIC")
wrk.path = os.getenv("BENCH_PATH") or "/oauth2/token"
wrk.body = "grant_type=refresh_token&refresh_token=" .. os.getenv("BENCH_RT")
