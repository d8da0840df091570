-- Writes a call's snapshot under the caller's ownership: a compare-and-set on the
-- owner and the epoch the caller holds (0: a call new to the store).
-- KEYS[1] the call, KEYS[2] the caller's set of owned calls
-- ARGV[1] the caller's id, ARGV[2] its epoch, ARGV[3] written_ms, ARGV[4] the snapshot,
-- ARGV[5] the key of the call's other leg when it is bridged to one, else ''
-- Returns the epoch now held, or 0 when the call belongs to another instance.
local owner = redis.call('HGET', KEYS[1], 'owner')
local epoch = tonumber(ARGV[2])
if owner then
  if owner ~= ARGV[1] or tonumber(redis.call('HGET', KEYS[1], 'epoch')) ~= epoch then
    return 0
  end
elseif epoch ~= 0 then
  -- Held once and gone since: another instance took the call and ended it.
  return 0
else
  epoch = 1
end
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'epoch', epoch,
  'written_ms', ARGV[3], 'snapshot', ARGV[4], 'peer', ARGV[5])
redis.call('SADD', KEYS[2], KEYS[1])
return epoch
