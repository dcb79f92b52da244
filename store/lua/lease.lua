-- LEASE: take or renew the scheduler leader lease. KEYS: leader key. ARGV: scheduler id, lease
-- ms, "release" to give it up. Reply: 1 when this scheduler holds it (after renewing), else 0.
--! keys: leader
--! argv: scheduler_id lease_ms release
local cur = redis.call('GET', KEYS[1])
if ARGV[3] == 'release' then
  if cur == ARGV[1] then redis.call('DEL', KEYS[1]) end
  return 0
end
if cur == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]); return 1 end
if not cur then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]); return 1 end
return 0
