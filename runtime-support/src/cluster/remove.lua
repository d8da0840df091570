-- Forgets a call that ended, if the caller still owns it.
-- KEYS[1] the call, KEYS[2] the caller's set of owned calls; ARGV[1] the caller's id
if redis.call('HGET', KEYS[1], 'owner') == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
redis.call('SREM', KEYS[2], KEYS[1])
return 1
