-- TAKE: a worker took jobs with BLMOVE and claims them (a batch: the jobs one loop iteration
-- took), and announces each: its processing_started event goes into the session stream and out on
-- its channel in the same step (one round trip less between taking a job and the client seeing
-- it start).
-- ARGV: stream MAXLEN, stream TTL s, (unused: result TTL), then per job: token (unique per
-- take), worker id, now ms, normalized job JSON, image_id, algorithm, session_id or "",
-- processing_started (MessagePack), the raw job when it had no job_id ("" otherwise: the
-- active list's entry is then replaced by the normalized job, so that whoever recovers it later
-- (the scheduler) finds the id the worker gave it), and the job id.
-- KEYS per job: job hash, algo hash, stream, channel, active list, the session's job index
-- (a job with a session is added to it, scored by its queue time, with the stream's TTL).
-- Reply: per job {state, attempt, seq, algo_seconds} with state "run", "cancelled" when the
-- job was cancelled while queued (nothing is announced then), or "duplicate" when another job
-- with this id is running or has ended (its hash says so and the claim is not ours: an entry
-- pushed with an id in use); a duplicate changes nothing, the worker drops it (DROP_DUPLICATE).
-- seq is the job's last event sequence number. Idempotent per token, so a reply lost in a
-- reconnect can be re-sent.
--! argv: stream_maxlen stream_ttl_s result_ttl_unused
--! item keys: job algo stream channel active session_jobs
--! item argv: token worker_id now_ms job_json image_id algorithm session_id started_event raw_job job_id
--! uses: pub
local out, k, a, algos, ttl = {}, 0, 4, {}, {}
while a <= #ARGV do
  local h, algo = KEYS[k + 1], KEYS[k + 2]
  local token, now = ARGV[a], ARGV[a + 2]
  local v = redis.call('HMGET', h, 'take', 'take_state', 'attempt', 'seq', 'attempts',
                       'cancel', 'queued_at', 'status')
  local secs = algos[algo]
  if not secs then secs = redis.call('HGET', algo, 'seconds') or ''; algos[algo] = secs end
  local seq = tonumber(v[4] or '0')
  if v[1] == token then
    out[#out + 1] = {v[2], tonumber(v[3]), seq, secs}
  elseif v[8] and v[8] ~= 'queued' then
    out[#out + 1] = {'duplicate', tonumber(v[5] or '0'), seq, secs}
  else
    local attempt = tonumber(v[5] or '0') + 1
    local state = v[6] == '1' and 'cancelled' or 'run'
    if state == 'run' then
      local s, ev = KEYS[k + 3], ARGV[a + 7]
      seq = seq + 1
      pub(KEYS[k + 4], redis.call('XADD', s, 'MAXLEN', '~', ARGV[1], '*', 'e', ev), ev)
      if not ttl[s] then redis.call('EXPIRE', s, ARGV[2]); ttl[s] = true end
    end
    if ARGV[a + 8] ~= '' and redis.call('LREM', KEYS[k + 5], 1, ARGV[a + 8]) == 1 then
      redis.call('LPUSH', KEYS[k + 5], ARGV[a + 3])
    end
    if ARGV[a + 6] ~= '' then
      local idx = KEYS[k + 6]
      redis.call('ZADD', idx, 'NX', tonumber(v[7] or now), ARGV[a + 9])
      if redis.call('TTL', idx) < tonumber(ARGV[2]) then redis.call('EXPIRE', idx, ARGV[2]) end
    end
    redis.call('HSET', h, 'take', token, 'take_state', state, 'attempts', attempt,
      'attempt', attempt, 'worker', ARGV[a + 1], 'started_at', now,
      'payload', ARGV[a + 3], 'image_id', ARGV[a + 4], 'algorithm', ARGV[a + 5],
      'session_id', ARGV[a + 6], 'progress', '0', 'seq', seq,
      'status', state == 'run' and 'running' or 'cancelling', 'queued_at', v[7] or now)
    out[#out + 1] = {state, attempt, seq, secs}
  end
  k = k + 6
  a = a + 10
end
flush_pubs()
return out
