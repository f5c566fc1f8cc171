#!/usr/bin/env bash
# The apply phase of `aphex bootstrap` (namespaces, secrets, ArgoCD, Tekton, ArgoCD config,
# platform-root), side by side, on `aphex-sim serve` (scenario bench-apply) with the REAL
# kubectl and the real upstream manifests from ../shared/manifests:
#   1. aphex as shipped: Tekton's apply alongside ArgoCD's, large sets split across concurrent
#      kubectl processes;
#   2. aphex sequential (APHEX_APPLY_SEQUENTIAL=1: one bundle and one kubectl at a time);
#   3. the kubectl way: `kubectl apply --server-side -f` of each release manifest in turn,
#      waiting for its CRDs, then the root Application (what the shell scripts did).
# Prints medians; asserts nothing. Every API request costs APHEX_BENCH_LATENCY_MS (default 15 ms)
# more on the simulator, the order of a real API server's round trip for these objects.
# Called from scripts/bench.sh; standalone: scripts/bench-apply.sh (RUNS=3).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
RUNS=${RUNS:-3}
LATENCY=${APHEX_BENCH_LATENCY_MS:-15}
KUBECTL=${KUBECTL:-$(command -v kubectl)}
WORK=$(mktemp -d /tmp/aphex-bench-apply.XXXXXX)
SIM_PID=""
cleanup() { [[ -n "$SIM_PID" ]] && { kill "$SIM_PID" 2>/dev/null || true; wait "$SIM_PID" 2>/dev/null || true; }; rm -rf "$WORK"; }
trap cleanup EXIT
command -v jq >/dev/null || { ${SUDO:-} apt-get update -qq && DEBIAN_FRONTEND=noninteractive ${SUDO:-} apt-get install -y -qq jq >/dev/null; }
if [[ -z "${APHEX_BIN_DIR:-}" ]]; then release_build --product aphex >/dev/null; release_build --product aphex-sim >/dev/null; fi
BIN=${APHEX_BIN_DIR:-$(release_bin_path)}

# --manifests-dir: the shared upstream manifests under the names aphex looks for, and a small
# dashboard (its release file is not among them).
SHARED="$(cd "$ROOT/.." && pwd)/shared/manifests"
MAN="$WORK/manifests"; mkdir -p "$MAN"
ln -s "$SHARED/argocd-v3.3.0-install.yaml" "$MAN/argocd-v3.3.0.yaml"
ln -s "$SHARED/tekton-pipelines-v0.65.0-assembled.yaml" "$MAN/tekton-pipelines-v0.65.0.yaml"
ln -s "$SHARED/tekton-triggers-v0.34.0-assembled.yaml" "$MAN/tekton-triggers-v0.34.0.yaml"
ln -s "$SHARED/tekton-interceptors-v0.34.0-assembled.yaml" "$MAN/tekton-interceptors-v0.34.0.yaml"
cat >"$MAN/tekton-dashboard-v0.64.0.yaml" <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: tekton-dashboard, namespace: tekton-pipelines, labels: {app.kubernetes.io/part-of: tekton-dashboard}}
spec:
  replicas: 1
  selector: {matchLabels: {app.kubernetes.io/name: dashboard}}
  template:
    metadata: {labels: {app.kubernetes.io/name: dashboard}}
    spec: {containers: [{name: tekton-dashboard, image: gcr.io/tekton-releases/github.com/tektoncd/dashboard/cmd/dashboard:v0.64.0}]}
YAML

RUN_ID=0
start_sim() {
    RUN_ID=$((RUN_ID + 1)); DIR="$WORK/sim-$RUN_ID"; mkdir -p "$DIR" "$DIR-home/.kube"
    "$BIN/aphex-sim" serve --scenario bench-apply --state-dir "$DIR" --port 0 --latency-ms "$LATENCY" 2>"$DIR.log" &
    SIM_PID=$!
    for _ in $(seq 1 500); do [[ -s "$DIR/port" ]] && break; sleep 0.02; done
    [[ -s "$DIR/port" ]] || { echo "aphex-sim did not start:"; cat "$DIR.log"; exit 1; }
    cp "$DIR/kubeconfig" "$DIR-home/.kube/config"
}
stop_sim() { kill "$SIM_PID" 2>/dev/null || true; wait "$SIM_PID" 2>/dev/null || true; SIM_PID=""; }
now_us() { printf -v "$1" '%s' "${EPOCHREALTIME/./}"; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) {print "n/a"; exit} if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

# aphex bootstrap --no-wait on a fresh simulator; prints the apply phase's seconds.
aphex_apply() {
    start_sim
    local out="$WORK/run-$RUN_ID.json"
    # The real kubectl straight from PATH, as for the kubectl way (the simulator's recording
    # shim in $DIR/bin is for tests; it costs up to a second per kubectl process).
    local t0 t1
    now_us t0
    env -i PATH="$(dirname "$KUBECTL"):/usr/local/bin:/usr/bin:/bin" HOME="$DIR-home" "$@" \
        "$BIN/aphex" bootstrap --deployment kind --use-existing --no-wait --manifests-dir "$MAN" --output json >"$out" 2>"$out.err" \
        || { echo "bootstrap failed:" >&2; tail -5 "$out.err" >&2; stop_sim; return 1; }
    now_us t1
    stop_sim
    # The whole run minus the steps before the apply phase (Tekton's step overlaps ArgoCD's,
    # so the steps' own seconds do not add up to the phase).
    jq --argjson wall "$(( t1 - t0 ))" '($wall / 1e6) - ([.steps[] | select(.id == "prerequisites" or .id == "cluster") | .seconds] | add) | . * 100 | round / 100' "$out"
}

# The shell way: each release manifest applied by kubectl in turn, its CRDs waited for.
kubectl_apply() {
    start_sim
    local k=("$KUBECTL" --kubeconfig "$DIR/kubeconfig") t0 t1
    export HOME="$DIR-home"
    now_us t0
    printf 'apiVersion: v1\nkind: Namespace\nmetadata: {name: argocd}\n' | "${k[@]}" apply --server-side -f - >/dev/null
    "${k[@]}" apply --server-side --force-conflicts -n argocd -f "$MAN/argocd-v3.3.0.yaml" >/dev/null
    "${k[@]}" wait --for condition=established --timeout=60s crd/applications.argoproj.io crd/applicationsets.argoproj.io crd/appprojects.argoproj.io >/dev/null
    for f in tekton-pipelines-v0.65.0 tekton-triggers-v0.34.0 tekton-interceptors-v0.34.0 tekton-dashboard-v0.64.0; do
        "${k[@]}" apply --server-side --force-conflicts -f "$MAN/$f.yaml" >/dev/null 2>&1 || {
            # CRs of CRDs in the same file (the interceptors' ClusterInterceptors): wait, then again.
            "${k[@]}" wait --for condition=established --timeout=60s crd --all >/dev/null
            "${k[@]}" apply --server-side --force-conflicts -f "$MAN/$f.yaml" >/dev/null
        }
    done
    printf 'apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: platform-root, namespace: argocd}\nspec: {project: default, source: {repoURL: "https://github.com/bdchatham/AphexPlatformInfrastructure.git", targetRevision: HEAD, path: platform/base/argocd/apps}, destination: {server: "https://kubernetes.default.svc", namespace: argocd}}\n' \
        | "${k[@]}" apply --server-side -f - >/dev/null
    now_us t1
    stop_sim
    awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f\n", (b - a) / 1e6}'
}

: >"$WORK/aphex"; : >"$WORK/seq"; : >"$WORK/kubectl"
for _ in $(seq 1 "$RUNS"); do
    aphex_apply >>"$WORK/aphex"
    aphex_apply APHEX_APPLY_SEQUENTIAL=1 >>"$WORK/seq"
    kubectl_apply >>"$WORK/kubectl"
done
A=$(median <"$WORK/aphex"); S=$(median <"$WORK/seq"); K=$(median <"$WORK/kubectl")
echo "apply phase (namespaces, secrets, ArgoCD, Tekton, ArgoCD config, platform-root), median of $RUNS runs,"
echo "simulator with ${LATENCY} ms per API request, the real kubectl $("$KUBECTL" version --client -o json 2>/dev/null | jq -r .clientVersion.gitVersion):"
printf '  aphex:              %6.2f s   (target <= 6 s)\n' "$A"
printf '  aphex, sequential:  %6.2f s   (%.2fx)\n' "$S" "$(awk -v a="$A" -v b="$S" 'BEGIN {print b/a}')"
printf '  the kubectl way:    %6.2f s   (%.2fx)\n' "$K" "$(awk -v a="$A" -v b="$K" 'BEGIN {print b/a}')"
