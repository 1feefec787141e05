-- wrk script for .ci/bench-server.py: POSTs realistic reports (6 tasks, 11 items, one
-- organization verified working), each with a
-- new report_id, each from a device of its own: a device that has reported must sign its later
-- reports (per-device keys), which wrk cannot, so every report here is a first report and
-- also gives its device a key. The token comes from the TOKEN environment variable.
local counter = 0
local threads = {}
-- `thread_id` is a global of each thread's interpreter, set by setup(): a chunk-level `local`
-- of the same name would hide it, and every thread would then send the same report ids (which
-- the server takes as duplicates: the benchmark's stored-rows check caught exactly that).

function setup(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
end

local template = [[{"schema_version":1,"report_id":"%08x-0000-4000-8000-%012x","agent_version":"0.1.0","mode":"run","started_at":"2026-11-20T10:00:00Z","finished_at":"%s","device":{"hostname":"PC-%05d","os":"windows","os_version":"11 (26100)","arch":"x86_64","device_id":"dev-%05d"},"user":{"name":"user%05d","upn":"user%05d@contoso.com"},"outcome":"%s","tasks":[{"id":"gcm-tenant-cache","status":"done","summary":"deleted","items":[{"kind":"tenant-cache","target":"%%LocalAppData%%\\GitCredentialManager\\tenant.cache","status":"done","detail":"deleted: the legacy tenant cache named contoso"}]},{"id":"credentials","status":"done","summary":"2 removed","items":[{"kind":"windows-credential-manager","target":"git:https://dev.azure.com/contoso (user@contoso.com)","status":"done","detail":"deleted: a credential saved by Git Credential Manager for contoso"},{"kind":"git-config","target":"~/.gitconfig: credential.azrepos:org/contoso.username","status":"done","detail":"changed: binds contoso to the old account"}]},{"id":"remotes","status":"ok","summary":"12 repositories, all fine","items":[{"kind":"repository","target":"~/src/web","status":"ok","detail":"origin is on dev.azure.com"}]},{"id":"browser-sign-out","status":"%s","summary":"Chrome","items":[{"kind":"cookies","target":"Chrome (Default)","status":"%s","detail":"close Chrome, then run ado-cutover again"}]},{"id":"guidance","status":"needs-user","summary":"2 steps","items":[{"kind":"user-step","target":"rename-msa","status":"needs-user","detail":"rename the personal Microsoft account that uses your work e-mail"},{"kind":"user-step","target":"vs-subscription","status":"needs-user","detail":"move your Visual Studio subscription"}]},{"id":"verify","status":"ok","summary":"nothing to do","items":[{"kind":"verify-tenant","target":"contoso","status":"ok","detail":"contoso is connected to Microsoft Entra tenant 72f988bf-86f1-41af-91ab-2d7cd011db47"},{"kind":"verify-git-https","target":"~/src/web (origin)","status":"ok","detail":"git can reach it (with the sign-in git keeps)"},{"kind":"verified","target":"contoso","status":"ok","detail":"verified working: Git over HTTPS: 1 of 1 repository reachable as user@contoso.com"}]}],"organizations":[{"name":"contoso","switch":"switched","verified":"ok"}]}]]

-- With INVENTORY=1 (.ci/bench-inventory.py), each report also carries the inventory a device
-- sends before the switch (report.send_plans): seven entries, which the server stores in the
-- report's own transaction.
local inventory = [[,"inventory":[{"category":"ssh","organization":"contoso","target":"~/src/web (origin)","kind":"remote-url"},{"category":"old-token","organization":"contoso","target":"git:https://dev.azure.com/contoso (user@contoso.com)","kind":"windows-credential-manager"},{"category":"old-token","organization":"contoso","target":"~/.npmrc:2","kind":"token-elsewhere"},{"category":"local-work","organization":"contoso","target":"~/src/web (main)","kind":"unpushed-work"},{"category":"legacy-remote","organization":"contoso","target":"~/src/api (origin)","kind":"remote-url"},{"category":"personal-account","organization":"contoso","target":"used with a personal Microsoft account","kind":"personal-account"},{"category":"shared-sign-in","organization":"contoso","target":"~/.azure/msal_token_cache.json","kind":"azure-cli-sign-in"}]}]]
local with_inventory = os.getenv("INVENTORY") == "1"

-- When a report finished. Agents send a report when their run ends, so reports arrive within
-- seconds of finishing: each one here finished at the second it is sent. With FINISHED=old
-- (.ci/soak.py) they all finished on one day in the past, in 60 different seconds, as a fleet
-- looks weeks after its switch (every device stale). That is also what this script sent until
-- 2026-12-01: the 60 seconds spread each batch's rows over 60 places in every index on time,
-- where reports arriving now only add at one end (docs/BENCHMARKS.md).
local finished_old = os.getenv("FINISHED") == "old"
local function finished_at()
  if finished_old then
    return string.format("2026-11-20T10:00:%02dZ", counter % 60)
  end
  return os.date("!%Y-%m-%dT%H:%M:%SZ")
end

function request()
  counter = counter + 1
  local device = thread_id * 100000000 + counter
  local outcome, status = "action-needed", "needs-user"
  if counter % 5 == 0 then outcome, status = "failed", "failed" end
  local body = string.format(template, thread_id, counter, finished_at(), device, device, device, device, outcome, status, status)
  if with_inventory then
    body = string.sub(body, 1, -2) .. inventory
  end
  return wrk.format(nil, nil, nil, body)
end
