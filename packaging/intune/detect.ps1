# Intune Remediations, detection script (run this script using the logged-on credentials: Yes).
# Exit 1 when ado-cutover says work remains for this user, so the remediation runs (also while
# an organization waits for its switch, exit 12: the remediation then sees the switch by itself);
# exit 0 when the machine is done. Output stays far below Intune's 2,048-character limit: one line.
$agent = Join-Path $env:ProgramFiles 'ado-cutover\ado-cutover.exe'
if (-not (Test-Path $agent)) { Write-Output 'ado-cutover is not installed'; exit 0 }
$json = & $agent plan --json 2>$null
$code = $LASTEXITCODE
$outcome = try { ($json | Out-String | ConvertFrom-Json).outcome } catch { 'unreadable' }
Write-Output "ado-cutover plan: exit $code, outcome $outcome"
if ($code -eq 0) { exit 0 } else { exit 1 }
