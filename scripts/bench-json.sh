#!/usr/bin/env bash
# Decoding the ArgoCD Application list that `aphex status` reads: aphex's own parser (JSON.parse +
# the field reads aphex does) against Swift 6's JSONDecoder on typed, field-limited Codable
# models, and JSONSerialization for reference (issue 16; docs/architecture.md).
# Prints figures; asserts only that both ways read the same values.
#   scripts/bench-json.sh                 ITERATIONS=300; JSON_FILE=<list.json> to use another list
# 1. Release build with the tests (the benchmark is Tests/ClusterDriversTests/JSONDecodeBenchmark.swift).
# 2. The list: `aphex-sim serve --scenario bench-25` (platform-root and 25 children), read once all
#    26 Applications are Synced, Healthy and their sync Succeeded (as on a converged platform).
# 3. `swift test -c release --filter JSONDecodeBenchmark`: median, p95, min per way; heap held.
# 4. Lines: the hand-written parser and value type against the Codable models.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ITERATIONS=${ITERATIONS:-300}
WORK=$(mktemp -d /tmp/aphex-bench-json.XXXXXX)
SIM_PID=""
cleanup() {
    if [[ -n "$SIM_PID" ]]; then kill "$SIM_PID" 2>/dev/null || true; wait "$SIM_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
ensure_system_packages jq curl

echo "==> release build with tests (several minutes the first time)" >&2
swift build -c release --build-tests -Xswiftc -enable-testing 2>&1 | grep -E "error:|Compiling|Build complete" | tail -3 >&2
BIN=$(swift build -c release --show-bin-path)

LIST="${JSON_FILE:-}"
if [[ -z "$LIST" ]]; then
    mkdir -p "$WORK/sim"
    "$BIN/aphex-sim" serve --scenario bench-25 --state-dir "$WORK/sim" --port 0 2>"$WORK/sim.log" &
    SIM_PID=$!
    for _ in $(seq 1 500); do [[ -s "$WORK/sim/port" ]] && break; sleep 0.02; done
    [[ -s "$WORK/sim/port" ]] || { echo "aphex-sim did not start:"; cat "$WORK/sim.log"; exit 1; }
    URL="http://127.0.0.1:$(cat "$WORK/sim/port")/apis/argoproj.io/v1alpha1/namespaces/argocd/applications"
    LIST="$WORK/applications.json"
    for _ in $(seq 1 300); do
        curl -fsS -H 'Authorization: Bearer aphex-sim-token' -H 'Accept: application/json' "$URL" -o "$LIST"
        jq -e '(.items | length) == 26 and all(.items[]; .status.sync.status == "Synced"
               and .status.health.status == "Healthy" and .status.operationState.phase == "Succeeded")' \
            "$LIST" >/dev/null && break
        sleep 0.1
    done
    kill "$SIM_PID"; wait "$SIM_PID" 2>/dev/null || true; SIM_PID=""
fi

echo "== machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== $(swift --version 2>&1 | head -1)"
echo "== list: $LIST"
APHEX_BENCH_JSON_FILE="$LIST" APHEX_BENCH_ITERATIONS="$ITERATIONS" \
    swift test -c release --skip-build --filter JSONDecodeBenchmark 2>&1 | grep -E "^BENCH|error|failed|issue" || true
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"

echo "== lines (wc -l)"
parser_file=$(grep -rl "^public enum KubeJSON" Sources)
parser_lines=$(awk '/^\/\/\/ A direct bytes -> `JSON` parser/ {f=1} /^public enum KubeJSON/ {f=1} f {n++} f && /^}/ {print n; exit}' "$parser_file")
echo "   aphex's JSON: $(wc -l <Sources/KubeClient/JSON.swift) lines in Sources/KubeClient/JSON.swift (value type, access," \
     "Codable, serializer) + $parser_lines lines of KubeJSON (parser) in $parser_file"
echo "   Codable models of the Application fields aphex reads:" \
     "$(wc -l <Tests/ClusterDriversTests/BenchApplicationModels.swift) lines (Tests/ClusterDriversTests/BenchApplicationModels.swift)"
