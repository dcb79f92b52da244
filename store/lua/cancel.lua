-- CANCEL: KEYS: job hash, cancel channel. ARGV: job id, now ms, the caller's session rule ("":
-- any session). Reply: "ok" (marked; a running job stops at its next check, a queued one is
-- skipped when taken), "unknown" (also for a job of a session the rule does not allow), or the
-- terminal status the job already has.
--! keys: job cancel_channel
--! argv: job_id now_ms session_rule
--! uses: session_ok
local st = redis.call('HGET', KEYS[1], 'status')
if not st or not session_ok(ARGV[3], KEYS[1]) then return 'unknown' end
if st == 'complete' or st == 'failed' or st == 'cancelled' or st == 'dead' then return st end
redis.call('HSET', KEYS[1], 'cancel', '1', 'cancel_requested_at', ARGV[2])
redis.call('PUBLISH', KEYS[2], ARGV[1])
return 'ok'
