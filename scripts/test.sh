#!/usr/bin/env bash
# Runs every test of the workspace (set-up first, so it works from a fresh clone).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
