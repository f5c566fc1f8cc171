#!/usr/bin/env bash
# aphex's libcurl transport against Foundation's URLSession (FoundationNetworking on Linux), for
# what `aphex status` does (issue 16; docs/architecture.md). Prints figures; asserts nothing.
#   scripts/bench-transport.sh            ITERATIONS=200 STARTUP_RUNS=200
# 1. Release build with the tests (the benchmark is Tests/ClusterDriversTests/TransportBenchmark.swift).
# 2. `aphex-sim serve --scenario bench-25` (plain http), behind two loopback TLS fronts (nghttpx,
#    HTTP/2 and HTTP/1.1 by ALPN, as the API server): one with a server certificate from a private
#    EC P-256 CA, one that also demands a client certificate (as kind's API server). socat answers
#    302 to a plain-http URL.
# 3. What URLSession can do that aphex needs, tried against those servers; then the libcurl side.
# 4. Speed: 6 sequential GETs (the 53 KiB Application list first) per run, a new client per run
#    (cold) and one kept-alive client (warm), libcurl and URLSession. URLSession on Linux trusts
#    only the system store, so its https run happens in a private mount namespace whose
#    /etc/ssl/certs/ca-certificates.crt has the private CA appended (nothing on the host changes).
# 5. Which HTTP version each client spoke (nghttpx's access log), and process start-up: three
#    minimal static-stdlib programs (Foundation with ICU, as aphex; + libcurl; + FoundationNetworking's
#    URLSession instead).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ITERATIONS=${ITERATIONS:-200}
STARTUP_RUNS=${STARTUP_RUNS:-200}
WORK=$(mktemp -d /tmp/aphex-bench-transport.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
ensure_system_packages jq curl socat nghttp2-proxy openssl util-linux

echo "==> release build with tests (several minutes the first time)" >&2
swift build -c release --build-tests -Xswiftc -enable-testing 2>&1 | grep -E "error:|Compiling|Build complete" | tail -3 >&2
BIN=$(swift build -c release --show-bin-path)
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.05; done; }

# The simulator, converged.
mkdir -p "$WORK/sim"
"$BIN/aphex-sim" serve --scenario bench-25 --state-dir "$WORK/sim" --port 0 2>"$WORK/sim.log" &
PIDS+=($!)
for _ in $(seq 1 500); do [[ -s "$WORK/sim/port" ]] && break; sleep 0.02; done
SIM_PORT=$(cat "$WORK/sim/port")
HTTP_URL="http://127.0.0.1:$SIM_PORT"
for _ in $(seq 1 300); do
    curl -fsS -H 'Authorization: Bearer aphex-sim-token' "$HTTP_URL/apis/argoproj.io/v1alpha1/namespaces/argocd/applications" \
        | jq -e '(.items | length) == 26 and all(.items[]; .status.operationState.phase == "Succeeded")' >/dev/null && break
    sleep 0.1
done

# A kind-shaped PKI: CA, server certificate for 127.0.0.1, client certificate in system:masters.
PKI="$WORK/pki"; kind_pki "$PKI"
TLS_PORT=$(free_port)
nghttpx --conf=/dev/null --single-process --workers=1 --no-ocsp --frontend=127.0.0.1,"$TLS_PORT" \
    --backend=127.0.0.1,"$SIM_PORT" --accesslog-file="$WORK/tls-access.log" \
    "$PKI/server.key" "$PKI/server.crt" >"$WORK/tls-front.log" 2>&1 &
PIDS+=($!)
MTLS_PORT=$(free_port)
nghttpx --conf=/dev/null --single-process --workers=1 --no-ocsp --frontend=127.0.0.1,"$MTLS_PORT" \
    --backend=127.0.0.1,"$SIM_PORT" --accesslog-file="$WORK/mtls-access.log" \
    --verify-client --verify-client-cacert="$PKI/ca.crt" "$PKI/server.key" "$PKI/server.crt" >"$WORK/mtls-front.log" 2>&1 &
PIDS+=($!)
REDIRECT_PORT=$(free_port)
printf '#!/bin/sh\nprintf "HTTP/1.1 302 Found\\r\\nLocation: http://127.0.0.1:%s/version\\r\\nContent-Length: 0\\r\\n\\r\\n"\n' \
    "$SIM_PORT" >"$WORK/redirect.sh"
socat TCP-LISTEN:"$REDIRECT_PORT",bind=127.0.0.1,reuseaddr,fork EXEC:"sh $WORK/redirect.sh" &
PIDS+=($!)
wait_port "$TLS_PORT"; wait_port "$MTLS_PORT"; wait_port "$REDIRECT_PORT"

export APHEX_BENCH_HTTP_URL="$HTTP_URL" APHEX_BENCH_TLS_URL="https://127.0.0.1:$TLS_PORT"
export APHEX_BENCH_MTLS_URL="https://127.0.0.1:$MTLS_PORT" APHEX_BENCH_REDIRECT_URL="http://127.0.0.1:$REDIRECT_PORT/"
export APHEX_BENCH_CA="$PKI/ca.crt" APHEX_BENCH_CERT="$PKI/client.crt" APHEX_BENCH_KEY="$PKI/client.key"
export APHEX_BENCH_ITERATIONS="$ITERATIONS"

echo "== machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== $(swift --version 2>&1 | head -1); $(curl --version | head -1 | cut -d' ' -f1-5)"
echo "== what URLSession (FoundationNetworking) can do that aphex needs, tried"
APHEX_BENCH_TRANSPORT=capabilities swift test -c release --skip-build --filter TransportBenchmark 2>&1 \
    | grep -E "^CAPABILITY|error:" || true
echo "   URLCredential initialisers exported by libFoundationNetworking.so:" \
    "$(nm -D --defined-only "$(dirname "$(readlink -f "$(command -v swift)")")/../lib/swift/linux/libFoundationNetworking.so" \
        | awk '{print $3}' | swift demangle --simplified | grep -E '^URLCredential\.init\(' | sort -u | tr '\n' ' ')"

echo "== speed: $ITERATIONS runs of 6 sequential GETs each (URLSession https: CA added to the system store in a private mount namespace)"
cat /etc/ssl/certs/ca-certificates.crt "$PKI/ca.crt" >"$WORK/bundle.crt"
: >"$WORK/tls-access.log"; : >"$WORK/mtls-access.log"
unshare --mount sh -c "mount --bind '$WORK/bundle.crt' /etc/ssl/certs/ca-certificates.crt &&
    APHEX_BENCH_URLSESSION_TRUSTS_CA=1 APHEX_BENCH_TRANSPORT=speed swift test -c release --skip-build --filter TransportBenchmark" \
    2>&1 | grep -E "^BENCH|^CAPABILITY|error:" || true
echo "== HTTP versions spoken (nghttpx access logs: requests by protocol and client)"
cat "$WORK/tls-access.log" "$WORK/mtls-access.log" \
    | sed -nE 's/.*"[A-Z]+ [^ ]+ (HTTP\/[0-9.]+)".*"(bench-[a-z]+)"$/\2 \1/p' | sort | uniq -c | sed 's/^/   /'

echo "== process start-up, $STARTUP_RUNS runs each (static Swift runtime, as scripts/setup.sh builds aphex)"
mkdir -p "$WORK/startup"
# Each formats a date (ICU, as aphex links it) and prints; they differ only in the HTTP client linked
# (touched, not used: `aphex version` makes no request, and neither client initialises libcurl before one).
cat >"$WORK/startup/foundation.swift" <<'EOF'
import Foundation
let f = DateFormatter()
f.dateFormat = "yyyy"
print(f.string(from: Date(timeIntervalSince1970: 0)))
EOF
cat >"$WORK/startup/curl.swift" <<'EOF'
import Foundation
@_silgen_name("curl_version") func curl_version() -> UnsafePointer<CChar>
let f = DateFormatter()
f.dateFormat = "yyyy"
print(f.string(from: Date(timeIntervalSince1970: 0)) + " " + String(cString: curl_version()).prefix(12))
EOF
cat >"$WORK/startup/urlsession.swift" <<'EOF'
import Foundation
import FoundationNetworking
let f = DateFormatter()
f.dateFormat = "yyyy"
print(f.string(from: Date(timeIntervalSince1970: 0)) + " \(URLSessionConfiguration.self)")
EOF
(
    cd "$WORK/startup"
    swiftc -O -static-stdlib foundation.swift -o foundation 2>/dev/null
    swiftc -O -static-stdlib curl.swift -lcurl -o curl 2>/dev/null
    swiftc -O -static-stdlib urlsession.swift -o urlsession 2>/dev/null
)
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
for prog in foundation curl urlsession; do
    "$WORK/startup/$prog" >/dev/null
    : >"$WORK/$prog.ms"
    for _ in $(seq 1 "$STARTUP_RUNS"); do
        t0=${EPOCHREALTIME/./}; "$WORK/startup/$prog" >/dev/null; t1=${EPOCHREALTIME/./}
        echo $(( t1 - t0 )) >>"$WORK/$prog.ms"
    done
    printf '   %-11s %6.2f ms median, binary %s MiB\n' "$prog" "$(median <"$WORK/$prog.ms" | awk '{print $1/1000}')" \
        "$(du -m "$WORK/startup/$prog" | cut -f1)"
done
APHEX="$BIN/aphex"
if [[ -x "$APHEX" ]]; then
    : >"$WORK/aphex.ms"
    for _ in $(seq 1 "$STARTUP_RUNS"); do
        t0=${EPOCHREALTIME/./}; "$APHEX" version >/dev/null 2>&1 || true; t1=${EPOCHREALTIME/./}
        echo $(( t1 - t0 )) >>"$WORK/aphex.ms"
    done
    echo "   for scale: aphex version (this release build, dynamic Swift runtime): $(median <"$WORK/aphex.ms" | awk '{print $1/1000}') ms median"
fi
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
