-- ARGV[3] limit, ARGV[4] visibility timeout ms, ARGV[5] token prefix (a token is prefix.n)
-- Leases up to `limit` due jobs by turn, enqueue order breaking ties.
-- Returns { leaseExpiresAt, { { id, payload or false, attempt, maxAttempts, token }, … } }.
local now = now_ms()
local limit = tonumber(ARGV[3])
local expires = now + math.max(0, tonumber(ARGV[4]))

-- Leases that ran out become due again at their expiry, except one that ran out on the last
-- allowed attempt, started: that job is dead-lettered (a job that kills its consumer would
-- otherwise come back forever). One that ran out unstarted comes back as the same attempt. Each
-- lease is moved once; a bounded batch per call keeps any one call short.
for _, member in ipairs(redis.call('ZRANGEBYSCORE', LEASED, '-inf', ms(now), 'LIMIT', 0, 1000)) do
  local key = JOB .. id_of(member)
  local job = redis.call('HMGET', key, 'a', 'max', 's', 'exp')
  redis.call('ZREM', LEASED, member)
  if job[2] then
    local attempts, max = tonumber(job[1]), tonumber(job[2])
    if job[3] == '1' and attempts >= max then
      kill(key, member, now, attempts, 'Lease expired on attempt ' .. attempts .. ' of ' .. max
        .. ': the consumer stopped or ran past its lease')
    else
      redis.call('ZADD', READY, job[4] or ms(now), member)
    end
  end
end

-- Jobs due without a turn, the leases moved above among them, get their groups' next turns.
give_turns(now)

-- The jobs with a turn as they are now: a job leased below is not due again within this call,
-- however short its lease.
local out = {}
local turns = redis.call('ZRANGE', TURNS, 0, limit - 1, 'WITHSCORES')
for i = 1, #turns, 2 do
  local member = turns[i]
  local id = id_of(member)
  local key = JOB .. id
  local job = redis.call('HMGET', key, 'a', 'max', 'p')
  redis.call('ZREM', TURNS, member)
  redis.call('ZREM', TURNS_DUE, member)
  -- A member without its hash (removed by hand) has nothing to deliver.
  if job[2] then
    local token = ARGV[5] .. '.' .. (#out + 1)
    redis.call('ZADD', LEASED, ms(expires), member)
    redis.call('HSET', key, 'st', 'leased', 'tok', token, 's', 0, 'exp', ms(expires))
    out[#out + 1] = { id, job[3] or false, tonumber(job[1]) + 1, tonumber(job[2]), token }
  end
end
if #turns > 0 then
  local turn = tonumber(turns[#turns])
  if turn > (tonumber(redis.call('GET', CLOCK)) or 0) then redis.call('SET', CLOCK, ms(turn)) end
  -- A group whose last turn the clock passed would start at the clock anyway.
  redis.call('ZREMRANGEBYSCORE', GROUPS, '-inf', '(' .. ms(turn))
end
return { expires, out }
