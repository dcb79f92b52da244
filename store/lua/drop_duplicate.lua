-- DROP_DUPLICATE: a taken entry whose id belongs to another job (TAKE said "duplicate"): out of
-- the worker's active list and into the dead letters, the other job untouched. KEYS: active
-- list, dead list. ARGV: the raw entry, the dead-letter entry. Reply: 1 if it was held.
--! keys: active dead
--! argv: raw_job dead_entry
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then return 0 end
redis.call('LPUSH', KEYS[2], ARGV[2])
return 1
