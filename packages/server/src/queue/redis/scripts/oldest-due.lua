-- Ms the job due the longest has waited since it became due (an expired lease counts from its
-- expiry), or -1 when none is due.
local now = now_ms()
local since = nil
local l = redis.call('ZRANGE', LEASED, 0, 0, 'WITHSCORES')
if l[1] and tonumber(l[2]) <= now then since = tonumber(l[2]) end
local r = redis.call('ZRANGE', READY, 0, 0, 'WITHSCORES')
if r[1] and tonumber(r[2]) <= now and (since == nil or tonumber(r[2]) < since) then since = tonumber(r[2]) end
local t = redis.call('ZRANGE', TURNS_DUE, 0, 0, 'WITHSCORES')
if t[1] and (since == nil or tonumber(t[2]) < since) then since = tonumber(t[2]) end
if since == nil then return -1 end
return now - since
