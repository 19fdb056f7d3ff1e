-- ARGV[3] limit. Dead jobs, newest first (equal times: last enqueued first):
-- { { id, payload or false, error or false, attempts }, … }.
local out = {}
for _, member in ipairs(redis.call('ZREVRANGE', DEAD, 0, tonumber(ARGV[3]) - 1)) do
  local id = id_of(member)
  local job = redis.call('HMGET', JOB .. id, 'p', 'err', 'a')
  out[#out + 1] = { id, job[1] or false, job[2] or false, tonumber(job[3]) or 0 }
end
return out
