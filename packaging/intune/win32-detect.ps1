# Intune Win32 app, custom detection script: installed when the agent is there and answers.
$agent = Join-Path $env:ProgramFiles 'ado-cutover\ado-cutover.exe'
if ((Test-Path $agent) -and (& $agent --version)) { Write-Output 'ado-cutover installed'; exit 0 }
exit 1
