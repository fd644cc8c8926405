-- The JSON API as another system uses it: GET a form (its token), POST the answers;
-- a 201 is one stored response.
local step, token = "get", nil
local slug = os.getenv("FLOW_SLUG") or "nps-empathy"

function request()
  if step == "get" then
    return wrk.format("GET", "/api/v1/surveys/" .. slug)
  end
  local body = '{"token": "' .. token .. '", "answers": {"recommend": 9}}'
  return wrk.format("POST", "/api/v1/surveys/" .. slug .. "/responses",
    {["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
  if step == "get" then
    token = body:match('"token":"([^"]+)"')
    if status == 200 and token then step = "post" else failed = failed + 1 end
  else
    if status == 201 then completed = completed + 1 else failed = failed + 1 end
    step = "get"
  end
end
