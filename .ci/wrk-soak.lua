-- wrk script for .ci/soak.py: a paced mix of report posts (four in five, the reports of
-- .ci/wrk-report.lua) and admin reads (the summary, a page of devices, the overview), each
-- connection waiting DELAY_MS between requests. Every report the server acknowledges (202) is
-- written to ACKED_DIR/<thread>.txt, so the script can check that none was lost. Environment:
-- TOKEN (enrollment), ADMIN (admin token), DELAY_MS, ACKED_DIR, REPORT_LUA (.ci/wrk-report.lua).
dofile(os.getenv("REPORT_LUA"))
local post_report, post_init = request, init

local reads = { "/api/v1/summary", "/api/v1/devices?limit=50", "/" }
local counter = 0
local acked = nil

function init(args)
  post_init(args)
  acked = io.open(os.getenv("ACKED_DIR") .. "/" .. thread_id .. ".txt", "a")
end

function delay()
  return tonumber(os.getenv("DELAY_MS"))
end

function request()
  counter = counter + 1
  if counter % 5 == 0 then
    local path = reads[(counter / 5) % #reads + 1]
    return wrk.format("GET", path, { ["Authorization"] = "Bearer " .. os.getenv("ADMIN") }, nil)
  end
  return post_report()
end

function response(status, headers, body)
  if status == 202 then
    local id = body:match('"report_id":"([^"]+)"')
    if id then
      acked:write(id, "\n")
      acked:flush()
    end
  end
end
