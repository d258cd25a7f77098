#!/usr/bin/env bash
# Build the wheel, install it with its runtime dependencies only into a fresh
# virtual environment, and run runtime_smoke.py there. CPU torch stays pinned
# through constraints.txt so that pip never pulls a CUDA build.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$PY" -m pip wheel -q --no-deps . -w "$work/dist"
python3 -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q --upgrade pip
"$work/venv/bin/python" -m pip install -q -c constraints.txt "$work"/dist/*.whl
cd "$work"  # import the installed package, not the source tree
"$work/venv/bin/python" "$OLDPWD/tests/install/runtime_smoke.py"
