-- Compare-and-set of a rollout state on its version.
-- KEYS[1] the state hash (fields: version, doc)
-- ARGV[1] the version the writer read ("" when it read no state), ARGV[2] the new
-- version, ARGV[3] the new document (JSON). Returns 1 when written, 0 when stale.
local current = redis.call('HGET', KEYS[1], 'version')
if ARGV[1] == '' then
  if current then
    return 0
  end
elseif current ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'version', ARGV[2], 'doc', ARGV[3])
return 1
