-- ARGV[3] deadAt (ms), ARGV[4] tiebreak: a member of DEAD, or '' for before every job of that
-- time; ARGV[5] limit. Dead jobs after that place, oldest first (one time: in member order, as
-- the set keeps them): { { id, payload or false, error or false, attempts, deadAt, member }, … }.
local from, after, limit = tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
local out = {}
local offset = 0
while #out < limit do
  local batch = redis.call('ZRANGEBYSCORE', DEAD, ARGV[3], '+inf', 'WITHSCORES', 'LIMIT', offset, limit)
  if #batch == 0 then break end
  for i = 1, #batch, 2 do
    local member, score = batch[i], batch[i + 1]
    -- The jobs of the place's own time up to its member were walked already.
    if tonumber(score) > from or member > after then
      local id = id_of(member)
      local job = redis.call('HMGET', JOB .. id, 'p', 'err', 'a')
      out[#out + 1] = { id, job[1] or false, job[2] or false, tonumber(job[3]) or 0, score, member }
      if #out == limit then break end
    end
  end
  offset = offset + #batch / 2
end
return out
