#!/usr/bin/env bash
# Makes target/test-python, a Python virtual environment with the packages of
# .ci/test-python.txt (real software the tests drive: Microsoft's msal and msal-extensions).
# Run once before `cargo test`; .ci/run runs it. Needs python3-venv (.ci/test-packages.txt) and
# the Python package index.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/test-python
if [ ! -x "$venv/bin/python" ]; then
  /usr/bin/python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r .ci/test-python.txt
"$venv/bin/python" -c 'import msal, msal_extensions' 
echo "test Python ready: $venv"
