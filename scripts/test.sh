#!/usr/bin/env bash
# The test command (README, CI): unit tests, simulated-cluster tests, and black-box tests of
# the built `aphex` binary against the simulator's stand-in kubectl/kind/k3s.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_system_packages
echo "==> swift build --build-tests" >&2
swift build --build-tests
export APHEX_BIN_DIR="$(swift build --show-bin-path)"
echo "==> swift test (unit, simulated cluster, black-box)" >&2
swift test --skip-build "$@"
