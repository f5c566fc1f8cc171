#!/usr/bin/env bash
# Sets up a fresh machine: system packages (libcurl, OpenSSL), a release build, and the
# `aphex` binary installed on PATH (/usr/local/bin as root, ~/.local/bin otherwise).
#   scripts/setup.sh && aphex bootstrap --deployment kind
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_system_packages
command -v swift >/dev/null || { echo "error: Swift 6.1+ is required (https://swift.org/install)" >&2; exit 4; }
echo "==> building aphex (release)" >&2
release_build --product aphex >&2
bin="$(release_bin_path)/aphex"
if [ "$(id -u)" -eq 0 ]; then dest=/usr/local/bin; else dest="$HOME/.local/bin"; mkdir -p "$dest"; fi
install -m 0755 "$bin" "$dest/aphex"
echo "==> installed $dest/aphex ($("$dest/aphex" --version))" >&2
case ":$PATH:" in *":$dest:"*) ;; *) echo "note: add $dest to PATH" >&2 ;; esac
echo "Next: aphex doctor --deployment kind && aphex bootstrap --deployment kind" >&2
