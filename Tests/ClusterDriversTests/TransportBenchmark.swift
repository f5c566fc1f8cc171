import AphexCore
import Foundation
import KubeClient
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The transport half of the hand-written-infrastructure question (issue 16,
/// docs/architecture.md): aphex's libcurl transport (`CurlTransport`) against
/// Foundation's URLSession (FoundationNetworking on Linux), for what `aphex status` does: a new
/// client (one process), then 6 sequential GETs, the 53 KiB Application list first, against
/// the simulator (`aphex-sim serve`, scenario bench-25) behind loopback TLS fronts.
/// scripts/bench-transport.sh sets it up and runs it twice:
///   APHEX_BENCH_TRANSPORT=capabilities: what URLSession on Linux can and cannot do that aphex
///     needs (a kubeconfig CA as the only trust anchor, a client certificate from PEM data,
///     https-only redirects, a response size cap), each tried against a real server;
///   APHEX_BENCH_TRANSPORT=speed: median and p95 per run, cold (a new client per run, as each
///     `aphex status` process is) and warm (one client, kept-alive connection).
/// Environment: APHEX_BENCH_HTTP_URL (the simulator, plain http), APHEX_BENCH_TLS_URL (TLS front,
/// server certificate from APHEX_BENCH_CA), APHEX_BENCH_MTLS_URL (TLS front that demands a client
/// certificate), APHEX_BENCH_CA / _CERT / _KEY (PEM files), APHEX_BENCH_REDIRECT_URL (answers 302
/// to a plain-http URL), APHEX_BENCH_URLSESSION_TRUSTS_CA=1 when the CA was added to the system
/// trust store for this process (the only way URLSession on Linux trusts it),
/// APHEX_BENCH_ITERATIONS (default 200). Skipped otherwise.
@Suite(.serialized) struct TransportBenchmark {
    static let env = ProcessInfo.processInfo.environment
    static var phase: String? { env["APHEX_BENCH_TRANSPORT"] }
    static var iterations: Int { env["APHEX_BENCH_ITERATIONS"].flatMap(Int.init) ?? 200 }

    /// What one `aphex status` run reads, in order (its POST dry-run replaced by a GET).
    static let paths = [
        "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications",
        "/apis/apps/v1/deployments?labelSelector=app.kubernetes.io%2Fpart-of%20in%20%28argocd%2Ctekton-pipelines%29",
        "/apis/apps/v1/statefulsets?labelSelector=app.kubernetes.io%2Fpart-of%20in%20%28argocd%2Ctekton-pipelines%29",
        "/api/v1/secrets?labelSelector=app.kubernetes.io%2Fmanaged-by%3Daphex",
        "/api/v1/namespaces/argocd/secrets/argocd-secret",
        "/api/v1/namespaces/argocd"
    ]
    static let token = "aphex-sim-token"

    static func pem(_ key: String) -> [UInt8]? {
        env[key].flatMap { FileManager.default.contents(atPath: $0) }.map { [UInt8]($0) }
    }

    // MARK: the two clients behind one face

    protocol Client: Sendable {
        /// Status and body size of one GET.
        func get(_ url: String) async throws -> (Int, Int)
        func close()
    }

    struct Curl: Client {
        let transport: CurlTransport
        init(tls: TLSOptions) { transport = CurlTransport(tls: tls, redirectProtocols: "http,https") }
        func get(_ url: String) async throws -> (Int, Int) {
            let r = try await transport.send(
                HTTPRequest(
                    url: url,
                    headers: [
                        "Accept": "application/json",
                        "User-Agent": "bench-libcurl"
                    ]))
            return (r.status, r.body.count)
        }
        func close() {}
    }

    // MARK: runs

    static func run(_ client: some Client, base: String) async throws -> Int {
        var bytes = 0
        for p in paths {
            let (status, n) = try await client.get(base + p)
            guard status == 200 || status == 404 else { throw TransportError.other("\(p): HTTP \(status)") }
            bytes += n
        }
        return bytes
    }

    static func stats(_ ms: [Double]) -> String {
        let s = ms.sorted()
        let p95 = s[min(s.count - 1, Int((Double(s.count) * 0.95).rounded(.up)) - 1)]
        return String(format: "median %.2f ms  p95 %.2f ms  min %.2f ms", s[s.count / 2], p95, s[0])
    }

    /// Cold: a new client per run (a process's first connection and TLS handshake included).
    /// Warm: one client for every run (its connection kept alive).
    static func measure(_ label: String, base: String, make: () -> any Client) async {
        do {
            let warmClient = make()
            let bytes = try await run(warmClient, base: base)
            for _ in 0..<10 { _ = try await run(warmClient, base: base) }
            var cold: [Double] = [], warm: [Double] = []
            for _ in 0..<iterations {
                let t0 = ContinuousClock.now
                let c = make()
                _ = try await run(c, base: base)
                c.close()
                let t1 = ContinuousClock.now
                _ = try await run(warmClient, base: base)
                warm.append((ContinuousClock.now - t1).seconds * 1000)
                cold.append((t1 - t0).seconds * 1000)
            }
            warmClient.close()
            print("BENCH transport \(label) (\(paths.count) GETs, \(bytes) bytes, \(iterations) runs)")
            print("BENCH transport   cold (new client per run): \(stats(cold))")
            print("BENCH transport   warm (kept-alive client):  \(stats(warm))")
        } catch {
            print("BENCH transport \(label): FAILED: \(error)")
        }
    }

    @Test(.enabled(if: TransportBenchmark.phase == "speed"))
    func statusShapedReads() async throws {
        let tls = TLSOptions(caPEM: Self.pem("APHEX_BENCH_CA"), bearerToken: Self.token)
        let mtls = TLSOptions(
            caPEM: Self.pem("APHEX_BENCH_CA"), clientCertPEM: Self.pem("APHEX_BENCH_CERT"),
            clientKeyPEM: Self.pem("APHEX_BENCH_KEY"), bearerToken: Self.token)
        if let http = Self.env["APHEX_BENCH_HTTP_URL"] {
            await Self.measure("libcurl    http", base: http) { Curl(tls: TLSOptions(bearerToken: Self.token)) }
            #if canImport(FoundationNetworking)
                await Self.measure("URLSession http", base: http) { URLSessionClient(cap: 32 << 20) }
            #endif
        }
        if let url = Self.env["APHEX_BENCH_TLS_URL"] {
            await Self.measure("libcurl    https, CA pinned", base: url) { Curl(tls: tls) }
            #if canImport(FoundationNetworking)
                if Self.env["APHEX_BENCH_URLSESSION_TRUSTS_CA"] == "1" {
                    await Self.measure("URLSession https, CA in the system store", base: url) {
                        URLSessionClient(cap: 32 << 20)
                    }
                }
            #endif
        }
        if let url = Self.env["APHEX_BENCH_MTLS_URL"] {
            await Self.measure("libcurl    https + client certificate (mTLS)", base: url) { Curl(tls: mtls) }
            #if canImport(FoundationNetworking)
                if Self.env["APHEX_BENCH_URLSESSION_TRUSTS_CA"] == "1" {
                    await Self.attempt(
                        "mTLS, the CA in the system store (no way to give it a client certificate)",
                        url + Self.paths[0])
                }
            #endif
        }
    }

    // MARK: what URLSession can do, tried

    #if canImport(FoundationNetworking)
        static func attempt(_ what: String, _ url: String?, cap: Int = 32 << 20) async {
            guard let url else { return }
            let c = URLSessionClient(cap: cap)
            defer { c.close() }
            do {
                let (status, n) = try await c.get(url)
                print("CAPABILITY URLSession \(what): HTTP \(status), \(n) bytes; challenges seen: \(c.challenges)")
            } catch {
                let why = error is TransportError ? "\(error)" : error.localizedDescription
                print("CAPABILITY URLSession \(what): failed: \(why); challenges: \(c.challenges)")
            }
        }
    #endif

    @Test(.enabled(if: TransportBenchmark.phase == "capabilities"))
    func urlSessionCapabilities() async throws {
        #if canImport(FoundationNetworking)
            let apps = Self.paths[0]
            let tlsURL = Self.env["APHEX_BENCH_TLS_URL"].map { $0 + apps }
            let mtlsURL = Self.env["APHEX_BENCH_MTLS_URL"].map { $0 + apps }
            await Self.attempt("https with a private CA (not in the system store)", tlsURL)
            await Self.attempt("https to a server demanding a client certificate", mtlsURL)
            await Self.attempt("302 to plain http (delegate refuses non-https)", Self.env["APHEX_BENCH_REDIRECT_URL"])
            await Self.attempt(
                "the Application list with a 4 KiB cap (delegate cancels)",
                Self.env["APHEX_BENCH_HTTP_URL"].map { $0 + apps }, cap: 4096)
        #endif
        // libcurl, the same four, for comparison.
        let curl = CurlTransport(
            tls: TLSOptions(
                caPEM: Self.pem("APHEX_BENCH_CA"),
                clientCertPEM: Self.pem("APHEX_BENCH_CERT"),
                clientKeyPEM: Self.pem("APHEX_BENCH_KEY"), bearerToken: Self.token))
        let list = Self.paths[0]
        for (what, url, cap) in [
            ("https, kubeconfig CA pinned", Self.env["APHEX_BENCH_TLS_URL"].map { $0 + list }, 32 << 20),
            ("mTLS, client certificate from PEM data", Self.env["APHEX_BENCH_MTLS_URL"].map { $0 + list }, 32 << 20),
            ("302 to plain http", Self.env["APHEX_BENCH_REDIRECT_URL"], 32 << 20),
            ("the Application list with a 4 KiB cap", Self.env["APHEX_BENCH_HTTP_URL"].map { $0 + list }, 4096)
        ] {
            guard let url else { continue }
            do {
                let r = try await curl.send(HTTPRequest(url: url, maxResponseBytes: cap))
                print("CAPABILITY libcurl    \(what): HTTP \(r.status), \(r.body.count) bytes")
            } catch {
                print("CAPABILITY libcurl    \(what): failed: \(error)")
            }
        }
    }
}

#if canImport(FoundationNetworking)
    /// A minimal URLSession transport with what aphex's transport guarantees that URLSession's API
    /// allows on Linux: redirects to https only (task delegate), a response size cap (refused on
    /// Content-Length, else cancelled as the bytes pass it), an ephemeral session per client (no
    /// cookies, no cache). Not possible here: a kubeconfig CA as the only trust anchor, a client
    /// certificate (URLCredential has neither `init(trust:)` nor `init(identity:certificates:persistence:)`
    /// in FoundationNetworking), so against a real cluster it cannot connect.
    final class URLSessionClient: NSObject, TransportBenchmark.Client, URLSessionDataDelegate, @unchecked Sendable {
        private let lock = NSLock()
        private var session: URLSession!
        private let cap: Int
        private var pending: [Int: Pending] = [:]
        private struct Pending {
            var continuation: CheckedContinuation<(Int, Int), any Error>
            var body: [UInt8] = []
            var overCap = false
        }
        private var _challenges: [String] = []
        var challenges: [String] { lock.withLock { _challenges } }

        init(cap: Int) {
            self.cap = cap
            super.init()
            let config = URLSessionConfiguration.ephemeral
            config.httpAdditionalHeaders = [
                "Accept": "application/json", "User-Agent": "bench-urlsession",
                "Authorization": "Bearer \(TransportBenchmark.token)"
            ]
            config.timeoutIntervalForRequest = 60
            session = URLSession(configuration: config, delegate: self, delegateQueue: nil)
        }

        func get(_ url: String) async throws -> (Int, Int) {
            try await withCheckedThrowingContinuation { cont in
                let task = session.dataTask(with: URLRequest(url: URL(string: url)!))
                lock.withLock { pending[task.taskIdentifier] = Pending(continuation: cont) }
                task.resume()
            }
        }

        func close() { session.finishTasksAndInvalidate() }

        func urlSession(
            _ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
            newRequest request: URLRequest, completionHandler: @escaping (URLRequest?) -> Void
        ) {
            // nil: not followed; the 3xx response is the answer (aphex's transport fails it instead).
            completionHandler(request.url?.scheme == "https" ? request : nil)
        }

        func urlSession(
            _ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
            completionHandler: @escaping (URLSession.ResponseDisposition) -> Void
        ) {
            let over = response.expectedContentLength > cap
            if over { lock.withLock { pending[dataTask.taskIdentifier]?.overCap = true } }
            completionHandler(over ? .cancel : .allow)
        }

        func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
            let over = lock.withLock { () -> Bool in
                guard var entry = pending[dataTask.taskIdentifier] else { return false }
                entry.body.append(contentsOf: data)
                entry.overCap = entry.body.count > cap
                pending[dataTask.taskIdentifier] = entry
                return entry.overCap
            }
            if over { dataTask.cancel() }
        }

        func urlSession(
            _ session: URLSession, didReceive challenge: URLAuthenticationChallenge,
            completionHandler: @escaping (URLSession.AuthChallengeDisposition, URLCredential?) -> Void
        ) {
            lock.withLock { _challenges.append(challenge.protectionSpace.authenticationMethod) }
            completionHandler(.performDefaultHandling, nil)
        }

        func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
            guard let p = lock.withLock({ pending.removeValue(forKey: task.taskIdentifier) }) else { return }
            if p.overCap {
                p.continuation.resume(throwing: TransportError.tooLarge("stopped past the \(cap)-byte cap"))
            } else if let error {
                p.continuation.resume(throwing: error)
            } else {
                p.continuation.resume(returning: ((task.response as? HTTPURLResponse)?.statusCode ?? 0, p.body.count))
            }
        }
    }
#endif
