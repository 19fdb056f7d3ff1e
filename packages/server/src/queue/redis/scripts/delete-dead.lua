-- ARGV[3] deadBefore (ms, exclusive), ARGV[4] limit. Deletes the oldest dead jobs; returns how many.
local members = redis.call('ZRANGEBYSCORE', DEAD, '-inf', '(' .. ARGV[3], 'LIMIT', 0, tonumber(ARGV[4]))
for _, member in ipairs(members) do
  redis.call('ZREM', DEAD, member)
  redis.call('DEL', JOB .. id_of(member))
end
return #members
