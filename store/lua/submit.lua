-- SUBMIT: a job submitted over REST: its hash says queued before a worker sees it, so GET and
-- cancel work at once. KEYS: job hash, queue, the session's job index, the client's quota bucket,
-- the session's active set. ARGV: normalized job JSON, now ms, image_id, algorithm, session_id or
-- "", job id, index TTL s (a job with a session goes into the index at once, so the session's
-- history shows it while it is queued), submits per second ("0": no limit), burst, the most jobs
-- a session may have queued or running ("0": no limit), the job hash prefix ("<prefix>:job:").
-- Reply: the queue length after the push (the job's position, counted from the end workers take
-- last); {"duplicate", status} when this very job (same id, same normalized JSON) was submitted
-- before: a client retrying a POST whose answer it lost creates nothing; -1 when another job has
-- this id; {"rate", ms} when the client's bucket is empty (try again in ms); {"cap", n} when the
-- session has n jobs queued or running. The bucket refills continuously (rate per second, up to
-- burst) and is spent only by a job that is queued.
--! keys: job queue session_jobs quota session_active
--! argv: job_json now_ms image_id algorithm session_id job_id index_ttl_s rate burst session_cap job_prefix
if redis.call('EXISTS', KEYS[1]) == 1 then
  local v = redis.call('HMGET', KEYS[1], 'payload', 'status')
  if v[1] == ARGV[1] then return {'duplicate', v[2] or ''} end
  return -1
end
local now, rate, burst = tonumber(ARGV[2]), tonumber(ARGV[8]), tonumber(ARGV[9])
local tokens
if rate > 0 then
  local b = redis.call('HMGET', KEYS[4], 'tokens', 'ms')
  tokens = tonumber(b[1]) or burst
  local last = tonumber(b[2]) or now
  if now > last then tokens = math.min(burst, tokens + (now - last) * rate / 1000) end
  if tokens < 1 then return {'rate', tostring(math.ceil((1 - tokens) * 1000 / rate))} end
end
local cap = tonumber(ARGV[10])
if cap > 0 and ARGV[5] ~= '' then
  local n = 0
  for _, id in ipairs(redis.call('SMEMBERS', KEYS[5])) do
    local st = redis.call('HGET', ARGV[11] .. id, 'status')
    if st == 'queued' or st == 'running' then n = n + 1
    else redis.call('SREM', KEYS[5], id) end
  end
  if n >= cap then return {'cap', tostring(n)} end
end
if rate > 0 then
  redis.call('HSET', KEYS[4], 'tokens', tostring(tokens - 1), 'ms', ARGV[2])
  redis.call('PEXPIRE', KEYS[4], math.ceil(burst * 1000 / rate) + 1000)
end
redis.call('HSET', KEYS[1], 'status', 'queued', 'queued_at', ARGV[2], 'payload', ARGV[1],
  'image_id', ARGV[3], 'algorithm', ARGV[4], 'session_id', ARGV[5], 'progress', '0',
  'attempts', '0')
if ARGV[5] ~= '' then
  redis.call('ZADD', KEYS[3], 'NX', ARGV[2], ARGV[6])
  if redis.call('TTL', KEYS[3]) < tonumber(ARGV[7]) then redis.call('EXPIRE', KEYS[3], ARGV[7]) end
  if cap > 0 then
    redis.call('SADD', KEYS[5], ARGV[6])
    redis.call('EXPIRE', KEYS[5], ARGV[7])
  end
end
return redis.call('LPUSH', KEYS[2], ARGV[1])
