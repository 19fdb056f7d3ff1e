-- ARGV[3] visibility timeout ms, then pairs of (id, token) from ARGV[4] on.
-- Renews every lease still held by its token; returns the ids whose lease was lost.
local expires = now_ms() + math.max(0, tonumber(ARGV[3]))
local lost = {}
for i = 4, #ARGV, 2 do
  local id = ARGV[i]
  local key = JOB .. id
  local job = leased_by(key, ARGV[i + 1])
  if job then
    -- A lease that ran out may have its next turn already: renewed, it is held again.
    unlist(job.member)
    redis.call('ZADD', LEASED, ms(expires), job.member)
    redis.call('HSET', key, 'exp', ms(expires))
  else
    lost[#lost + 1] = id
  end
end
return lost
