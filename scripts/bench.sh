#!/usr/bin/env bash
# Performance figures (printed, never asserted), on the simulated cluster with a release build:
#   1. aphex status: wall time, API requests, child processes; vs the shell way (kubectl);
#      detection latency of aphex wait; CPU and request rate while waiting  (bench-status.sh)
#   2. the apply phase of ArgoCD + Tekton: concurrent vs sequential            (bench-apply.sh)
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_system_packages
echo "==> building release (aphex, aphex-sim)" >&2
release_build --product aphex >&2
release_build --product aphex-sim >&2
export APHEX_BIN_DIR="$(release_bin_path)"
echo "===== status, wait ====="
"$ROOT/scripts/bench-status.sh"
echo
echo "===== apply phase ====="
"$ROOT/scripts/bench-apply.sh"
