#!/usr/bin/env bash
# Build the fuzz harnesses with clang (libFuzzer + ASan + UBSan) and run them: the decoder over
# seeds made from test/fixtures/pcap (every link type), then the pcap file path of a replay
# (libpcap's offline reader + the decoder) over the fixture files themselves. --short: at
# least 1,000,000 decoder inputs in about a minute and 20 s of files (npm test); without it: 10
# minutes and 5 minutes. Exits non-zero on a crash, a broken invariant or a sanitizer report.
set -euo pipefail
cd "$(dirname "$0")/../.."
mode=long
[ "${1:-}" = "--short" ] && mode=short

if ! command -v clang++ >/dev/null 2>&1; then
  echo "fuzz: clang++ not found; install it with: apt-get install -y clang" >&2
  exit 1
fi
out=build/fuzz
mkdir -p "$out"
src='extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }'
if ! echo "$src" | clang++ -x c++ -fsanitize=fuzzer - -o "$out/probe" 2>/dev/null; then
  echo "fuzz: clang's libFuzzer runtime is missing; install it with: apt-get install -y clang libclang-rt-dev (Debian 12: apt-get install -y clang-14 libclang-common-14-dev)" >&2
  exit 1
fi
clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  -Inative native/fuzz/fuzz_decode.cc native/decode.cc -o "$out/fuzz_decode"
clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  -Inative native/fuzz/fuzz_pcap_file.cc native/decode.cc -lpcap -o "$out/fuzz_pcap_file"

seeds="$out/seeds"
rm -rf "$seeds" "$out/corpus"
mkdir -p "$out/corpus"
python3 native/fuzz/make-seeds.py test/fixtures/pcap "$seeds"

if [ "$mode" = short ]; then
  runs=2000000
  max_time=55
else
  runs=-1
  max_time=600
fi
export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# -max_len 2048: longer than any header chain we walk; -timeout catches a runaway loop.
"$out/fuzz_decode" -runs=$runs -max_total_time=$max_time -max_len=2048 -timeout=5 \
  -print_final_stats=1 -artifact_prefix="$out/" "$out/corpus" "$seeds" 2>"$out/fuzz.log" || {
  tail -50 "$out/fuzz.log" >&2
  echo "fuzz: the decoder crashed or a sanitizer fired; the input is in $out/crash-*" >&2
  exit 1
}
done_runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$out/fuzz.log" | grep -o '[0-9]*$' || echo 0)
echo "fuzz: $done_runs inputs, no crash ($(grep -o 'cov: [0-9]*' "$out/fuzz.log" | tail -1))"
if [ "$mode" = short ] && [ "${done_runs:-0}" -lt 1000000 ]; then
  echo "fuzz: only $done_runs inputs ran in ${max_time}s (need 1,000,000): machine too slow or busy" >&2
  exit 1
fi

# The pcap file reader: whole files, seeded with the fixtures (good and hand-made bad ones).
file_seeds="$out/file-seeds"
rm -rf "$file_seeds" "$out/file-corpus"
mkdir -p "$file_seeds" "$out/file-corpus"
cp test/fixtures/pcap/*.pcap "$file_seeds/"
if [ "$mode" = short ]; then
  file_time=20
else
  file_time=300
fi
"$out/fuzz_pcap_file" -max_total_time=$file_time -max_len=65536 -timeout=5 -print_final_stats=1 \
  -artifact_prefix="$out/file-" "$out/file-corpus" "$file_seeds" 2>"$out/fuzz-file.log" || {
  tail -50 "$out/fuzz-file.log" >&2
  echo "fuzz: the pcap file path crashed or broke an invariant; the input is in $out/file-crash-*" >&2
  exit 1
}
file_runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$out/fuzz-file.log" | grep -o '[0-9]*$' || echo 0)
echo "fuzz: $file_runs pcap files, no crash ($(grep -o 'cov: [0-9]*' "$out/fuzz-file.log" | tail -1))"
