-- Count a batch of exposures and conversions of ONE experiment, each atomically with its
-- de-duplication mark, so a batch retried after a failure counts nothing twice.
--
-- KEYS[1]   the experiment's counts hash
-- KEYS[2..] per record, its shard of the marks hash in each live generation, newest first
-- ARGV[1]   live generations per record (the number of marks keys each record brings)
-- ARGV[2]   expiry of the newest generation, unix milliseconds
-- ARGV[3..] six values per record: kind ("x" exposure, "c" conversion), cell
--           ("arm|device|daypart"), visitor, goal, value, value squared ("" when none;
--           squared by the client, as Lua would round it to 14 digits)
-- Returns how many records were counted; the others were duplicates.
local counts = KEYS[1]
local generations = tonumber(ARGV[1])
local expire_at = ARGV[2]
local counted = 0
local k = 2
for a = 3, #ARGV, 6 do
  local kind, cell, visitor, goal = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  local mark = visitor
  if kind == 'c' then
    mark = visitor .. '|' .. goal
  end
  local seen = 0
  for g = 0, generations - 1 do
    seen = redis.call('HEXISTS', KEYS[k + g], mark)
    if seen == 1 then
      break
    end
  end
  if seen == 0 then
    redis.call('HSET', KEYS[k], mark, 1)
    redis.call('PEXPIREAT', KEYS[k], expire_at)
    if kind == 'x' then
      redis.call('HINCRBY', counts, cell .. '|exposures', 1)
    else
      redis.call('HINCRBY', counts, cell .. '|conv|' .. goal, 1)
      local value = ARGV[a + 4]
      if value ~= '' then
        redis.call('HINCRBYFLOAT', counts, cell .. '|rev|' .. goal, value)
        redis.call('HINCRBYFLOAT', counts, cell .. '|rev2|' .. goal, ARGV[a + 5])
      end
    end
    counted = counted + 1
  end
  k = k + generations
end
return counted
