-- DEAD_PURGE: removes a job's dead-letter entry, or all of them (ARGV[1] == ""). KEYS: dead list.
-- ARGV: job id or "". Reply: how many entries went.
--! keys: dead
--! argv: job_id
--! uses: dead_find
if ARGV[1] == '' then
  local n = redis.call('LLEN', KEYS[1])
  redis.call('DEL', KEYS[1])
  return n
end
local e = dead_find(KEYS[1], ARGV[1])
if not e then return 0 end
return redis.call('LREM', KEYS[1], 1, e)
