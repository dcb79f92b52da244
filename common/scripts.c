/* Lua scripts that change job state atomically. Read-only after cm_scripts_init(). The contract
 * of each (keys, arguments, reply) is in its comment; docs/ARCHITECTURE.md summarises them. */
#include "common/scripts.h"

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
 * processing_started (MessagePack).
 * KEYS per job: job hash, algo hash, stream, channel.
 * Reply: per job {state, attempt, seq, algo_seconds} with state "run", or "cancelled" when the
 * job was cancelled while queued (nothing is announced then); seq is the job's last event
 * sequence number. Idempotent per token, so a reply lost in a reconnect can be re-sent. */
static const char take_lua[] = PUB_LUA
    "local out, k, a, algos, ttl = {}, 0, 4, {}, {}\n"
    "while a <= #ARGV do\n"
    "  local h, algo = KEYS[k + 1], KEYS[k + 2]\n"
    "  local token, now = ARGV[a], ARGV[a + 2]\n"
    "  local v = redis.call('HMGET', h, 'take', 'take_state', 'attempt', 'seq', 'attempts',\n"
    "                       'cancel', 'queued_at')\n"
    "  local secs = algos[algo]\n"
    "  if not secs then secs = redis.call('HGET', algo, 'seconds') or ''; algos[algo] = secs end\n"
    "  local seq = tonumber(v[4] or '0')\n"
    "  if v[1] == token then\n"
    "    out[#out + 1] = {v[2], tonumber(v[3]), seq, secs}\n"
    "  else\n"
    "    local attempt = tonumber(v[5] or '0') + 1\n"
    "    local state = v[6] == '1' and 'cancelled' or 'run'\n"
    "    if state == 'run' then\n"
    "      local s, ev = KEYS[k + 3], ARGV[a + 7]\n"
    "      seq = seq + 1\n"
    "      pub(KEYS[k + 4], redis.call('XADD', s, 'MAXLEN', '~', ARGV[1], '*', 'e', ev), ev)\n"
    "      if not ttl[s] then redis.call('EXPIRE', s, ARGV[2]); ttl[s] = true end\n"
    "    end\n"
    "    redis.call('HSET', h, 'take', token, 'take_state', state, 'attempts', attempt,\n"
    "      'attempt', attempt, 'worker', ARGV[a + 1], 'started_at', now,\n"
    "      'payload', ARGV[a + 3], 'image_id', ARGV[a + 4], 'algorithm', ARGV[a + 5],\n"
    "      'session_id', ARGV[a + 6], 'progress', '0', 'seq', seq,\n"
    "      'status', state == 'run' and 'running' or 'cancelling', 'queued_at', v[7] or now)\n"
    "    out[#out + 1] = {state, attempt, seq, secs}\n"
    "  end\n"
    "  k = k + 4\n"
    "  a = a + 8\n"
    "end\n"
    "flush_pubs()\n"
    "return out\n";

/* EMIT: append events to their streams and publish them with their ids, and record job state,
 * all at once; one call carries a batch of events (the worker sends what one loop iteration
 * made). Exactly once: seq must grow per job (a re-sent event after a lost reply is a no-op), and
 * attempt must be the job's current attempt (a worker whose job was taken away is fenced off).
 * ARGV: stream MAXLEN, stream TTL s, result TTL s, then per event: kind ("p" plain, "f" full,
 * "q" progress), attempt ("" for no fencing), seq ("" for none), event (MessagePack); for "f"
 * also the raw job to remove from the active list, the result, the dead-letter entry ("" for none
 * of each); for "q" (which always has a seq) the job's progress, current step and ETA (the hash
 * fields of the same names);
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
    "      if lrem ~= '' then redis.call('LREM', KEYS[k + 4], 1, lrem) end\n"
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

/* CANCEL: KEYS: job hash, cancel channel. ARGV: job id, now ms.
 * Reply: "ok" (marked; a running job stops at its next check, a queued one is skipped when
 * taken), "unknown", or the terminal status the job already has. */
static const char cancel_lua[] =
    "local st = redis.call('HGET', KEYS[1], 'status')\n"
    "if not st then return 'unknown' end\n"
    "if st == 'complete' or st == 'failed' or st == 'cancelled' or st == 'dead' then return st "
    "end\n"
    "redis.call('HSET', KEYS[1], 'cancel', '1', 'cancel_requested_at', ARGV[2])\n"
    "redis.call('PUBLISH', KEYS[2], ARGV[1])\n"
    "return 'ok'\n";

/* RETRY: KEYS: job hash, queue. ARGV: max attempts, now ms.
 * Re-enqueues a failed or cancelled job (same job id) as a new attempt. Reply: "ok", "unknown",
 * "limit" (attempts used up), or "status:<s>" when the job is not failed or cancelled. */
static const char retry_lua[] =
    "local h = KEYS[1]\n"
    "local st = redis.call('HGET', h, 'status')\n"
    "if not st then return 'unknown' end\n"
    "if st ~= 'failed' and st ~= 'cancelled' then return 'status:' .. st end\n"
    "if tonumber(redis.call('HGET', h, 'attempts') or '0') >= tonumber(ARGV[1]) then return "
    "'limit' end\n"
    "redis.call('HDEL', h, 'cancel', 'error', 'error_code', 'finished_at', 'take')\n"
    "redis.call('HSET', h, 'status', 'queued', 'queued_at', ARGV[2], 'progress', '0')\n"
    "redis.call('LPUSH', KEYS[2], redis.call('HGET', h, 'payload'))\n"
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
 * cancel work at once. KEYS: job hash, queue. ARGV: normalized job JSON, now ms, image_id,
 * algorithm, session_id or "". Reply: the queue length after the push (the job's position,
 * counted from the end workers take last), or -1 when a job with this id already exists. */
static const char submit_lua[] =
    "if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end\n"
    "redis.call('HSET', KEYS[1], 'status', 'queued', 'queued_at', ARGV[2], 'payload', ARGV[1],\n"
    "  'image_id', ARGV[3], 'algorithm', ARGV[4], 'session_id', ARGV[5], 'progress', '0',\n"
    "  'attempts', '0')\n"
    "return redis.call('LPUSH', KEYS[2], ARGV[1])\n";

static struct cm_script scripts[] = {
    [CM_SCRIPT_TAKE] = {"take", take_lua, ""},
    [CM_SCRIPT_EMIT] = {"emit", emit_lua, ""},
    [CM_SCRIPT_CANCEL] = {"cancel", cancel_lua, ""},
    [CM_SCRIPT_RETRY] = {"retry", retry_lua, ""},
    [CM_SCRIPT_REQUEUE] = {"requeue", requeue_lua, ""},
    [CM_SCRIPT_SUBMIT] = {"submit", submit_lua, ""},
};

void cm_sha1_hex(const void *data, size_t len, char out[41])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (!EVP_Digest(data, len, md, &n, EVP_sha1(), NULL) || n != 20)
        abort(); /* only without a working libcrypto */
    for (unsigned i = 0; i < 20; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

void cm_scripts_init(void)
{
    for (int i = 0; i < CM_SCRIPT__COUNT; i++) {
        if (!scripts[i].sha1[0])
            cm_sha1_hex(scripts[i].body, strlen(scripts[i].body), scripts[i].sha1);
    }
}

const struct cm_script *cm_script(enum cm_script_id id)
{
    return (unsigned)id < CM_SCRIPT__COUNT ? &scripts[id] : NULL;
}
