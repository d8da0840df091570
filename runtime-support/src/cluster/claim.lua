-- Takes a call of a dead instance: a compare-and-set on its owner and epoch, so that of
-- several instances claiming it at once exactly one wins.
-- KEYS[1] the call, KEYS[2] the dead instance's set of owned calls, KEYS[3] the
-- claimer's set, KEYS[4] the dead instance's liveness key
-- ARGV[1] the dead instance's id, ARGV[2] the epoch read, ARGV[3] the claimer's id
-- Returns {epoch, written_ms, snapshot} to the winner, nil to anyone else.
if ARGV[1] ~= ARGV[3] and redis.call('EXISTS', KEYS[4]) == 1 then
  -- It came back.
  return nil
end
local call = redis.call('HMGET', KEYS[1], 'owner', 'epoch', 'written_ms', 'snapshot')
if call[1] ~= ARGV[1] then
  -- Ended, or taken already: nothing of the dead instance's any more.
  redis.call('SREM', KEYS[2], KEYS[1])
  return nil
end
if call[2] ~= ARGV[2] then
  return nil
end
local epoch = tonumber(call[2]) + 1
redis.call('HSET', KEYS[1], 'owner', ARGV[3], 'epoch', epoch)
redis.call('SREM', KEYS[2], KEYS[1])
redis.call('SADD', KEYS[3], KEYS[1])
return {epoch, call[3], call[4]}
