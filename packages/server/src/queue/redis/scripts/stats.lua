-- Returns { ready, delayed, leased, dead }. A lease that ran out counts as ready: its job is
-- deliverable again.
local now = now_ms()
local live = redis.call('ZCOUNT', LEASED, '(' .. ms(now), '+inf')
local expired = redis.call('ZCARD', LEASED) - live
return {
  redis.call('ZCARD', READY) + redis.call('ZCARD', TURNS) + expired,
  redis.call('ZCOUNT', READY, '(' .. ms(now), '+inf'),
  live,
  redis.call('ZCARD', DEAD),
}
