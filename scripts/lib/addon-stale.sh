# Sourced by scripts/setup.sh: addon_stale_sources prints the native sources (under native/,
# except the fuzz harness, which is not part of the addon; the eBPF program in native/bpf/
# included) and binding.gyp that are newer than the built addon, or "missing" when there is no
# built addon; it prints nothing when the addon is current.
addon_stale_sources() {
  local addon=build/Release/pidflow.node
  if [ ! -f "$addon" ]; then
    echo missing
    return 0
  fi
  find native binding.gyp -type f -newer "$addon" -not -path 'native/fuzz/*' 2>/dev/null | sort
}
