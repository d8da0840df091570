-- Takes a call of a dead instance: a compare-and-set on its owner and epoch, so that of
-- several instances claiming it at once exactly one wins. The other leg of a bridged
-- call goes with it, so that one instance restores both and bridges them again.
-- KEYS[1] the call, KEYS[2] the dead instance's set of owned calls, KEYS[3] the
-- claimer's set, KEYS[4] the dead instance's liveness key
-- ARGV[1] the dead instance's id, ARGV[2] the epoch read, ARGV[3] the claimer's id
-- Returns to the winner {key, epoch, written_ms, snapshot} for the call and, when its
-- other leg was the dead instance's too, the same four for that leg; nil to anyone else.
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
local function take(key, epoch)
  epoch = tonumber(epoch) + 1
  redis.call('HSET', key, 'owner', ARGV[3], 'epoch', epoch)
  redis.call('SREM', KEYS[2], key)
  redis.call('SADD', KEYS[3], key)
  return tostring(epoch)
end
local won = {KEYS[1], take(KEYS[1], call[2]), call[3], call[4]}
local peer = redis.call('HGET', KEYS[1], 'peer')
if peer and peer ~= '' then
  local leg = redis.call('HMGET', peer, 'owner', 'epoch', 'written_ms', 'snapshot')
  if leg[1] == ARGV[1] then
    for _, field in ipairs({peer, take(peer, leg[2]), leg[3], leg[4]}) do
      table.insert(won, field)
    end
  end
end
return won
