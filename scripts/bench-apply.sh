#!/usr/bin/env bash
# Benchmark of the install apply phase (ArgoCD + the four Tekton bundles, the real upstream
# manifests from ../shared/manifests) on the in-memory simulated cluster: concurrent (what
# aphex does) vs sequential (one bundle after another), in one run. Prints both figures.
#
# Called from scripts/bench.sh; standalone: scripts/bench-apply.sh [--no-build]
# Tunables (env): APHEX_BENCH_RUNS (3), APHEX_BENCH_CALL_MS (150, per kubectl call),
# APHEX_BENCH_OBJECT_MS (3, per applied object), APHEX_BENCH_CRD_MS (800, CRD -> Established).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

if [ "${1:-}" != "--no-build" ]; then
  swift build --build-tests >&2
fi

out="$(APHEX_BENCH=1 swift test --skip-build --filter 'ApplyBenchmark' 2>&1)" || {
  echo "$out" >&2
  echo "bench-apply: the benchmark failed" >&2
  exit 1
}
line="$(printf '%s\n' "$out" | grep -m1 '^BENCH apply-phase')" || {
  echo "$out" >&2
  echo "bench-apply: no result line (is shared/manifests beside the checkout?)" >&2
  exit 1
}
field() { printf '%s\n' "$line" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
echo "apply phase ($(field bundles) bundles, $(field objects) objects, $(field kubectl_calls) kubectl calls, median of $(field runs) runs):"
echo "  concurrent: $(field concurrent_s)s"
echo "  sequential: $(field sequential_s)s"
echo "  speedup:    $(field speedup)"
