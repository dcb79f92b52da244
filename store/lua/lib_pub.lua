-- Published messages carry one or more frames "<stream id>\n<MessagePack event>" (MessagePack is
-- self-delimiting): a script call publishes once per channel, after its last XADD, the frames of
-- all the events it appended for that channel, in order. Scripts are atomic: Redis refuses an
-- OOM write only at a script's first write, so a call either does nothing or all of it.
local pubs, chans = {}, {}
local function pub(ch, id, ev)
  local p = pubs[ch]
  if not p then p = {}; pubs[ch] = p; chans[#chans + 1] = ch end
  p[#p + 1] = id; p[#p + 1] = '\n'; p[#p + 1] = ev
end
local function flush_pubs()
  for i = 1, #chans do redis.call('PUBLISH', chans[i], table.concat(pubs[chans[i]])) end
end
