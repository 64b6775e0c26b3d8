#!/usr/bin/env bash
# One-step setup on Debian 12 as root of what running pidflow needs: libpcap and libbpf headers,
# clang for the eBPF programs, npm dependencies, the native addon and the TypeScript build.
# Tools only the tests use are installed by scripts/setup-test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/apt-need.sh
. scripts/lib/addon-stale.sh

apt_need libpcap-dev libbpf-dev linux-libc-dev pkg-config clang python3 make g++ iproute2

stamp=node_modules/.pidflow-setup
if [ -f "$stamp" ] && [ "$stamp" -nt package-lock.json ] && [ -f build/Release/pidflow.node ] && [ -z "${CI:-}" ]; then
  # Dependencies are current: rebuild only what changed. The addon is rebuilt whenever a
  # native source, binding.gyp or the eBPF program is newer than it (tests must never run
  # against an old pidflow.node).
  stale="$(addon_stale_sources)"
  if [ -n "$stale" ]; then
    echo "setup: rebuilding the native addon (newer than build/Release/pidflow.node: $(echo $stale))" >&2
    npm run --silent build:native >/dev/null
  fi
  npm run --silent build
else
  npm ci --no-audit --no-fund
  touch "$stamp"
fi
