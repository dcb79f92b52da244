-- Finds the dead-letter entry of a job (entries are JSON objects with job_id).
local function dead_find(list, job_id)
  for _, e in ipairs(redis.call('LRANGE', list, 0, -1)) do
    local ok, d = pcall(cjson.decode, e)
    if ok and type(d) == 'table' and d.job_id == job_id then return e, d end
  end
end
