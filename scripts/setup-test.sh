#!/usr/bin/env bash
# Setup for the test suite on Debian 12 as root: everything scripts/setup.sh installs, plus the
# tools only tests and benchmarks use (traffic generators, reference captures, nethogs, tmux,
# the fuzzer's runtime). A user's machine never needs these: scripts/start.sh does not install them.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/apt-need.sh

test_packages=(
  tmux
  tcpdump
  libclang-rt-14-dev
  nethogs
  netsniff-ng
  iperf3
  util-linux
  stress-ng
  openssl
  prometheus
  python3
  systemd
  iptables
  docker.io
  chromium
)
apt_need "${test_packages[@]}"
bash scripts/setup.sh
