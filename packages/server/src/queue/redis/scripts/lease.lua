-- ARGV[3] limit, ARGV[4] visibility timeout ms, ARGV[5] token prefix (a token is prefix.n),
-- ARGV[6] JSON array of groups to skip, ARGV[7] of keys to skip ('' for none), ARGV[8] how many
-- due jobs past `limit` to look at when skipping.
-- Leases up to `limit` due jobs by turn, enqueue order breaking ties, leaving skipped ones as
-- they are. Returns { leaseExpiresAt, { { id, payload or false, attempt, maxAttempts, token,
-- group or false, key or false }, … } }.
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
local skip_groups, skip_keys = {}, {}
local skipping = false
for _, name in ipairs(ARGV[6] ~= '' and cjson.decode(ARGV[6]) or {}) do skip_groups[name], skipping = true, true end
for _, name in ipairs(ARGV[7] ~= '' and cjson.decode(ARGV[7]) or {}) do skip_keys[name], skipping = true, true end
local window = limit
if skipping then window = limit + tonumber(ARGV[8]) end

local out = {}
local last_turn = nil
local turns = redis.call('ZRANGE', TURNS, 0, window - 1, 'WITHSCORES')
for i = 1, #turns, 2 do
  if #out >= limit then break end
  local member = turns[i]
  local id = id_of(member)
  local key = JOB .. id
  local job = redis.call('HMGET', key, 'a', 'max', 'p', 'g', 'k')
  -- A skipped job keeps its turn; one without its hash (removed by hand) has nothing to deliver.
  if not (job[2] and (skip_groups[job[4] or ''] or (job[5] and skip_keys[job[5]]))) then
    redis.call('ZREM', TURNS, member)
    redis.call('ZREM', TURNS_DUE, member)
    last_turn = turns[i + 1]
    if job[2] then
      local token = ARGV[5] .. '.' .. (#out + 1)
      redis.call('ZADD', LEASED, ms(expires), member)
      redis.call('HSET', key, 'st', 'leased', 'tok', token, 's', 0, 'exp', ms(expires))
      out[#out + 1] = { id, job[3] or false, tonumber(job[1]) + 1, tonumber(job[2]), token, job[4] or false, job[5] or false }
    end
  end
end
if last_turn then
  local turn = tonumber(last_turn)
  if turn > (tonumber(redis.call('GET', CLOCK)) or 0) then redis.call('SET', CLOCK, ms(turn)) end
  -- A group whose last turn the clock passed would start at the clock anyway.
  redis.call('ZREMRANGEBYSCORE', GROUPS, '-inf', '(' .. ms(turn))
end
return { expires, out }
