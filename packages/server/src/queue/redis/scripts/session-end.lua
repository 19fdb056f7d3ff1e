-- Console sessions, not the queue (redis-session-store.ts): ends a session, and takes it out of its
-- key's set (session-create.lua) so it no longer counts against the key's most. Not loaded with
-- the queue's prelude.
-- KEYS[1]: the session's key. ARGV: the prefix of the keys' sets (same hash tag), the session's hash.
local stored = redis.call('GET', KEYS[1])
if stored then
  local ok, session = pcall(cjson.decode, stored)
  if ok and type(session) == 'table' and type(session.keyHash) == 'string' then
    redis.call('ZREM', ARGV[1] .. session.keyHash, ARGV[2])
  end
end
return redis.call('DEL', KEYS[1])
