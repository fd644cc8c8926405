-- JSON ingestion: POST answers with tokens served beforehand (json_tokens.lua, read from
-- $TOKENS_DIR); a 201 is one stored response. A connection that runs out of tokens sends
-- an empty one, which fails and shows in the errors.
local tokens, next_token = nil, 0
local slug = os.getenv("FLOW_SLUG") or "nps-empathy"

function request()
  if tokens == nil then
    tokens = {}
    local file = io.open(os.getenv("TOKENS_DIR") .. "/" .. id .. ".txt")
    if file then
      for line in file:lines() do table.insert(tokens, line) end
      file:close()
    end
  end
  next_token = next_token + 1
  local body = '{"token": "' .. (tokens[next_token] or "") .. '", "answers": {"recommend": 9}}'
  return wrk.format("POST", "/api/v1/surveys/" .. slug .. "/responses",
    {["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
  if status == 201 then completed = completed + 1 else failed = failed + 1 end
end
