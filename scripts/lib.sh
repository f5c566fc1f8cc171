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

# kind_pki DIR: a kind-shaped PKI in DIR, all EC P-256: ca.crt/ca.key, server.crt/server.key for
# 127.0.0.1, client.crt/client.key in system:masters (the benchmarks' TLS fronts).
kind_pki() {
  mkdir -p "$1"
  (
    cd "$1"
    key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out "$1" 2>/dev/null; }
    key ca.key; key server.key; key client.key
    openssl req -x509 -new -key ca.key -out ca.crt -days 2 -subj /CN=kubernetes \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
    openssl req -new -key server.key -out server.csr -subj /CN=kube-apiserver 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >server.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 \
      -extfile server.ext 2>/dev/null
    openssl req -new -key client.key -out client.csr -subj '/O=system:masters/CN=kubernetes-admin' 2>/dev/null
    printf 'extendedKeyUsage=clientAuth\n' >client.ext
    openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt -days 2 \
      -extfile client.ext 2>/dev/null
  )
}
