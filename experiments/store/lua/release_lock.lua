-- Release a lock only for its owner: a worker whose lock expired and was taken by
-- another must not delete the new holder's lock.
-- KEYS[1] the lock; ARGV[1] owner. Returns 1 when released.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
