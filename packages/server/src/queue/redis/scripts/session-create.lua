-- Console sessions, not the queue (redis-session-store.ts): stores a new session and keeps at most
-- a number of live sessions per API key, so one key's sign-ins cannot fill the Redis every
-- gateway's queue lives in (the oldest of that key's sessions end first). Not loaded with the
-- queue's prelude.
-- KEYS[1]: the session's key; KEYS[2]: the key's set of sessions (member: session hash, score: expiry).
-- ARGV: the session (JSON), its TTL in ms, its expiry (ms), now (ms), its hash, the most per key,
-- and the prefix of session keys: the ended ones are named from it, under the same hash tag as
-- KEYS (one Redis Cluster slot).
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[4])
-- Scores rise with each session, so the oldest ends first: sessions made in the same millisecond
-- would tie, and ties go by the hash, not by age. One made within a millisecond of the last is
-- scored a millisecond later (it leaves the set that much after its key expired: harmless).
local score = tonumber(ARGV[3])
local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
if last[2] and tonumber(last[2]) >= score then score = tonumber(last[2]) + 1 end
redis.call('ZADD', KEYS[2], score, ARGV[5])
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[6])
if over > 0 then
  for _, hash in ipairs(redis.call('ZRANGE', KEYS[2], 0, over - 1)) do
    redis.call('DEL', ARGV[7] .. hash)
  end
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, over - 1)
end
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return over
