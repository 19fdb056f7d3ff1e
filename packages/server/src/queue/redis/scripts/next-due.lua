-- Ms until the next job is due: 0 when one is (an expired lease counts), -1 when none waits
-- (jobs under a live lease are not waiting).
local now = now_ms()
if redis.call('ZCARD', TURNS) > 0 then return 0 end
local l = redis.call('ZRANGE', LEASED, 0, 0, 'WITHSCORES')
if l[1] and tonumber(l[2]) <= now then return 0 end
local r = redis.call('ZRANGE', READY, 0, 0, 'WITHSCORES')
if not r[1] then return -1 end
return math.max(0, tonumber(r[2]) - now)
