#!/usr/bin/env bash
# The test command (README, CI): unit tests and in-process simulated-cluster tests (in
# parallel), then the black-box tests that run the built `aphex` against the simulator's
# stand-in kubectl/kind/k3s and loopback API (on their own, so that timing-sensitive
# end-to-end runs do not compete with CPU-heavy unit tests on a 2-core machine).
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
# nghttp2-proxy: nghttpx, the HTTP/2 TLS server the transport's multiplexing test talks to.
# libxml2-utils: xmllint, which validates every --junit report against Tests/Schemas/junit.xsd.
# chromium (+ a font): one test renders a --timeline SVG in a real headless browser.
ensure_system_packages nghttp2-proxy zlib1g-dev libxml2-utils chromium fonts-dejavu-core
# The tests drive the REAL kubectl against the simulated cluster (never a stand-in): require
# one that speaks what the simulator is held to (server-side apply, OpenAPI v3 field validation).
require_kubectl() {
  local kubectl="${APHEX_REAL_KUBECTL:-$(command -v kubectl || true)}"
  if [ -z "$kubectl" ]; then
    echo "error: kubectl is not installed. The tests run the real kubectl (>= 1.29) against the simulated cluster; install it (https://kubernetes.io/docs/tasks/tools/) or set APHEX_REAL_KUBECTL=/path/to/kubectl, then run again." >&2
    exit 4
  fi
  local minor
  minor="$("$kubectl" version --client -o json 2>/dev/null | sed -n 's/.*"minor": *"\([0-9]*\).*/\1/p' | head -1)"
  if [ -z "$minor" ] || [ "$minor" -lt 29 ]; then
    echo "error: $kubectl is kubectl 1.${minor:-?}; the tests need kubectl >= 1.29 (server-side apply with OpenAPI v3 field validation, as the simulator is held to). Install a newer kubectl or set APHEX_REAL_KUBECTL, then run again." >&2
    exit 4
  fi
  export APHEX_REAL_KUBECTL="$kubectl"
  echo "==> real kubectl: $kubectl (1.$minor)" >&2
}
require_kubectl
"$ROOT/scripts/lint.sh"
echo "==> swift build --build-tests" >&2
swift build --build-tests
export APHEX_BIN_DIR="$(swift build --show-bin-path)"
if [ $# -gt 0 ]; then exec swift test --skip-build "$@"; fi
echo "==> swift test: unit and in-process simulated-cluster tests" >&2
swift test --skip-build --skip BlackBoxTests --skip "SimClusterTests.Loopback"
echo "==> swift test: black-box tests of the built aphex (and aphex-sim) on the simulated cluster" >&2
swift test --skip-build --filter "BlackBoxTests|SimClusterTests.Loopback"
