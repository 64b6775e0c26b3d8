#!/usr/bin/env bash
# The whole test suite: lint, build, the fuzz harness's short run, unit and end-to-end tests
# in one node:test run (so its closing summary counts all of them). A skipped test fails the
# run unless it is expected here: PIDFLOW_EXPECTED_SKIPS lists the expected skips by tag or
# test name (scripts/check-skips.mjs, docs/testing.md); the summary names every skip.
set -euo pipefail
cd "$(dirname "$0")/.."
npx eslint .
npx prettier --check . >/dev/null || { npx prettier --check .; exit 1; }
npx tsc -p tsconfig.json
npm run --silent build:web
if [ -x native/fuzz/run.sh ] || [ -f native/fuzz/run.sh ]; then
  bash native/fuzz/run.sh --short
fi
mapfile -t files < <(find dist/src dist/test -name '*.test.js' | sort)
node --test --test-reporter=tap --test-concurrency=1 --test-timeout=300000 "${files[@]}" |
  node scripts/check-skips.mjs
