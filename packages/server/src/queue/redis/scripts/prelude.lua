-- Shared by every script of the Redis queue (redis-queue.ts puts it in front of each).
-- KEYS[1] ready:  sorted set of waiting jobs without a turn, scored by the time they are due (ms
--                 since epoch), and of leases that ran out (by their expiry), which are due again
-- KEYS[2] leased: sorted set of leased jobs, scored by the expiry of their lease; `lease` moves
--                 those that ran out to `ready` (their holder keeps them until another lease)
-- KEYS[3] dead:   sorted set of dead-lettered jobs, scored by the time they died
-- KEYS[4] seq:    counter giving each job its enqueue order
-- KEYS[5] turns:  sorted set of due jobs given a turn (`lease` moves them from `ready`), scored by
--                 it: jobs are leased by turn, so groups take turns
-- KEYS[6] turns-due: the same jobs scored by the time they became due
-- KEYS[7] groups: sorted set of groups, scored by the last turn each was given
-- KEYS[8] clock:  the turn last leased: no group's next turn comes before it
-- ARGV[1] the prefix of the job hashes (prefix .. id), ARGV[2] the time in ms, or '' for the
-- server's clock: one clock for every server sharing the queue.
-- A job is one hash: p (payload JSON; absent for undefined), st (ready|leased|dead), a (attempts
-- started), s (1 when the current lease started its attempt), exp (when the lease runs out),
-- max (attempts allowed), b (the
-- job's original maxAttempts: the budget a requeue gives), m (its member in the sorted sets:
-- 16-digit enqueue order, ':', id, so equal scores sort in enqueue order), tok (lease token),
-- err (last error), dead (when it died), enq (when it was enqueued), g (its group).
local READY, LEASED, DEAD, SEQ = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local TURNS, TURNS_DUE, GROUPS, CLOCK = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local JOB = ARGV[1]

local function now_ms()
  if ARGV[2] ~= '' then return tonumber(ARGV[2]) end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- A time as Redis reads a score: every digit (a Lua number prints with 14 at most).
local function ms(x)
  return string.format('%.0f', x)
end

-- The id a sorted-set member stands for.
local function id_of(member)
  return string.sub(member, 18)
end

-- Takes a job out of whichever set holds it: a lease that ran out may have moved to `ready`, and
-- from there to `turns`.
local function unlist(member)
  redis.call('ZREM', READY, member)
  redis.call('ZREM', LEASED, member)
  redis.call('ZREM', TURNS, member)
  redis.call('ZREM', TURNS_DUE, member)
end

local function kill(key, member, now, attempts, err)
  unlist(member)
  redis.call('ZADD', DEAD, ms(now), member)
  redis.call('HSET', key, 'st', 'dead', 'a', attempts, 's', 0, 'err', err, 'dead', ms(now))
  redis.call('HDEL', key, 'tok', 'exp')
end

-- The job's fields when `token` holds its lease, else nil: every call naming a lease is fenced here.
-- The lease stays its holder's after it ran out (in `leased` or moved to `ready`) until another
-- lease replaces it.
local function leased_by(key, token)
  local job = redis.call('HMGET', key, 'st', 'tok', 's', 'a', 'max', 'm', 'exp')
  if job[1] ~= 'leased' or job[2] ~= token then return nil end
  return {
    started = job[3] == '1',
    attempts = tonumber(job[4]),
    max = tonumber(job[5]),
    member = job[6],
    expires = tonumber(job[7]),
  }
end

-- The group's next turn, now its last: one past its last, and never before the clock (the turn
-- last leased), so a group joins the rotation where it stands rather than ahead of it for the
-- turns it did not use.
local function next_turn(group)
  local clock = tonumber(redis.call('GET', CLOCK)) or 0
  local last = tonumber(redis.call('ZSCORE', GROUPS, group))
  local turn = clock
  if last then turn = math.max(clock, last + 1) end
  redis.call('ZADD', GROUPS, ms(turn), group)
  return turn
end

-- Gives a due job its group's next turn; `due_at` is when it became due.
local function give_turn(member, group, due_at)
  redis.call('ZADD', TURNS, ms(next_turn(group)), member)
  redis.call('ZADD', TURNS_DUE, ms(due_at), member)
end

-- Jobs due without a turn (due at last, handed back, or under a lease that ran out) get their
-- group's next turns, in the order they became due (at most 1,000 per call).
local function give_turns(now)
  local became_due = redis.call('ZRANGEBYSCORE', READY, '-inf', ms(now), 'WITHSCORES', 'LIMIT', 0, 1000)
  for i = 1, #became_due, 2 do
    local member = became_due[i]
    redis.call('ZREM', READY, member)
    local job = redis.call('HMGET', JOB .. id_of(member), 'max', 'g')
    -- A member without its hash (removed by hand) has nothing to deliver. A job enqueued before
    -- groups were kept is in the group of jobs enqueued without one.
    if job[1] then give_turn(member, job[2] or '', tonumber(became_due[i + 1])) end
  end
end
