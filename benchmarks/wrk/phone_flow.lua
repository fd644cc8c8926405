-- What a phone does: GET the form (the first time without cookies: the answer sets the
-- CSRF cookie, whose value the page also carries), then POST the answers with that cookie
-- and the CSRF field; a 303 to the thank-you page is one completed submission.
local step, token, csrf = "get", nil, nil
local path = os.getenv("FLOW_PATH") or "/s/counter-check"
local answers = os.getenv("FLOW_ANSWERS") or "understood=4&cared=yes"

function request()
  local headers = {["Accept-Language"] = "en"}
  if csrf then headers["Cookie"] = "ss_csrf=" .. csrf end
  if step == "get" then
    return wrk.format("GET", path, headers)
  end
  headers["Content-Type"] = "application/x-www-form-urlencoded"
  local body = "token=" .. token .. "&_csrf_token=" .. csrf .. "&" .. answers
  return wrk.format("POST", path, headers, body)
end

function response(status, headers, body)
  if step == "get" then
    token = body:match('name="token" value="([^"]+)"')
    csrf = body:match('name="_csrf_token" value="([^"]+)"') or csrf
    if status == 200 and token and csrf then step = "post" else failed = failed + 1 end
  else
    if status == 303 then completed = completed + 1 else failed = failed + 1 end
    step = "get"
  end
end
