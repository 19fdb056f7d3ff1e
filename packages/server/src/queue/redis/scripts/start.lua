-- ARGV[3] id, ARGV[4] token. Starts the leased job's attempt: 1, or 0 when the lease was lost or ran out.
local key = JOB .. ARGV[3]
local job = leased_by(key, ARGV[4])
if not job then return 0 end
if job.started then return 1 end
-- A lease that ran out may be taken by the next `lease` call of anyone: too late to start.
if not job.expires or job.expires <= now_ms() then return 0 end
redis.call('HSET', key, 'a', job.attempts + 1, 's', 1)
return 1
