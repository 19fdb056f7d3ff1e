-- ARGV[3] id, ARGV[4] token. Removes the job: 1, or 0 when the lease was lost.
local key = JOB .. ARGV[3]
local job = leased_by(key, ARGV[4])
if not job then return 0 end
unlist(job.member)
redis.call('DEL', key)
return 1
