-- ARGV[3] id, ARGV[4] token, ARGV[5] error, ARGV[6] '1' retryable / '0' not,
-- ARGV[7] base delay ms, ARGV[8] max delay ms, ARGV[9] the fraction of the delay jitter takes off.
-- Returns { 'lease_lost' } | { 'dead_lettered' } | { 'retrying', runAt }.
local key = JOB .. ARGV[3]
local job = leased_by(key, ARGV[4])
if not job then return { 'lease_lost' } end
local now = now_ms()
-- A failure before the attempt started (the job could not even be set up) still counts.
local attempts = job.attempts
if not job.started then attempts = attempts + 1 end
if ARGV[6] == '0' or attempts >= job.max then
  kill(key, job.member, now, attempts, ARGV[5])
  return { 'dead_lettered' }
end
-- backoff.ts's backoffDelayMs: base * 2^(attempt - 1), capped, minus the jitter, rounded.
local delay = math.min(tonumber(ARGV[8]), tonumber(ARGV[7]) * 2 ^ math.max(0, attempts - 1))
delay = math.max(0, math.floor(delay - delay * tonumber(ARGV[9]) + 0.5))
local run_at = now + delay
unlist(job.member)
redis.call('ZADD', READY, ms(run_at), job.member)
redis.call('HSET', key, 'st', 'ready', 'a', attempts, 's', 0, 'err', ARGV[5])
redis.call('HDEL', key, 'tok', 'exp')
return { 'retrying', run_at }
