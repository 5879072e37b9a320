-- Count a batch of exposures and conversions of ONE experiment, each atomically with its
-- de-duplication mark, so a batch retried after a failure counts nothing twice.
--
-- KEYS[1]   the experiment's counts hash
-- KEYS[2..] per record, its shard of the marks hash in each live generation, newest first,
--           then the hash of its day's counts (a placeholder when the record has no day):
--           per arm ("arm|exposures", "arm|conv|goal", revenue) and per segment
--           ("arm|device|daypart|exposures", "...|conv|goal": the cell without its
--           channel, so channels cannot multiply a day's fields; no revenue)
-- ARGV[1]   live generations per record (each record brings that many marks keys + 1)
-- ARGV[2]   expiry of the newest generation, unix milliseconds
-- ARGV[3..] eight values per record: kind ("x" exposure, "c" conversion), cell
--           ("arm|device|daypart", or "arm|device|daypart@channel" when the rules declare
--           channels: the script never looks inside it), visitor, goal, value, value
--           squared ("" when none; squared by the client, as Lua would round it to 14
--           digits), arm, and the expiry of its day's hash in unix milliseconds ("" when
--           it has no day)
-- Returns how many records were counted; the others were duplicates.
local counts = KEYS[1]
local generations = tonumber(ARGV[1])
local expire_at = ARGV[2]
local counted = 0
local k = 2
for a = 3, #ARGV, 8 do
  local kind, cell, visitor, goal = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  local value, squared, arm, day_expiry = ARGV[a + 4], ARGV[a + 5], ARGV[a + 6], ARGV[a + 7]
  local daily = KEYS[k + generations]
  local segment = string.match(cell, '^[^@]*')  -- the cell without "@channel"
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
      if day_expiry ~= '' then
        redis.call('HINCRBY', daily, arm .. '|exposures', 1)
        redis.call('HINCRBY', daily, segment .. '|exposures', 1)
      end
    else
      redis.call('HINCRBY', counts, cell .. '|conv|' .. goal, 1)
      if day_expiry ~= '' then
        redis.call('HINCRBY', daily, arm .. '|conv|' .. goal, 1)
        redis.call('HINCRBY', daily, segment .. '|conv|' .. goal, 1)
      end
      if value ~= '' then
        redis.call('HINCRBYFLOAT', counts, cell .. '|rev|' .. goal, value)
        redis.call('HINCRBYFLOAT', counts, cell .. '|rev2|' .. goal, squared)
        if day_expiry ~= '' then
          redis.call('HINCRBYFLOAT', daily, arm .. '|rev|' .. goal, value)
          redis.call('HINCRBYFLOAT', daily, arm .. '|rev2|' .. goal, squared)
        end
      end
    end
    if day_expiry ~= '' then
      redis.call('PEXPIREAT', daily, day_expiry)
    end
    counted = counted + 1
  end
  k = k + generations + 1
end
return counted
