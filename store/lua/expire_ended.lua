-- EXPIRE_ENDED: housekeeping over keys found by SCAN. KEYS: job hashes or session streams.
-- ARGV: TTL s, "job" (only hashes of ended jobs: complete, failed, cancelled, dead) or "stream"
-- (any stream). Keys that already have a TTL are left alone. Reply: how many got one.
--! keys: ...
--! argv: ttl_s kind
local n, ended = 0, {complete = 1, failed = 1, cancelled = 1, dead = 1}
for i = 1, #KEYS do
  if redis.call('TTL', KEYS[i]) == -1 then
    local ok = ARGV[2] == 'stream' and redis.call('TYPE', KEYS[i]).ok == 'stream'
    if ARGV[2] == 'job' and redis.call('TYPE', KEYS[i]).ok == 'hash' then
      ok = ended[redis.call('HGET', KEYS[i], 'status') or ''] ~= nil
    end
    if ok then redis.call('EXPIRE', KEYS[i], ARGV[1]); n = n + 1 end
  end
end
return n
