# Shared by the scripts: find swift, install system packages when missing.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if ! command -v swift >/dev/null 2>&1 && [ -x /opt/swift/usr/bin/swift ]; then
  export PATH="$PATH:/opt/swift/usr/bin"
fi

need_apt=()
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

# ensure_system_packages [EXTRA...]: the build's system packages, plus EXTRA ones.
ensure_system_packages() {
  local pkgs=(libcurl4-openssl-dev libssl-dev pkg-config "$@")
  need_apt=()
  for p in "${pkgs[@]}"; do have_pkg "$p" || need_apt+=("$p"); done
  if [ ${#need_apt[@]} -gt 0 ]; then
    local sudo="${SUDO:-}"
    echo "==> installing ${need_apt[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need_apt[@]}" >/dev/null
  fi
}

# Release builds link the Swift runtime and Foundation statically: the installed binary needs
# no Swift toolchain on the host, and starts in about half the time (no dynamic loading and
# relocation of the Swift libraries), which `aphex status` feels on every run.
release_build() { swift build -c release --static-swift-stdlib "$@"; }
release_bin_path() { swift build -c release --static-swift-stdlib --show-bin-path; }
