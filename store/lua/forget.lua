-- FORGET: drop a lost worker from the registry once its active list is empty.
-- KEYS: leader, worker hash, active list, workers set. ARGV: scheduler id, worker id.
-- Reply: "notleader", "alive", "busy" (jobs left), "forgotten".
--! keys: leader worker active workers
--! argv: scheduler_id worker_id
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 'notleader' end
if redis.call('EXISTS', KEYS[2]) == 1 then return 'alive' end
if redis.call('LLEN', KEYS[3]) > 0 then return 'busy' end
redis.call('SREM', KEYS[4], ARGV[2])
return 'forgotten'
