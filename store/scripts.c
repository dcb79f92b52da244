/* Lua scripts that change job state atomically. Read-only after st_script_init(). The contract
 * of each (keys, arguments, reply) is in its comment; docs/ARCHITECTURE.md summarises them. */
#include "store/scripts.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Published messages carry one or more frames "<stream id>\n<MessagePack event>" (MessagePack is
 * self-delimiting): a script call publishes once per channel, after its last XADD, the frames of
 * all the events it appended for that channel, in order. Scripts are atomic: Redis refuses an
 * OOM write only at a script's first write, so a call either does nothing or all of it. */
#define PUB_LUA                                                                                    \
    "local pubs, chans = {}, {}\n"                                                                 \
    "local function pub(ch, id, ev)\n"                                                             \
    "  local p = pubs[ch]\n"                                                                       \
    "  if not p then p = {}; pubs[ch] = p; chans[#chans + 1] = ch end\n"                           \
    "  p[#p + 1] = id; p[#p + 1] = '\\n'; p[#p + 1] = ev\n"                                        \
    "end\n"                                                                                        \
    "local function flush_pubs()\n"                                                                \
    "  for i = 1, #chans do redis.call('PUBLISH', chans[i], table.concat(pubs[chans[i]])) end\n"   \
    "end\n"

/* TAKE: a worker took jobs with BLMOVE and claims them (a batch: the jobs one loop iteration
 * took), and announces each: its processing_started event goes into the session stream and out on
 * its channel in the same step (one round trip less between taking a job and the client seeing
 * it start).
 * ARGV: stream MAXLEN, stream TTL s, (unused: result TTL), then per job: token (unique per
 * take), worker id, now ms, normalized job JSON, image_id, algorithm, session_id or "",
 * processing_started (MessagePack), the raw job when it had no job_id ("" otherwise: the
 * active list's entry is then replaced by the normalized job, so that whoever recovers it later
 * (the scheduler) finds the id the worker gave it), and the job id.
 * KEYS per job: job hash, algo hash, stream, channel, active list, the session's job index
 * (a job with a session is added to it, scored by its queue time, with the stream's TTL).
 * Reply: per job {state, attempt, seq, algo_seconds} with state "run", "cancelled" when the
 * job was cancelled while queued (nothing is announced then), or "duplicate" when another job
 * with this id is running or has ended (its hash says so and the claim is not ours: an entry
 * pushed with an id in use); a duplicate changes nothing, the worker drops it (DROP_DUPLICATE).
 * seq is the job's last event sequence number. Idempotent per token, so a reply lost in a
 * reconnect can be re-sent. */
static const char take_lua[] = PUB_LUA
    "local out, k, a, algos, ttl = {}, 0, 4, {}, {}\n"
    "while a <= #ARGV do\n"
    "  local h, algo = KEYS[k + 1], KEYS[k + 2]\n"
    "  local token, now = ARGV[a], ARGV[a + 2]\n"
    "  local v = redis.call('HMGET', h, 'take', 'take_state', 'attempt', 'seq', 'attempts',\n"
    "                       'cancel', 'queued_at', 'status')\n"
    "  local secs = algos[algo]\n"
    "  if not secs then secs = redis.call('HGET', algo, 'seconds') or ''; algos[algo] = secs end\n"
    "  local seq = tonumber(v[4] or '0')\n"
    "  if v[1] == token then\n"
    "    out[#out + 1] = {v[2], tonumber(v[3]), seq, secs}\n"
    "  elseif v[8] and v[8] ~= 'queued' then\n"
    "    out[#out + 1] = {'duplicate', tonumber(v[5] or '0'), seq, secs}\n"
    "  else\n"
    "    local attempt = tonumber(v[5] or '0') + 1\n"
    "    local state = v[6] == '1' and 'cancelled' or 'run'\n"
    "    if state == 'run' then\n"
    "      local s, ev = KEYS[k + 3], ARGV[a + 7]\n"
    "      seq = seq + 1\n"
    "      pub(KEYS[k + 4], redis.call('XADD', s, 'MAXLEN', '~', ARGV[1], '*', 'e', ev), ev)\n"
    "      if not ttl[s] then redis.call('EXPIRE', s, ARGV[2]); ttl[s] = true end\n"
    "    end\n"
    "    if ARGV[a + 8] ~= '' and redis.call('LREM', KEYS[k + 5], 1, ARGV[a + 8]) == 1 then\n"
    "      redis.call('LPUSH', KEYS[k + 5], ARGV[a + 3])\n"
    "    end\n"
    "    if ARGV[a + 6] ~= '' then\n"
    "      local idx = KEYS[k + 6]\n"
    "      redis.call('ZADD', idx, 'NX', tonumber(v[7] or now), ARGV[a + 9])\n"
    "      if redis.call('TTL', idx) < tonumber(ARGV[2]) then redis.call('EXPIRE', idx, ARGV[2]) "
    "end\n"
    "    end\n"
    "    redis.call('HSET', h, 'take', token, 'take_state', state, 'attempts', attempt,\n"
    "      'attempt', attempt, 'worker', ARGV[a + 1], 'started_at', now,\n"
    "      'payload', ARGV[a + 3], 'image_id', ARGV[a + 4], 'algorithm', ARGV[a + 5],\n"
    "      'session_id', ARGV[a + 6], 'progress', '0', 'seq', seq,\n"
    "      'status', state == 'run' and 'running' or 'cancelling', 'queued_at', v[7] or now)\n"
    "    out[#out + 1] = {state, attempt, seq, secs}\n"
    "  end\n"
    "  k = k + 6\n"
    "  a = a + 10\n"
    "end\n"
    "flush_pubs()\n"
    "return out\n";

/* EMIT: append events to their streams and publish them with their ids, and record job state,
 * all at once; one call carries a batch of events (the worker sends what one loop iteration
 * made). Exactly once: seq must grow per job (a re-sent event after a lost reply is a no-op), and
 * attempt must be the job's current attempt (a worker whose job was taken away is fenced off).
 * ARGV: stream MAXLEN, stream TTL s, result TTL s, then per event: kind ("p" plain, "f" full,
 * "q" progress), attempt ("" for no fencing), seq ("" for none), event (MessagePack); for "f"
 * also the raw job to remove from the active list prefixed with "=" (so that an empty payload,
 * "=", is removed too), the result, the dead-letter entry ("" for none of each); for "q" (which
 * always has a seq) the job's progress, current step and ETA (the hash fields of the same names);
 * otherwise n and n job-hash field/value strings.
 * KEYS per event: job hash, stream, channel; for "f" also active list, result key, dead list.
 * A full event also refreshes the stream's TTL (plain ones are the progress of a job whose start
 * already did). Per job and call the hash is read once, and a progress event's fields are
 * written with the job's next event of the call or at its end (only the latest counts).
 * Reply: per event the stream id, "dup" or "fenced". */
static const char emit_lua[] = PUB_LUA
    "local out, a, k, cur, pend, porder = {}, 4, 0, {}, {}, {}\n"
    "while a <= #ARGV do\n"
    "  local kind = ARGV[a]\n"
    "  local full, prog = kind == 'f', kind == 'q'\n"
    "  local h, attempt, seq, ev = KEYS[k + 1], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]\n"
    "  a = a + 4\n"
    "  local lrem, result, dead = '', '', ''\n"
    "  if full then lrem, result, dead = ARGV[a], ARGV[a + 1], ARGV[a + 2]; a = a + 3 end\n"
    "  local nf = 0\n"
    "  if prog then a = a + 3 else nf = tonumber(ARGV[a]); a = a + 1 end\n"
    "  local c = cur[h]\n"
    "  if not c then\n"
    "    local v = redis.call('HMGET', h, 'attempt', 'seq')\n"
    "    c = {v[1], tonumber(v[2] or '-1')}\n"
    "    cur[h] = c\n"
    "  end\n"
    "  local r\n"
    "  if attempt ~= '' and c[1] and c[1] ~= attempt then r = 'fenced'\n"
    "  elseif seq ~= '' and tonumber(seq) <= c[2] then r = 'dup'\n"
    "  else\n"
    "    r = redis.call('XADD', KEYS[k + 2], 'MAXLEN', '~', ARGV[1], '*', 'e', ev)\n"
    "    pub(KEYS[k + 3], r, ev)\n"
    "    if seq ~= '' then c[2] = tonumber(seq) end\n"
    "    if full then\n"
    "      redis.call('EXPIRE', KEYS[k + 2], ARGV[2])\n"
    "      if lrem ~= '' then redis.call('LREM', KEYS[k + 4], 1, string.sub(lrem, 2)) end\n"
    "      if result ~= '' then redis.call('SET', KEYS[k + 5], result, 'EX', ARGV[3]) end\n"
    "      if dead ~= '' then redis.call('LPUSH', KEYS[k + 6], dead) end\n"
    "    end\n"
    "    local q = pend[h]\n"
    "    if prog then\n"
    "      if not q then porder[#porder + 1] = h end\n"
    "      pend[h] = {seq, ARGV[a - 3], ARGV[a - 2], ARGV[a - 1]}\n"
    "    else\n"
    "      if q then\n"
    "        pend[h] = nil\n"
    "        redis.call('HSET', h, 'progress', q[2], 'current_step', q[3], 'eta_seconds', q[4],\n"
    "                   'seq', seq ~= '' and seq or q[1], unpack(ARGV, a, a + nf - 1))\n"
    "      elseif seq ~= '' then redis.call('HSET', h, 'seq', seq, unpack(ARGV, a, a + nf - 1))\n"
    "      elseif nf > 0 then redis.call('HSET', h, unpack(ARGV, a, a + nf - 1)) end\n"
    "    end\n"
    "  end\n"
    "  out[#out + 1] = r\n"
    "  a = a + nf\n"
    "  k = k + (full and 6 or 3)\n"
    "end\n"
    "for i = 1, #porder do\n"
    "  local h = porder[i]\n"
    "  local q = pend[h]\n"
    "  if q then\n"
    "    pend[h] = nil\n"
    "    redis.call('HSET', h, 'seq', q[1], 'progress', q[2], 'current_step', q[3],\n"
    "               'eta_seconds', q[4])\n"
    "  end\n"
    "end\n"
    "flush_pubs()\n"
    "return out\n";

/* session_ok(rule, job hash): whether an access token's sessions (pr_token_session_rule: ""
 * for every session, else entries joined by newlines, "x*" a prefix) include the job's. */
#define SESSION_OK_LUA                                                                             \
    "local function session_ok(rule, h)\n"                                                         \
    "  if rule == nil or rule == '' then return true end\n"                                        \
    "  local s = redis.call('HGET', h, 'session_id')\n"                                            \
    "  if not s or s == '' then return false end\n"                                                \
    "  for e in string.gmatch(rule, '[^\\n]+') do\n"                                               \
    "    if string.sub(e, -1) == '*' then\n"                                                       \
    "      local p = string.sub(e, 1, -2)\n"                                                       \
    "      if string.sub(s, 1, #p) == p then return true end\n"                                    \
    "    elseif e == s then return true end\n"                                                     \
    "  end\n"                                                                                      \
    "  return false\n"                                                                             \
    "end\n"

/* CANCEL: KEYS: job hash, cancel channel. ARGV: job id, now ms, the caller's session rule ("":
 * any session). Reply: "ok" (marked; a running job stops at its next check, a queued one is
 * skipped when taken), "unknown" (also for a job of a session the rule does not allow), or the
 * terminal status the job already has. */
static const char cancel_lua[] = SESSION_OK_LUA
    "local st = redis.call('HGET', KEYS[1], 'status')\n"
    "if not st or not session_ok(ARGV[3], KEYS[1]) then return 'unknown' end\n"
    "if st == 'complete' or st == 'failed' or st == 'cancelled' or st == 'dead' then return st "
    "end\n"
    "redis.call('HSET', KEYS[1], 'cancel', '1', 'cancel_requested_at', ARGV[2])\n"
    "redis.call('PUBLISH', KEYS[2], ARGV[1])\n"
    "return 'ok'\n";

/* REQUEUE: a worker gives a job back without an outcome (shutdown, or found in its active list
 * at start). KEYS: active list, queue, job hash. ARGV: raw job, uncount the attempt ("1"/"0").
 * Puts the job at the head of the queue (the end workers take next). Reply: 1 if it was held. */
static const char requeue_lua[] =
    "if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then return 0 end\n"
    "redis.call('RPUSH', KEYS[2], ARGV[1])\n"
    "if redis.call('EXISTS', KEYS[3]) == 1 then\n"
    "  redis.call('HSET', KEYS[3], 'status', 'queued')\n"
    "  redis.call('HDEL', KEYS[3], 'take')\n"
    "  if ARGV[2] == '1' then redis.call('HINCRBY', KEYS[3], 'attempts', -1) end\n"
    "end\n"
    "return 1\n";

/* SUBMIT: a job submitted over REST: its hash says queued before a worker sees it, so GET and
 * cancel work at once. KEYS: job hash, queue, the session's job index, the client's quota bucket,
 * the session's active set. ARGV: normalized job JSON, now ms, image_id, algorithm, session_id or
 * "", job id, index TTL s (a job with a session goes into the index at once, so the session's
 * history shows it while it is queued), submits per second ("0": no limit), burst, the most jobs
 * a session may have queued or running ("0": no limit), the job hash prefix ("<prefix>:job:").
 * Reply: the queue length after the push (the job's position, counted from the end workers take
 * last); {"duplicate", status} when this very job (same id, same normalized JSON) was submitted
 * before: a client retrying a POST whose answer it lost creates nothing; -1 when another job has
 * this id; {"rate", ms} when the client's bucket is empty (try again in ms); {"cap", n} when the
 * session has n jobs queued or running. The bucket refills continuously (rate per second, up to
 * burst) and is spent only by a job that is queued. */
static const char submit_lua[] =
    "if redis.call('EXISTS', KEYS[1]) == 1 then\n"
    "  local v = redis.call('HMGET', KEYS[1], 'payload', 'status')\n"
    "  if v[1] == ARGV[1] then return {'duplicate', v[2] or ''} end\n"
    "  return -1\n"
    "end\n"
    "local now, rate, burst = tonumber(ARGV[2]), tonumber(ARGV[8]), tonumber(ARGV[9])\n"
    "local tokens\n"
    "if rate > 0 then\n"
    "  local b = redis.call('HMGET', KEYS[4], 'tokens', 'ms')\n"
    "  tokens = tonumber(b[1]) or burst\n"
    "  local last = tonumber(b[2]) or now\n"
    "  if now > last then tokens = math.min(burst, tokens + (now - last) * rate / 1000) end\n"
    "  if tokens < 1 then return {'rate', tostring(math.ceil((1 - tokens) * 1000 / rate))} end\n"
    "end\n"
    "local cap = tonumber(ARGV[10])\n"
    "if cap > 0 and ARGV[5] ~= '' then\n"
    "  local n = 0\n"
    "  for _, id in ipairs(redis.call('SMEMBERS', KEYS[5])) do\n"
    "    local st = redis.call('HGET', ARGV[11] .. id, 'status')\n"
    "    if st == 'queued' or st == 'running' then n = n + 1\n"
    "    else redis.call('SREM', KEYS[5], id) end\n"
    "  end\n"
    "  if n >= cap then return {'cap', tostring(n)} end\n"
    "end\n"
    "if rate > 0 then\n"
    "  redis.call('HSET', KEYS[4], 'tokens', tostring(tokens - 1), 'ms', ARGV[2])\n"
    "  redis.call('PEXPIRE', KEYS[4], math.ceil(burst * 1000 / rate) + 1000)\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 'status', 'queued', 'queued_at', ARGV[2], 'payload', ARGV[1],\n"
    "  'image_id', ARGV[3], 'algorithm', ARGV[4], 'session_id', ARGV[5], 'progress', '0',\n"
    "  'attempts', '0')\n"
    "if ARGV[5] ~= '' then\n"
    "  redis.call('ZADD', KEYS[3], 'NX', ARGV[2], ARGV[6])\n"
    "  if redis.call('TTL', KEYS[3]) < tonumber(ARGV[7]) then redis.call('EXPIRE', KEYS[3], "
    "ARGV[7]) end\n"
    "  if cap > 0 then\n"
    "    redis.call('SADD', KEYS[5], ARGV[6])\n"
    "    redis.call('EXPIRE', KEYS[5], ARGV[7])\n"
    "  end\n"
    "end\n"
    "return redis.call('LPUSH', KEYS[2], ARGV[1])\n";

/* emit1(stream, channel, event, MAXLEN, TTL s or ""): appends one event to a stream and publishes
 * it as one frame with its id (for scripts that emit a single event). */
#define EMIT1_LUA                                                                                  \
    "local function emit1(stream, chan, ev, maxlen, ttl)\n"                                        \
    "  local id = redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*', 'e', ev)\n"               \
    "  if ttl ~= '' then redis.call('EXPIRE', stream, ttl) end\n"                                  \
    "  redis.call('PUBLISH', chan, id .. '\\n' .. ev)\n"                                           \
    "  return id\n"                                                                                \
    "end\n"

/* LEASE: take or renew the scheduler leader lease. KEYS: leader key. ARGV: scheduler id, lease
 * ms, "release" to give it up. Reply: 1 when this scheduler holds it (after renewing), else 0. */
static const char lease_lua[] =
    "local cur = redis.call('GET', KEYS[1])\n"
    "if ARGV[3] == 'release' then\n"
    "  if cur == ARGV[1] then redis.call('DEL', KEYS[1]) end\n"
    "  return 0\n"
    "end\n"
    "if cur == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]); return 1 end\n"
    "if not cur then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]); return 1 end\n"
    "return 0\n";

/* RECOVER: one job left in the active list of a worker whose heartbeat expired. Only the lease
 * holder may, and only while the worker is still gone and the job's attempt count is what the
 * caller read (else "stale": read again). A job that was taken (status running or cancelling)
 * counts as an attempt: below the limit it goes back to the head of the queue (status queued,
 * its attempt fenced off so that the lost worker cannot record an outcome if it comes back) with
 * the requeue event; at the limit it goes to the dead-letter list (status dead, WORKER_LOST) with
 * the failure event. A job never taken (no hash, or still queued) just goes back.
 * KEYS: leader, worker hash, active list, queue, job hash, stream, channel, dead list.
 * ARGV: scheduler id, raw job, attempts read ("" when no hash), max attempts, now ms, stream
 * MAXLEN, stream TTL s, requeue event, dead event (MessagePack), dead-letter entry, worker id,
 * error text.
 * Reply: "notleader", "alive", "stale", "gone" (not in the list any more), "requeued" (never
 * taken), "ended" (it had an outcome: only removed), "retry" (requeued as an attempt), "dead". */
static const char recover_lua[] = EMIT1_LUA
    "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 'notleader' end\n"
    "if redis.call('EXISTS', KEYS[2]) == 1 then return 'alive' end\n"
    "local v = redis.call('HMGET', KEYS[5], 'status', 'attempts')\n"
    "local st, n = v[1], v[2] or '0'\n"
    "if (st and ARGV[3] ~= n) or (not st and ARGV[3] ~= '') then return 'stale' end\n"
    "if redis.call('LREM', KEYS[3], 1, ARGV[2]) == 0 then return 'gone' end\n"
    "if not st or st == 'queued' then redis.call('RPUSH', KEYS[4], ARGV[2]); return 'requeued' "
    "end\n"
    "if st ~= 'running' and st ~= 'cancelling' then return 'ended' end\n"
    "if tonumber(n) < tonumber(ARGV[4]) then\n"
    "  redis.call('RPUSH', KEYS[4], ARGV[2])\n"
    "  redis.call('HSET', KEYS[5], 'status', 'queued', 'attempt', '0', 'progress', '0',\n"
    "             'requeued_at', ARGV[5], 'lost_worker', ARGV[11])\n"
    "  redis.call('HDEL', KEYS[5], 'take', 'worker')\n"
    "  emit1(KEYS[6], KEYS[7], ARGV[8], ARGV[6], ARGV[7])\n"
    "  return 'retry'\n"
    "end\n"
    "redis.call('LPUSH', KEYS[8], ARGV[10])\n"
    "redis.call('HSET', KEYS[5], 'status', 'dead', 'attempt', '0', 'error_code', 'WORKER_LOST',\n"
    "           'error', ARGV[12], 'finished_at', ARGV[5], 'lost_worker', ARGV[11])\n"
    "redis.call('HDEL', KEYS[5], 'take')\n"
    "emit1(KEYS[6], KEYS[7], ARGV[9], ARGV[6], ARGV[7])\n"
    "return 'dead'\n";

/* FORGET: drop a lost worker from the registry once its active list is empty.
 * KEYS: leader, worker hash, active list, workers set. ARGV: scheduler id, worker id.
 * Reply: "notleader", "alive", "busy" (jobs left), "forgotten". */
static const char forget_lua[] =
    "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 'notleader' end\n"
    "if redis.call('EXISTS', KEYS[2]) == 1 then return 'alive' end\n"
    "if redis.call('LLEN', KEYS[3]) > 0 then return 'busy' end\n"
    "redis.call('SREM', KEYS[4], ARGV[2])\n"
    "return 'forgotten'\n";

/* TIMEOUT: a running job whose progress has not moved for its timeout ends as failed TIMEOUT; its
 * attempt is fenced off (the worker's late outcome is refused) and the worker is told to cancel.
 * KEYS: leader, active list, job hash, stream, channel, cancel channel.
 * ARGV: scheduler id, raw job, attempt read, event (MessagePack), now ms, stream MAXLEN, stream
 * TTL s, job id, error text.
 * Reply: "notleader", "stale" (another attempt, or it ended meanwhile), "gone", "timeout". */
static const char timeout_lua[] = EMIT1_LUA
    "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 'notleader' end\n"
    "local v = redis.call('HMGET', KEYS[3], 'status', 'attempt')\n"
    "if v[1] ~= 'running' or v[2] ~= ARGV[3] then return 'stale' end\n"
    "if redis.call('LREM', KEYS[2], 1, ARGV[2]) == 0 then return 'gone' end\n"
    "redis.call('HSET', KEYS[3], 'status', 'failed', 'attempt', '0', 'error_code', 'TIMEOUT',\n"
    "           'error', ARGV[9], 'finished_at', ARGV[5], 'cancel', '1')\n"
    "emit1(KEYS[4], KEYS[5], ARGV[4], ARGV[6], ARGV[7])\n"
    "redis.call('PUBLISH', KEYS[6], ARGV[8])\n"
    "return 'timeout'\n";

/* EXPIRE_ENDED: housekeeping over keys found by SCAN. KEYS: job hashes or session streams.
 * ARGV: TTL s, "job" (only hashes of ended jobs: complete, failed, cancelled, dead) or "stream"
 * (any stream). Keys that already have a TTL are left alone. Reply: how many got one. */
static const char expire_ended_lua[] =
    "local n, ended = 0, {complete = 1, failed = 1, cancelled = 1, dead = 1}\n"
    "for i = 1, #KEYS do\n"
    "  if redis.call('TTL', KEYS[i]) == -1 then\n"
    "    local ok = ARGV[2] == 'stream' and redis.call('TYPE', KEYS[i]).ok == 'stream'\n"
    "    if ARGV[2] == 'job' and redis.call('TYPE', KEYS[i]).ok == 'hash' then\n"
    "      ok = ended[redis.call('HGET', KEYS[i], 'status') or ''] ~= nil\n"
    "    end\n"
    "    if ok then redis.call('EXPIRE', KEYS[i], ARGV[1]); n = n + 1 end\n"
    "  end\n"
    "end\n"
    "return n\n";

/* Finds the dead-letter entry of a job (entries are JSON objects with job_id). */
#define DEAD_FIND_LUA                                                                              \
    "local function dead_find(list, job_id)\n"                                                     \
    "  for _, e in ipairs(redis.call('LRANGE', list, 0, -1)) do\n"                                 \
    "    local ok, d = pcall(cjson.decode, e)\n"                                                   \
    "    if ok and type(d) == 'table' and d.job_id == job_id then return e, d end\n"               \
    "  end\n"                                                                                      \
    "end\n"

/* RETRY: KEYS: job hash, queue, dead list. ARGV: max attempts, now ms, job id, the caller's
 * session rule (as CANCEL's).
 * Re-enqueues a failed or cancelled job (same job id) as a new attempt, while attempts are left.
 * A dead job (lost with its worker on its last attempt) starts over: its dead-letter entry goes
 * and its attempts are reset. Reply: "ok", "unknown", "limit" (attempts used up), or
 * "status:<s>" when the job is not failed, cancelled or dead. */
static const char retry_lua[] = DEAD_FIND_LUA SESSION_OK_LUA
    "local h = KEYS[1]\n"
    "local st = redis.call('HGET', h, 'status')\n"
    "if not st or not session_ok(ARGV[4], h) then return 'unknown' end\n"
    "if st ~= 'failed' and st ~= 'cancelled' and st ~= 'dead' then return 'status:' .. st end\n"
    "if st == 'dead' then\n"
    "  local e = dead_find(KEYS[3], ARGV[3])\n"
    "  if e then redis.call('LREM', KEYS[3], 1, e) end\n"
    "  redis.call('HSET', h, 'attempts', '0')\n"
    "elseif tonumber(redis.call('HGET', h, 'attempts') or '0') >= tonumber(ARGV[1]) then\n"
    "  return 'limit'\n"
    "end\n"
    "redis.call('HDEL', h, 'cancel', 'error', 'error_code', 'finished_at', 'take')\n"
    "redis.call('HSET', h, 'status', 'queued', 'queued_at', ARGV[2], 'progress', '0')\n"
    "redis.call('PERSIST', h)\n"
    "redis.call('LPUSH', KEYS[2], redis.call('HGET', h, 'payload'))\n"
    "return 'ok'\n";

/* DEAD_REQUEUE: a dead job goes back to the queue with its attempts reset.
 * KEYS: dead list, queue, job hash. ARGV: job id, now ms.
 * Reply: "ok", "unknown" (no dead-letter entry for it), "noraw" (the entry holds no job that can
 * run again, e.g. it was not JSON: purge it instead). */
static const char dead_requeue_lua[] = DEAD_FIND_LUA
    "local e, d = dead_find(KEYS[1], ARGV[1])\n"
    "if not e then return 'unknown' end\n"
    "local raw = d.raw\n"
    "if type(raw) ~= 'string' then return 'noraw' end\n"
    "redis.call('LREM', KEYS[1], 1, e)\n"
    "redis.call('LPUSH', KEYS[2], raw)\n"
    "if redis.call('EXISTS', KEYS[3]) == 1 then\n"
    "  redis.call('HDEL', KEYS[3], 'cancel', 'error', 'error_code', 'finished_at', 'take')\n"
    "  redis.call('HSET', KEYS[3], 'status', 'queued', 'queued_at', ARGV[2], 'attempts', '0',\n"
    "             'progress', '0', 'attempt', '0')\n"
    "  redis.call('PERSIST', KEYS[3])\n"
    "end\n"
    "return 'ok'\n";

/* DEAD_PURGE: removes a job's dead-letter entry, or all of them (ARGV[1] == ""). KEYS: dead list.
 * ARGV: job id or "". Reply: how many entries went. */
static const char dead_purge_lua[] = DEAD_FIND_LUA "if ARGV[1] == '' then\n"
                                                   "  local n = redis.call('LLEN', KEYS[1])\n"
                                                   "  redis.call('DEL', KEYS[1])\n"
                                                   "  return n\n"
                                                   "end\n"
                                                   "local e = dead_find(KEYS[1], ARGV[1])\n"
                                                   "if not e then return 0 end\n"
                                                   "return redis.call('LREM', KEYS[1], 1, e)\n";

/* DROP_DUPLICATE: a taken entry whose id belongs to another job (TAKE said "duplicate"): out of
 * the worker's active list and into the dead letters, the other job untouched. KEYS: active
 * list, dead list. ARGV: the raw entry, the dead-letter entry. Reply: 1 if it was held. */
static const char drop_duplicate_lua[] =
    "if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then return 0 end\n"
    "redis.call('LPUSH', KEYS[2], ARGV[2])\n"
    "return 1\n";

/* SESSION_JOBS: a page of a session's jobs, newest first. KEYS: the session's job index. ARGV:
 * job key prefix ("<prefix>:job:"), cursor (0: the newest page; else the number of entries
 * older than the previous page, an index from the oldest that new jobs do not move), limit,
 * then the hash fields to return (the first must be status). Reply: {total, next cursor (0 on
 * the last page), {job id, field values...}...}; ids whose hash expired leave the index. */
static const char session_jobs_lua[] =
    "local total = redis.call('ZCARD', KEYS[1])\n"
    "local cursor, limit = tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local older = (cursor > 0 and cursor < total) and cursor or total\n"
    "local lo = older - limit\n"
    "if lo < 0 then lo = 0 end\n"
    "local out = {total, lo}\n"
    "if older == 0 then return out end\n"
    "local ids = redis.call('ZRANGE', KEYS[1], lo, older - 1)\n"
    "for i = #ids, 1, -1 do\n"
    "  local v = redis.call('HMGET', ARGV[1] .. ids[i], unpack(ARGV, 4))\n"
    "  if v[1] then\n"
    "    local row = {ids[i]}\n"
    "    for j = 1, #v do row[j + 1] = v[j] or '' end\n"
    "    out[#out + 1] = row\n"
    "  else\n"
    "    redis.call('ZREM', KEYS[1], ids[i])\n"
    "  end\n"
    "end\n"
    "return out\n";

static struct st_script scripts[] = {
    [ST_SCRIPT_TAKE] = {"take", take_lua, ""},
    [ST_SCRIPT_EMIT] = {"emit", emit_lua, ""},
    [ST_SCRIPT_CANCEL] = {"cancel", cancel_lua, ""},
    [ST_SCRIPT_RETRY] = {"retry", retry_lua, ""},
    [ST_SCRIPT_REQUEUE] = {"requeue", requeue_lua, ""},
    [ST_SCRIPT_SUBMIT] = {"submit", submit_lua, ""},
    [ST_SCRIPT_LEASE] = {"lease", lease_lua, ""},
    [ST_SCRIPT_RECOVER] = {"recover", recover_lua, ""},
    [ST_SCRIPT_FORGET] = {"forget", forget_lua, ""},
    [ST_SCRIPT_TIMEOUT] = {"timeout", timeout_lua, ""},
    [ST_SCRIPT_EXPIRE_ENDED] = {"expire_ended", expire_ended_lua, ""},
    [ST_SCRIPT_DEAD_REQUEUE] = {"dead_requeue", dead_requeue_lua, ""},
    [ST_SCRIPT_DEAD_PURGE] = {"dead_purge", dead_purge_lua, ""},
    [ST_SCRIPT_DROP_DUPLICATE] = {"drop_duplicate", drop_duplicate_lua, ""},
    [ST_SCRIPT_SESSION_JOBS] = {"session_jobs", session_jobs_lua, ""},
};

void st_sha1_hex(const void *data, size_t len, char out[41])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (!EVP_Digest(data, len, md, &n, EVP_sha1(), NULL) || n != 20)
        abort(); /* only without a working libcrypto */
    for (unsigned i = 0; i < 20; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

void st_script_init(void)
{
    for (int i = 0; i < ST_SCRIPT__COUNT; i++) {
        if (!scripts[i].sha1[0])
            st_sha1_hex(scripts[i].body, strlen(scripts[i].body), scripts[i].sha1);
    }
}

const struct st_script *st_script(enum st_script_id id)
{
    return (unsigned)id < ST_SCRIPT__COUNT ? &scripts[id] : NULL;
}
