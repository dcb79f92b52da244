-- EMIT: append events to their streams and publish them with their ids, and record job state,
-- all at once; one call carries a batch of events (the worker sends what one loop iteration
-- made). Exactly once: seq must grow per job (a re-sent event after a lost reply is a no-op), and
-- attempt must be the job's current attempt (a worker whose job was taken away is fenced off).
-- ARGV: stream MAXLEN, stream TTL s, result TTL s, then per event: kind ("p" plain, "f" full,
-- "q" progress), attempt ("" for no fencing), seq ("" for none), event (MessagePack); for "f"
-- also the raw job to remove from the active list prefixed with "=" (so that an empty payload,
-- "=", is removed too), the result, the dead-letter entry ("" for none of each); for "q" (which
-- always has a seq) the job's progress, current step and ETA (the hash fields of the same names);
-- otherwise n and n job-hash field/value strings.
-- KEYS per event: job hash, stream, channel; for "f" also active list, result key, dead list.
-- A full event also refreshes the stream's TTL (plain ones are the progress of a job whose start
-- already did). Per job and call the hash is read once, and a progress event's fields are
-- written with the job's next event of the call or at its end (only the latest counts).
-- Reply: per event the stream id, "dup" or "fenced".
--! argv: stream_maxlen stream_ttl_s result_ttl_s
--! item p keys: job stream channel
--! item p argv: kind attempt seq event nfields ...
--! item f keys: job stream channel active result dead
--! item f argv: kind attempt seq event lrem result dead_entry nfields ...
--! item q keys: job stream channel
--! item q argv: kind attempt seq event progress current_step eta_seconds
--! uses: pub
local out, a, k, cur, pend, porder = {}, 4, 0, {}, {}, {}
while a <= #ARGV do
  local kind = ARGV[a]
  local full, prog = kind == 'f', kind == 'q'
  local h, attempt, seq, ev = KEYS[k + 1], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  a = a + 4
  local lrem, result, dead = '', '', ''
  if full then lrem, result, dead = ARGV[a], ARGV[a + 1], ARGV[a + 2]; a = a + 3 end
  local nf = 0
  if prog then a = a + 3 else nf = tonumber(ARGV[a]); a = a + 1 end
  local c = cur[h]
  if not c then
    local v = redis.call('HMGET', h, 'attempt', 'seq')
    c = {v[1], tonumber(v[2] or '-1')}
    cur[h] = c
  end
  local r
  if attempt ~= '' and c[1] and c[1] ~= attempt then r = 'fenced'
  elseif seq ~= '' and tonumber(seq) <= c[2] then r = 'dup'
  else
    r = redis.call('XADD', KEYS[k + 2], 'MAXLEN', '~', ARGV[1], '*', 'e', ev)
    pub(KEYS[k + 3], r, ev)
    if seq ~= '' then c[2] = tonumber(seq) end
    if full then
      redis.call('EXPIRE', KEYS[k + 2], ARGV[2])
      if lrem ~= '' then redis.call('LREM', KEYS[k + 4], 1, string.sub(lrem, 2)) end
      if result ~= '' then redis.call('SET', KEYS[k + 5], result, 'EX', ARGV[3]) end
      if dead ~= '' then redis.call('LPUSH', KEYS[k + 6], dead) end
    end
    local q = pend[h]
    if prog then
      if not q then porder[#porder + 1] = h end
      pend[h] = {seq, ARGV[a - 3], ARGV[a - 2], ARGV[a - 1]}
    else
      if q then
        pend[h] = nil
        redis.call('HSET', h, 'progress', q[2], 'current_step', q[3], 'eta_seconds', q[4],
                   'seq', seq ~= '' and seq or q[1], unpack(ARGV, a, a + nf - 1))
      elseif seq ~= '' then redis.call('HSET', h, 'seq', seq, unpack(ARGV, a, a + nf - 1))
      elseif nf > 0 then redis.call('HSET', h, unpack(ARGV, a, a + nf - 1)) end
    end
  end
  out[#out + 1] = r
  a = a + nf
  k = k + (full and 6 or 3)
end
for i = 1, #porder do
  local h = porder[i]
  local q = pend[h]
  if q then
    pend[h] = nil
    redis.call('HSET', h, 'seq', q[1], 'progress', q[2], 'current_step', q[3],
               'eta_seconds', q[4])
  end
end
flush_pubs()
return out
