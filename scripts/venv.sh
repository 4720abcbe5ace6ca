#!/usr/bin/env bash
# Creates (or brings up to date) the project's Python virtual environment in
# target/venv from scripts/requirements.txt and prints its bin folder.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/venv
stamp=$venv/.requirements
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv" >&2
fi
if ! cmp -s scripts/requirements.txt "$stamp"; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r scripts/requirements.txt >&2
    cp scripts/requirements.txt "$stamp"
fi
echo "$PWD/$venv/bin"
