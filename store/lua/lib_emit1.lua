-- emit1(stream, channel, event, MAXLEN, TTL s or ""): appends one event to a stream and publishes
-- it as one frame with its id (for scripts that emit a single event).
local function emit1(stream, chan, ev, maxlen, ttl)
  local id = redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*', 'e', ev)
  if ttl ~= '' then redis.call('EXPIRE', stream, ttl) end
  redis.call('PUBLISH', chan, id .. '\n' .. ev)
  return id
end
