#!/usr/bin/env bash
# No Docker? Watch `aphex bootstrap --deployment kind` run end to end against the simulated
# cluster (stand-in kind/kubectl and a loopback Kubernetes API; 1/20 real time), then
# `aphex status`. Uses the real ArgoCD/Tekton manifests from ../shared/manifests.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_system_packages
swift build --product aphex >&2
swift build --product aphex-sim >&2
BIN="$(swift build --show-bin-path)"
WORK=$(mktemp -d /tmp/aphex-demo.XXXXXX)
trap 'kill "$SIM" 2>/dev/null; rm -rf "$WORK"' EXIT
SHARED="$ROOT/../shared/manifests"
mkdir -p "$WORK/manifests" "$WORK/home"
ln -s "$SHARED/argocd-v3.3.0-install.yaml" "$WORK/manifests/argocd-v3.3.0.yaml"
ln -s "$SHARED/tekton-pipelines-v0.65.0-assembled.yaml" "$WORK/manifests/tekton-pipelines-v0.65.0.yaml"
ln -s "$SHARED/tekton-triggers-v0.34.0-assembled.yaml" "$WORK/manifests/tekton-triggers-v0.34.0.yaml"
ln -s "$SHARED/tekton-interceptors-v0.34.0-assembled.yaml" "$WORK/manifests/tekton-interceptors-v0.34.0.yaml"
cat > "$WORK/manifests/tekton-dashboard-v0.64.0.yaml" <<'YAML'
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
"$BIN/aphex-sim" serve --scenario blackbox-fresh-kind --state-dir "$WORK/sim" >/dev/null 2>"$WORK/sim.log" &
SIM=$!
for _ in $(seq 100); do [ -f "$WORK/sim/port" ] && break; sleep 0.1; done
export PATH="$WORK/sim/bin:$BIN:$PATH" HOME="$WORK/home" APHEX_SIM_STATE="$WORK/sim" APHEX_HOST_ROOT="$WORK/sim/root"
aphex bootstrap --deployment kind --manifests-dir "$WORK/manifests" --timeout 5m
aphex status
