-- RECOVER: one job left in the active list of a worker whose heartbeat expired. Only the lease
-- holder may, and only while the worker is still gone and the job's attempt count is what the
-- caller read (else "stale": read again). A job that was taken (status running or cancelling)
-- counts as an attempt: below the limit it goes back to the head of the queue (status queued,
-- its attempt fenced off so that the lost worker cannot record an outcome if it comes back) with
-- the requeue event; at the limit it goes to the dead-letter list (status dead, WORKER_LOST) with
-- the failure event. A job never taken (no hash, or still queued) just goes back.
-- KEYS: leader, worker hash, active list, queue, job hash, stream, channel, dead list.
-- ARGV: scheduler id, raw job, attempts read ("" when no hash), max attempts, now ms, stream
-- MAXLEN, stream TTL s, requeue event, dead event (MessagePack), dead-letter entry, worker id,
-- error text.
-- Reply: "notleader", "alive", "stale", "gone" (not in the list any more), "requeued" (never
-- taken), "ended" (it had an outcome: only removed), "retry" (requeued as an attempt), "dead".
--! keys: leader worker active queue job stream channel dead
--! argv: scheduler_id raw_job attempts_read max_attempts now_ms stream_maxlen stream_ttl_s requeue_event dead_event dead_entry worker_id error
--! uses: emit1
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 'notleader' end
if redis.call('EXISTS', KEYS[2]) == 1 then return 'alive' end
local v = redis.call('HMGET', KEYS[5], 'status', 'attempts')
local st, n = v[1], v[2] or '0'
if (st and ARGV[3] ~= n) or (not st and ARGV[3] ~= '') then return 'stale' end
if redis.call('LREM', KEYS[3], 1, ARGV[2]) == 0 then return 'gone' end
if not st or st == 'queued' then redis.call('RPUSH', KEYS[4], ARGV[2]); return 'requeued' end
if st ~= 'running' and st ~= 'cancelling' then return 'ended' end
if tonumber(n) < tonumber(ARGV[4]) then
  redis.call('RPUSH', KEYS[4], ARGV[2])
  redis.call('HSET', KEYS[5], 'status', 'queued', 'attempt', '0', 'progress', '0',
             'requeued_at', ARGV[5], 'lost_worker', ARGV[11])
  redis.call('HDEL', KEYS[5], 'take', 'worker')
  emit1(KEYS[6], KEYS[7], ARGV[8], ARGV[6], ARGV[7])
  return 'retry'
end
redis.call('LPUSH', KEYS[8], ARGV[10])
redis.call('HSET', KEYS[5], 'status', 'dead', 'attempt', '0', 'error_code', 'WORKER_LOST',
           'error', ARGV[12], 'finished_at', ARGV[5], 'lost_worker', ARGV[11])
redis.call('HDEL', KEYS[5], 'take')
emit1(KEYS[6], KEYS[7], ARGV[9], ARGV[6], ARGV[7])
return 'dead'
