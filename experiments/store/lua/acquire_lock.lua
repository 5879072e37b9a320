-- Take a free lock, or renew it when the caller already holds it; never steal it.
-- KEYS[1] the lock; ARGV[1] owner, ARGV[2] time to live in milliseconds.
-- Returns 1 when the caller holds the lock afterwards.
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 1
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
