-- A page GET per request, counted when it answers 200.
function response(status, headers, body)
  if status == 200 then completed = completed + 1 else failed = failed + 1 end
end
