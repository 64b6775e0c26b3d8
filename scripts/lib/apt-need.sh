# Sourced by the setup scripts: apt_need PKG... installs the Debian packages that are missing
# (as root), or says which command installs them.
apt_need() {
  local need=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
  done
  [ ${#need[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing system packages: ${need[*]}" >&2
    echo "setup: run as root, or install them first: sudo apt-get install -y ${need[*]}" >&2
    return 1
  fi
  echo "setup: installing ${need[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
}
