-- DEAD_REQUEUE: a dead job goes back to the queue with its attempts reset.
-- KEYS: dead list, queue, job hash. ARGV: job id, now ms.
-- Reply: "ok", "unknown" (no dead-letter entry for it), "noraw" (the entry holds no job that can
-- run again, e.g. it was not JSON: purge it instead).
--! keys: dead queue job
--! argv: job_id now_ms
--! uses: dead_find
local e, d = dead_find(KEYS[1], ARGV[1])
if not e then return 'unknown' end
local raw = d.raw
if type(raw) ~= 'string' then return 'noraw' end
redis.call('LREM', KEYS[1], 1, e)
redis.call('LPUSH', KEYS[2], raw)
if redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('HDEL', KEYS[3], 'cancel', 'error', 'error_code', 'finished_at', 'take')
  redis.call('HSET', KEYS[3], 'status', 'queued', 'queued_at', ARGV[2], 'attempts', '0',
             'progress', '0', 'attempt', '0')
  redis.call('PERSIST', KEYS[3])
end
return 'ok'
