-- TIMEOUT: a running job whose progress has not moved for its timeout ends as failed TIMEOUT; its
-- attempt is fenced off (the worker's late outcome is refused) and the worker is told to cancel.
-- KEYS: leader, active list, job hash, stream, channel, cancel channel.
-- ARGV: scheduler id, raw job, attempt read, event (MessagePack), now ms, stream MAXLEN, stream
-- TTL s, job id, error text.
-- Reply: "notleader", "stale" (another attempt, or it ended meanwhile), "gone", "timeout".
--! keys: leader active job stream channel cancel_channel
--! argv: scheduler_id raw_job attempt_read event now_ms stream_maxlen stream_ttl_s job_id error
--! uses: emit1
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 'notleader' end
local v = redis.call('HMGET', KEYS[3], 'status', 'attempt')
if v[1] ~= 'running' or v[2] ~= ARGV[3] then return 'stale' end
if redis.call('LREM', KEYS[2], 1, ARGV[2]) == 0 then return 'gone' end
redis.call('HSET', KEYS[3], 'status', 'failed', 'attempt', '0', 'error_code', 'TIMEOUT',
           'error', ARGV[9], 'finished_at', ARGV[5], 'cancel', '1')
emit1(KEYS[4], KEYS[5], ARGV[4], ARGV[6], ARGV[7])
redis.call('PUBLISH', KEYS[6], ARGV[8])
return 'timeout'
