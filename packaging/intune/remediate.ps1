# Intune Remediations, remediation script (run this script using the logged-on credentials: Yes).
# Runs the agent silently for the logged-on user and passes its one-line summary to Intune.
# Exit 0 when done or when only the user's own steps remain (exit 10: the dashboard lists them),
# when something could not be checked yet (exit 11, offline say), and while an organization has
# not switched to its new tenant (exit 12: nothing was changed for it): not failures; detection
# finds them again on the next schedule and this runs again.
$agent = Join-Path $env:ProgramFiles 'ado-cutover\ado-cutover.exe'
if (-not (Test-Path $agent)) { Write-Output 'ado-cutover is not installed'; exit 1 }
$summary = & $agent run --silent 2>&1 | Select-Object -Last 1
$code = $LASTEXITCODE
$line = "ado-cutover run: exit $code. $summary"
Write-Output $line.Substring(0, [Math]::Min($line.Length, 2000))
if ($code -eq 0 -or $code -eq 10 -or $code -eq 11 -or $code -eq 12) { exit 0 } else { exit 1 }
