-- ARGV[3] id, ARGV[4] token, ARGV[5] runAt ('' = now). Hands the job back uncounted: 1, or 0
-- when the lease was lost.
local key = JOB .. ARGV[3]
local job = leased_by(key, ARGV[4])
if not job then return 0 end
local due = now_ms()
if ARGV[5] ~= '' then due = tonumber(ARGV[5]) end
unlist(job.member)
redis.call('ZADD', READY, ms(due), job.member)
redis.call('HSET', key, 'st', 'ready', 's', 0)
redis.call('HDEL', key, 'tok', 'exp')
return 1
