#!/bin/sh
# Double-click launcher for macOS. Finder opens a `.command` file in Terminal through a shell,
# which the agent cannot tell from a user's own shell, so this says so: keep the window open
# until Enter, so the person can read the summary.
ADO_CUTOVER_HOLD_WINDOW=1
export ADO_CUTOVER_HOLD_WINDOW
exec "$(dirname "$0")/ado-cutover" "$@"
