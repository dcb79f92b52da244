-- session_ok(rule, job hash): whether an access token's sessions (pr_token_session_rule: ""
-- for every session, else entries joined by newlines, "x*" a prefix) include the job's.
local function session_ok(rule, h)
  if rule == nil or rule == '' then return true end
  local s = redis.call('HGET', h, 'session_id')
  if not s or s == '' then return false end
  for e in string.gmatch(rule, '[^\n]+') do
    if string.sub(e, -1) == '*' then
      local p = string.sub(e, 1, -2)
      if string.sub(s, 1, #p) == p then return true end
    elseif e == s then return true end
  end
  return false
end
