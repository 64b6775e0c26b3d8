#!/usr/bin/env bash
# Set up (see setup.sh) and start the pidflow monitor with the given arguments.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >&2
# The command line (node flags, allocator tuning) is bin/pidflow.js's first line.
exec ./bin/pidflow.js "$@"
