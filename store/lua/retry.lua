-- RETRY: KEYS: job hash, queue, dead list. ARGV: max attempts, now ms, job id, the caller's
-- session rule (as CANCEL's).
-- Re-enqueues a failed or cancelled job (same job id) as a new attempt, while attempts are left.
-- A dead job (lost with its worker on its last attempt) starts over: its dead-letter entry goes
-- and its attempts are reset. Reply: "ok", "unknown", "limit" (attempts used up), or
-- "status:<s>" when the job is not failed, cancelled or dead.
--! keys: job queue dead
--! argv: max_attempts now_ms job_id session_rule
--! uses: dead_find session_ok
local h = KEYS[1]
local st = redis.call('HGET', h, 'status')
if not st or not session_ok(ARGV[4], h) then return 'unknown' end
if st ~= 'failed' and st ~= 'cancelled' and st ~= 'dead' then return 'status:' .. st end
if st == 'dead' then
  local e = dead_find(KEYS[3], ARGV[3])
  if e then redis.call('LREM', KEYS[3], 1, e) end
  redis.call('HSET', h, 'attempts', '0')
elseif tonumber(redis.call('HGET', h, 'attempts') or '0') >= tonumber(ARGV[1]) then
  return 'limit'
end
redis.call('HDEL', h, 'cancel', 'error', 'error_code', 'finished_at', 'take')
redis.call('HSET', h, 'status', 'queued', 'queued_at', ARGV[2], 'progress', '0')
redis.call('PERSIST', h)
redis.call('LPUSH', KEYS[2], redis.call('HGET', h, 'payload'))
return 'ok'
