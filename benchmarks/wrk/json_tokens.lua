-- Forms served through the JSON API, their tokens kept for json_ingest.lua: one file per
-- connection in $TOKENS_DIR. Not a figure: the tokens another system holds before it sends
-- answers.
local kept
local slug = os.getenv("FLOW_SLUG") or "nps-empathy"

function request()
  return wrk.format("GET", "/api/v1/surveys/" .. slug)
end

function response(status, headers, body)
  local token = body:match('"token":"([^"]+)"')
  if status == 200 and token then
    kept = kept or io.open(os.getenv("TOKENS_DIR") .. "/" .. id .. ".txt", "w")
    kept:write(token, "\n")
    completed = completed + 1
  else
    failed = failed + 1
  end
end
