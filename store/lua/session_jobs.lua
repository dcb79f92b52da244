-- SESSION_JOBS: a page of a session's jobs, newest first. KEYS: the session's job index. ARGV:
-- job key prefix ("<prefix>:job:"), cursor (0: the newest page; else the number of entries
-- older than the previous page, an index from the oldest that new jobs do not move), limit,
-- then the hash fields to return (the first must be status). Reply: {total, next cursor (0 on
-- the last page), {job id, field values...}...}; ids whose hash expired leave the index.
--! keys: session_jobs
--! argv: job_prefix cursor limit ...
local total = redis.call('ZCARD', KEYS[1])
local cursor, limit = tonumber(ARGV[2]), tonumber(ARGV[3])
local older = (cursor > 0 and cursor < total) and cursor or total
local lo = older - limit
if lo < 0 then lo = 0 end
local out = {total, lo}
if older == 0 then return out end
local ids = redis.call('ZRANGE', KEYS[1], lo, older - 1)
for i = #ids, 1, -1 do
  local v = redis.call('HMGET', ARGV[1] .. ids[i], unpack(ARGV, 4))
  if v[1] then
    local row = {ids[i]}
    for j = 1, #v do row[j + 1] = v[j] or '' end
    out[#out + 1] = row
  else
    redis.call('ZREM', KEYS[1], ids[i])
  end
end
return out
