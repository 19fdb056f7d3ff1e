-- Rate limits, not the queue: takes a token from each bucket, or from none (redis-rate-buckets.ts;
-- the same GCRA step as control/rate-limits/gcra.ts) on Redis's own clock, so every gateway
-- sharing this Redis shares the buckets. Not loaded with the queue's prelude.
-- KEYS: the buckets. ARGV: per bucket, its requests per second and burst.
-- Returns { allowed (1/0), index of the bucket it speaks of (1-based), remaining, resetUs, retryAfterUs }:
-- refused, the first bucket that refused; allowed, the one nearest to refusing.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local next_tats = {}
local best, best_remaining, best_reset = 1, nil, 0
for i = 1, #KEYS do
  -- Microseconds per token, rounded as gcra.ts rounds them; the burst's span.
  local interval = math.max(1, math.floor(1000000 / tonumber(ARGV[2 * i - 1]) + 0.5))
  local span = interval * tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i]) or '0') or 0
  local base = math.max(tat, now)
  local nxt = base + interval
  local ahead = nxt - now
  if ahead > span then
    return { 0, i, 0, base - now, ahead - span }
  end
  next_tats[i] = nxt
  local remaining = math.floor((span - ahead) / interval)
  if best_remaining == nil or remaining < best_remaining then
    best, best_remaining, best_reset = i, remaining, ahead
  end
end
for i = 1, #KEYS do
  -- A bucket that is full again is the same as none: it expires then.
  redis.call('SET', KEYS[i], string.format('%.0f', next_tats[i]), 'PX', math.ceil((next_tats[i] - now) / 1000) + 1)
end
return { 1, best, best_remaining, best_reset, 0 }
