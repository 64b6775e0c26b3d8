#!/usr/bin/env bash
# Set up (see setup.sh) and start the pidflow monitor with the given arguments.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >&2
exec node bin/pidflow.js "$@"
