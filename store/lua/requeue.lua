-- REQUEUE: a worker gives a job back without an outcome (shutdown, or found in its active list
-- at start). KEYS: active list, queue, job hash. ARGV: raw job, uncount the attempt ("1"/"0").
-- Puts the job at the head of the queue (the end workers take next). Reply: 1 if it was held.
--! keys: active queue job
--! argv: raw_job uncount
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[1])
if redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('HSET', KEYS[3], 'status', 'queued')
  redis.call('HDEL', KEYS[3], 'take')
  if ARGV[2] == '1' then redis.call('HINCRBY', KEYS[3], 'attempts', -1) end
end
return 1
