#!/usr/bin/env bash
# One-step setup on Debian 12 as root: system packages (libpcap and libbpf headers, tmux, iproute2,
# tcpdump, clang for the fuzz harness), npm dependencies, the native addon and the TypeScript build.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pkg in libpcap-dev libbpf-dev pkg-config iproute2 tmux tcpdump clang libclang-rt-14-dev python3 make g++ nethogs netsniff-ng iperf3 util-linux; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing system packages: ${need[*]}" >&2
    echo "setup: run as root, or install them first: sudo apt-get install -y ${need[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${need[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

stamp=node_modules/.pidflow-setup
if [ -f "$stamp" ] && [ "$stamp" -nt package-lock.json ] && [ -f build/Release/pidflow.node ] && [ -z "${CI:-}" ]; then
  # Dependencies are current: rebuild only what changed.
  npm run --silent build
else
  npm ci --no-audit --no-fund
  touch "$stamp"
fi
