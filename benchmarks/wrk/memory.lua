-- Memory soak: form pages in both languages and JSON form serving from ever new client
-- addresses (a trusted proxy's X-Forwarded-For), so every bounded cache and the rate-limit
-- counters see far more keys than they keep.
local n = 0

function request()
  n = n + 1
  if n % 2 == 0 then
    local lang = (n % 4 == 0) and "es" or "en"
    return wrk.format("GET", "/s/empathy-csat", {["Accept-Language"] = lang})
  end
  local client = string.format("10.%d.%d.%d", math.random(0, 255), math.random(0, 255), math.random(1, 254))
  return wrk.format("GET", "/api/v1/surveys/nps-empathy", {["X-Forwarded-For"] = client})
end

function response(status, headers, body)
  if status == 200 then completed = completed + 1 else failed = failed + 1 end
end
