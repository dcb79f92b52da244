/* Lua scripts that change job state atomically. Read-only after cm_scripts_init(). The contract
 * of each (keys, arguments, reply) is in its comment; docs/ARCHITECTURE.md summarises them. */
#include "common/scripts.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
static const char take_lua[] =
    "local out, k, a = {}, 0, 4\n"
    "while a <= #ARGV do\n"
    "  local h, algo = KEYS[k + 1], KEYS[k + 2]\n"
    "  local token, ev = ARGV[a], ARGV[a + 7]\n"
    "  if redis.call('HGET', h, 'take') == token then\n"
    "    out[#out + 1] = {redis.call('HGET', h, 'take_state'),\n"
    "                     tonumber(redis.call('HGET', h, 'attempt')),\n"
    "                     tonumber(redis.call('HGET', h, 'seq') or '0'),\n"
    "                     redis.call('HGET', algo, 'seconds') or ''}\n"
    "  else\n"
    "    local attempt = tonumber(redis.call('HGET', h, 'attempts') or '0') + 1\n"
    "    local seq = tonumber(redis.call('HGET', h, 'seq') or '0')\n"
    "    local state = 'run'\n"
    "    if redis.call('HGET', h, 'cancel') == '1' then state = 'cancelled' end\n"
    "    if state == 'run' then\n"
    "      seq = seq + 1\n"
    "      local id = redis.call('XADD', KEYS[k + 3], 'MAXLEN', '~', ARGV[1], '*', 'e', ev)\n"
    "      redis.call('EXPIRE', KEYS[k + 3], ARGV[2])\n"
    "      redis.call('PUBLISH', KEYS[k + 4], id .. '\\n' .. ev)\n"
    "    end\n"
    "    redis.call('HSET', h, 'take', token, 'take_state', state, 'attempts', attempt,\n"
    "      'attempt', attempt, 'worker', ARGV[a + 1], 'started_at', ARGV[a + 2],\n"
    "      'payload', ARGV[a + 3], 'image_id', ARGV[a + 4], 'algorithm', ARGV[a + 5],\n"
    "      'session_id', ARGV[a + 6], 'progress', '0', 'seq', seq,\n"
    "      'status', state == 'run' and 'running' or 'cancelling')\n"
    "    if redis.call('HEXISTS', h, 'queued_at') == 0 then\n"
    "      redis.call('HSET', h, 'queued_at', ARGV[a + 2])\n"
    "    end\n"
    "    out[#out + 1] = {state, attempt, seq, redis.call('HGET', algo, 'seconds') or ''}\n"
    "  end\n"
    "  k = k + 4\n"
    "  a = a + 8\n"
    "end\n"
    "return out\n";

/* EMIT: append events to their streams and publish each with its id, and record job state, all
 * at once; one call carries a batch of events (the worker sends what one loop iteration made).
 * Exactly once: seq must grow per job (a re-sent event after a lost reply is a no-op), and
 * attempt must be the job's current attempt (a worker whose job was taken away is fenced off).
 * ARGV: stream MAXLEN, stream TTL s, result TTL s, then per event: kind ("p" plain, "f" full,
 * "q" progress), attempt ("" for no fencing), seq ("" for none), event (MessagePack); for "f"
 * also the raw job to remove from the active list, the result, the dead-letter entry ("" for none
 * of each); for "q" the job's progress, current step and ETA (the hash fields of the same names);
 * otherwise n and n job-hash field/value strings.
 * KEYS per event: job hash, stream, channel; for "f" also active list, result key, dead list.
 * A full event also refreshes the stream's TTL (plain ones are the progress of a job whose start
 * already did). Published message: "<stream id>\n<event>".
 * Reply: per event the stream id, "dup" or "fenced". */
static const char emit_lua[] =
    "local out, a, k = {}, 4, 0\n"
    "while a <= #ARGV do\n"
    "  local kind = ARGV[a]\n"
    "  local full, prog = kind == 'f', kind == 'q'\n"
    "  local h, attempt, seq, ev = KEYS[k + 1], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]\n"
    "  a = a + 4\n"
    "  local lrem, result, dead = '', '', ''\n"
    "  if full then lrem, result, dead = ARGV[a], ARGV[a + 1], ARGV[a + 2]; a = a + 3 end\n"
    "  local nf = 0\n"
    "  if prog then a = a + 3 else nf = tonumber(ARGV[a]); a = a + 1 end\n"
    "  local cur = redis.call('HMGET', h, 'attempt', 'seq')\n"
    "  local r\n"
    "  if attempt ~= '' and cur[1] and cur[1] ~= attempt then r = 'fenced'\n"
    "  elseif seq ~= '' and tonumber(seq) <= tonumber(cur[2] or '-1') then r = 'dup'\n"
    "  else\n"
    "    r = redis.call('XADD', KEYS[k + 2], 'MAXLEN', '~', ARGV[1], '*', 'e', ev)\n"
    "    redis.call('PUBLISH', KEYS[k + 3], r .. '\\n' .. ev)\n"
    "    if full then\n"
    "      redis.call('EXPIRE', KEYS[k + 2], ARGV[2])\n"
    "      if lrem ~= '' then redis.call('LREM', KEYS[k + 4], 1, lrem) end\n"
    "      if result ~= '' then redis.call('SET', KEYS[k + 5], result, 'EX', ARGV[3]) end\n"
    "      if dead ~= '' then redis.call('LPUSH', KEYS[k + 6], dead) end\n"
    "    end\n"
    "    if prog then\n"
    "      redis.call('HSET', h, 'seq', seq, 'progress', ARGV[a - 3], 'current_step', ARGV[a - "
    "2],\n"
    "                 'eta_seconds', ARGV[a - 1])\n"
    "    elseif seq ~= '' then redis.call('HSET', h, 'seq', seq, unpack(ARGV, a, a + nf - 1))\n"
    "    elseif nf > 0 then redis.call('HSET', h, unpack(ARGV, a, a + nf - 1)) end\n"
    "  end\n"
    "  out[#out + 1] = r\n"
    "  a = a + nf\n"
    "  k = k + (full and 6 or 3)\n"
    "end\n"
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

static struct cm_script scripts[] = {
    [CM_SCRIPT_TAKE] = {"take", take_lua, ""},
    [CM_SCRIPT_EMIT] = {"emit", emit_lua, ""},
    [CM_SCRIPT_CANCEL] = {"cancel", cancel_lua, ""},
    [CM_SCRIPT_RETRY] = {"retry", retry_lua, ""},
    [CM_SCRIPT_REQUEUE] = {"requeue", requeue_lua, ""},
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
