-- ARGV[3] id, ARGV[4] payload JSON ('' for undefined), ARGV[5] maxAttempts, ARGV[6] runAt ('' = now),
-- ARGV[7] group
-- Returns 1 when enqueued, 0 when a job with this id exists (waiting, leased or dead).
local id = ARGV[3]
local key = JOB .. id
if redis.call('EXISTS', key) == 1 then return 0 end
local now = now_ms()
local due = now
if ARGV[6] ~= '' then due = tonumber(ARGV[6]) end
local member = string.format('%016d', redis.call('INCR', SEQ)) .. ':' .. id
redis.call('HSET', key, 'st', 'ready', 'a', 0, 's', 0, 'max', ARGV[5], 'b', ARGV[5], 'm', member, 'enq', ms(now), 'g', ARGV[7])
if ARGV[4] ~= '' then redis.call('HSET', key, 'p', ARGV[4]) end
-- A job due now gets its turn with it, whatever else waits for one; one due later gets it from
-- the first `lease` after it comes due.
if due <= now then give_turn(member, ARGV[7], due) else redis.call('ZADD', READY, ms(due), member) end
return 1
