#!/usr/bin/env bash
# Benchmark of the install apply phase (ArgoCD + the four Tekton bundles, the real upstream
# manifests from ../shared/manifests): concurrent (what aphex does) vs sequential (one bundle
# after another), in one run, on
#   1. the shared simulated cluster (SimCluster: its kubectl emulation, API server and CRD
#      controller, real clock, CRDs Established after the scenario's 1 s), and
#   2. ArgoInstall's in-memory test cluster with real per-call latency (kubectl process and
#      API round trips), the shape of a real kind cluster.
# Prints both figures for each.
#
# Called from scripts/bench.sh; standalone: scripts/bench-apply.sh [--no-build]
# Tunables (env): APHEX_BENCH_RUNS (3), APHEX_BENCH_CALL_MS (150, per kubectl call),
# APHEX_BENCH_OBJECT_MS (3, per applied object), APHEX_BENCH_CRD_MS (800, CRD -> Established).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

if [ "${1:-}" != "--no-build" ]; then
  swift build --build-tests >&2
fi

out="$(APHEX_BENCH=1 swift test --skip-build --no-parallel --filter 'ArgoInstallTests.(Sim)?ApplyBenchmark' 2>&1)" || {
  echo "$out" >&2
  echo "bench-apply: the benchmark failed" >&2
  exit 1
}
result() {
  local tag="$1" title="$2" line
  line="$(printf '%s\n' "$out" | grep -m1 "^BENCH $tag ")" || {
    echo "$out" >&2
    echo "bench-apply: no '$tag' result line (is shared/manifests beside the checkout?)" >&2
    exit 1
  }
  field() { printf '%s\n' "$line" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
  echo "apply phase, $title (median of $(field runs) runs):"
  echo "  concurrent: $(field concurrent_s)s"
  echo "  sequential: $(field sequential_s)s"
  echo "  speedup:    $(field speedup)"
}
result apply-phase-sim "simulated cluster (SimCluster scenario happy-kind)"
result apply-phase "in-memory cluster, ${APHEX_BENCH_CALL_MS:-150} ms per kubectl call, ${APHEX_BENCH_OBJECT_MS:-3} ms per object"
