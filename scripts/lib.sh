# Shared by the scripts: root check and on-demand package installs.

need_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "$0: brig creates namespaces, cgroups and mounts: run as root" >&2
    exit 1
  fi
}

# ensure_packages PKG...: install the Debian packages that are missing, and say so.
ensure_packages() {
  local missing=()
  for p in "$@"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "==> first use: installing ${missing[*]} (apt-get)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq "${missing[@]}" >&2
  fi
}
