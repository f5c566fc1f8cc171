#!/usr/bin/env bash
# The test command (README, CI): unit tests and in-process simulated-cluster tests (in
# parallel), then the black-box tests that run the built `aphex` against the simulator's
# stand-in kubectl/kind/k3s and loopback API (on their own, so that timing-sensitive
# end-to-end runs do not compete with CPU-heavy unit tests on a 2-core machine).
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
# nghttp2-proxy: nghttpx, the HTTP/2 TLS server the transport's multiplexing test talks to.
ensure_system_packages nghttp2-proxy
echo "==> swift build --build-tests" >&2
swift build --build-tests
export APHEX_BIN_DIR="$(swift build --show-bin-path)"
if [ $# -gt 0 ]; then exec swift test --skip-build "$@"; fi
echo "==> swift test: unit and in-process simulated-cluster tests" >&2
swift test --skip-build --skip BlackBoxTests --skip "SimClusterTests.Loopback"
echo "==> swift test: black-box tests of the built aphex (and aphex-sim) on the simulated cluster" >&2
swift test --skip-build --filter "BlackBoxTests|SimClusterTests.Loopback"
