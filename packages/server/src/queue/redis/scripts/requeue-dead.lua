-- ARGV[3] id, ARGV[4] visibility timeout ms, ARGV[5] token.
-- Takes a dead job back under an unstarted lease held by the caller, with a fresh budget on top of
-- the attempts it used. Returns { id, payload or false, attempt, maxAttempts, token, expiresAt },
-- or false when no dead job has this id.
local id = ARGV[3]
local key = JOB .. id
local job = redis.call('HMGET', key, 'st', 'a', 'b', 'max', 'm', 'p')
if job[1] ~= 'dead' then return false end
local attempts = tonumber(job[2])
local max = attempts + tonumber(job[3] or job[4])
local expires = now_ms() + math.max(0, tonumber(ARGV[4]))
redis.call('ZREM', DEAD, job[5])
redis.call('ZADD', LEASED, ms(expires), job[5])
redis.call('HSET', key, 'st', 'leased', 'tok', ARGV[5], 's', 0, 'max', max, 'exp', ms(expires))
redis.call('HDEL', key, 'dead')
return { id, job[6] or false, attempts + 1, max, ARGV[5], expires }
