#!/usr/bin/env bash
# The whole test suite: lint, build, the fuzz harness's short run, unit and end-to-end tests
# in one node:test run (so its closing summary counts all of them).
set -euo pipefail
cd "$(dirname "$0")/.."
npx eslint .
npx prettier --check . >/dev/null || { npx prettier --check .; exit 1; }
npx tsc -p tsconfig.json
if [ -x native/fuzz/run.sh ] || [ -f native/fuzz/run.sh ]; then
  bash native/fuzz/run.sh --short
fi
mapfile -t files < <(find dist/src dist/test -name '*.test.js' | sort)
exec node --test --test-concurrency=1 --test-timeout=300000 "${files[@]}"
