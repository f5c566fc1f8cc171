import Foundation
import Testing
@testable import AphexCore
@testable import KubeClient
@testable import ClusterDrivers
import TestSupport

@Suite struct CurlTransportTests {
    @Test func getCapturesStatusLowerCasedHeadersAndBody() async throws {
        let server = try HTTPTestServer { req in
            .full(
                status: 200, headers: ["X-Echo-Path": req.target, "Content-Type": "text/plain"],
                body: Array("hello \(req.method)".utf8))
        }
        defer { server.stop() }
        let t = CurlTransport()
        let r = try await t.send(HTTPRequest(url: server.baseURL + "/a/b?x=1"))
        #expect(r.status == 200)
        #expect(r.text == "hello GET")
        #expect(r.headers["x-echo-path"] == "/a/b?x=1")
        #expect(r.headers["content-type"] == "text/plain")
        #expect(r.headers["X-Echo-Path"] == nil)
    }

    @Test func nonSuccessStatusIsAResponseNotAnError() async throws {
        let server = try HTTPTestServer { _ in .text(503, "busy") }
        defer { server.stop() }
        let r = try await CurlTransport().send(HTTPRequest(url: server.baseURL + "/"))
        #expect(r.status == 503)
        #expect(r.text == "busy")
    }

    @Test func tenRequestsOpenOneConnection() async throws {
        let server = try HTTPTestServer { _ in .text(200, "ok") }
        defer { server.stop() }
        let t = CurlTransport()
        for i in 0..<10 {
            let r = try await t.send(HTTPRequest(url: server.baseURL + "/r\(i)"))
            #expect(r.status == 200)
        }
        #expect(t.connectionsOpened == 1)
        #expect(t.requestCount == 10)
        #expect(server.connections == 1)
        #expect(server.requests.count == 10)
    }

    @Test func recoversWhenTheServerGoesAwayAndComesBack() async throws {
        let first = try HTTPTestServer { _ in .text(200, "one") }
        let port = first.port
        let t = CurlTransport()
        for _ in 0..<3 { #expect(try await t.send(HTTPRequest(url: first.baseURL + "/")).text == "one") }
        first.stop()
        #expect(await first.waitUntilIdle())
        // Down: the kept-alive connection is dead and nobody listens.
        await #expect(throws: TransportError.self) {
            _ = try await t.send(HTTPRequest(url: "http://127.0.0.1:\(port)/"))
        }
        // Back on the same port: the same transport reconnects.
        var second: HTTPTestServer? = nil
        for _ in 0..<50 where second == nil {
            second = try? HTTPTestServer(port: port) { _ in .text(200, "two") }
            if second == nil { try await Task.sleep(for: .milliseconds(50)) }
        }
        let back = try #require(second)
        defer { back.stop() }
        #expect(try await t.send(HTTPRequest(url: back.baseURL + "/")).text == "two")
        #expect(try await t.send(HTTPRequest(url: back.baseURL + "/")).text == "two")
        #expect(back.connections == 1)
    }

    @Test func withoutReuseEachRequestConnectsAgain() async throws {
        let server = try HTTPTestServer { _ in .text(200, "ok") }
        defer { server.stop() }
        let t = CurlTransport(reuseConnections: false)
        for _ in 0..<5 { _ = try await t.send(HTTPRequest(url: server.baseURL + "/")) }
        #expect(t.connectionsOpened == 5)
        #expect(server.connections == 5)
    }

    @Test func followsRedirectsAndKeepsFinalHeaders() async throws {
        let server = try HTTPTestServer { req in
            switch req.path {
            case "/old": return .full(status: 302, headers: ["Location": "/mid", "X-Hop": "1"], body: [])
            case "/mid": return .full(status: 301, headers: ["Location": "/new"], body: [])
            case "/new": return .full(status: 200, headers: ["X-Final": "yes"], body: Array("manifest".utf8))
            default: return .text(404, "no")
            }
        }
        defer { server.stop() }
        // Plain http redirects are refused by default (see redirectsLeadToHTTPSOnly): widened here.
        let r = try await CurlTransport(redirectProtocols: "http,https").send(HTTPRequest(url: server.baseURL + "/old"))
        #expect(r.status == 200)
        #expect(r.text == "manifest")
        #expect(r.headers["x-final"] == "yes")
        #expect(r.headers["x-hop"] == nil)
        #expect(server.requests.map(\.path) == ["/old", "/mid", "/new"])
    }

    @Test func bearerTokenIsNotForwardedToAnotherHostOnRedirect() async throws {
        let box = CurlCollected<Int>()
        let server = try HTTPTestServer { req in
            if req.path == "/start" {
                return .full(
                    status: 302, headers: ["Location": "http://localhost:\(box.values.first ?? 0)/other"], body: [])
            }
            return .text(200, req.headers["authorization"] ?? "none")
        }
        defer { server.stop() }
        box.append(server.port)
        let t = CurlTransport(tls: TLSOptions(bearerToken: "secret-token"), redirectProtocols: "http,https")
        let same = try await t.send(HTTPRequest(url: server.baseURL + "/other"))
        #expect(same.text == "Bearer secret-token")
        let moved = try await t.send(HTTPRequest(url: server.baseURL + "/start"))
        #expect(moved.status == 200)
        #expect(moved.text == "none")  // 127.0.0.1 -> localhost is another host: no token
    }

    @Test func redirectLoopIsAnError() async throws {
        let server = try HTTPTestServer { req in
            .full(status: 302, headers: ["Location": req.path == "/a" ? "/b" : "/a"], body: [])
        }
        defer { server.stop() }
        await #expect(throws: TransportError.self) {
            _ = try await CurlTransport(redirectProtocols: "http,https").send(HTTPRequest(url: server.baseURL + "/a"))
        }
        #expect(server.requests.count == 11)  // the first + 10 followed
    }

    @Test func sendsBodiesMethodsHeadersAndBearerToken() async throws {
        let server = try HTTPTestServer { req in
            let echo =
                """
                \(req.method) \(req.headers["content-type"] ?? "-") \(req.headers["authorization"] ?? "-") \
                \(req.headers["x-custom"] ?? "-") \(String(decoding: req.body, as: UTF8.self))
                """
            return .text(200, echo)
        }
        defer { server.stop() }
        let t = CurlTransport(tls: TLSOptions(bearerToken: "s3cr3t"))
        let post = try await t.send(
            HTTPRequest(method: "POST", url: server.baseURL + "/p", body: Array(#"{"a":1}"#.utf8)))
        #expect(post.text == #"POST application/json Bearer s3cr3t - {"a":1}"#)
        let patch = try await t.send(
            HTTPRequest(
                method: "PATCH", url: server.baseURL + "/p",
                headers: ["Content-Type": "application/merge-patch+json", "X-Custom": "v"],
                body: Array(#"{"b":2}"#.utf8)))
        #expect(patch.text == #"PATCH application/merge-patch+json Bearer s3cr3t v {"b":2}"#)
        let put = try await t.send(HTTPRequest(method: "PUT", url: server.baseURL + "/p", body: Array("x".utf8)))
        #expect(put.text == "PUT application/json Bearer s3cr3t - x")
        // A GET after bodies on the same handle carries no stale body or method.
        let get = try await t.send(HTTPRequest(url: server.baseURL + "/p"))
        #expect(get.text == "GET - Bearer s3cr3t - ")
        let delete = try await t.send(HTTPRequest(method: "DELETE", url: server.baseURL + "/p"))
        #expect(delete.text.hasPrefix("DELETE "))
        #expect(t.connectionsOpened == 1)
    }

    @Test func streamDeliversChunksAsTheyArrive() async throws {
        let parts = (0..<4).map { Array("{\"n\":\($0)}\n".utf8) }
        let server = try HTTPTestServer { _ in .chunked(status: 200, parts: parts, gap: .milliseconds(150)) }
        defer { server.stop() }
        let arrivals = CurlCollected<(Duration, [UInt8])>()
        let start = ContinuousClock.now
        let status = try await CurlTransport().stream(HTTPRequest(url: server.baseURL + "/watch")) { bytes in
            arrivals.append((ContinuousClock.now - start, bytes))
            return true
        }
        let total = ContinuousClock.now - start
        #expect(status == 200)
        let got = arrivals.values
        #expect(got.flatMap(\.1) == parts.flatMap { $0 })
        #expect(got.count >= 4)
        // The first event is delivered long before the stream ends (streaming, not buffering).
        #expect(got[0].0 < total - .milliseconds(300))
    }

    @Test func streamStopsWhenConsumerReturnsFalse() async throws {
        let server = try HTTPTestServer { _ in .endless(status: 200, part: Array("{}\n".utf8), gap: .milliseconds(20)) }
        defer { server.stop() }
        let count = CurlCollected<Int>()
        let status = try await CurlTransport().stream(HTTPRequest(url: server.baseURL + "/w")) { _ in
            count.append(1)
            return count.values.count < 3
        }
        #expect(status == 200)
        #expect(count.values.count == 3)
    }

    @Test func cancellingTheTaskEndsTheStream() async throws {
        let server = try HTTPTestServer { _ in .endless(status: 200, part: Array("{}\n".utf8), gap: .milliseconds(400))
        }
        defer { server.stop() }
        let t = CurlTransport()
        let chunks = CurlCollected<Int>()
        let task = Task {
            try await t.stream(HTTPRequest(url: server.baseURL + "/w")) { _ in
                chunks.append(1)
                return true
            }
        }
        // Cancel once the transfer is streaming (the first chunk arrived). Generous: other
        // suites may keep both cooperative threads busy for a while on a 2-core machine.
        let ready = ContinuousClock.now + .seconds(30)
        while chunks.values.isEmpty && ContinuousClock.now < ready { try await Task.sleep(for: .milliseconds(10)) }
        #expect(!chunks.values.isEmpty)
        let start = ContinuousClock.now
        task.cancel()
        let result = await task.result
        let latency = ContinuousClock.now - start
        #expect(throws: CancellationError.self) { try result.get() }
        // The caller is resumed at once (a few ms on a quiet machine); not asserted, because
        // CPU-bound tests elsewhere in the package can hold both cooperative threads for seconds.
        print("cancel-to-resume latency: \(formatDuration(latency))")
        // ...and the libcurl transfer itself is aborted shortly after (progress callback).
        let deadline = ContinuousClock.now + .seconds(30)
        while t.requestCount == 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(t.requestCount == 1)
        #expect(await server.waitUntilIdle())  // the server saw the connection close
    }

    @Test func concurrentRequestsUseSeparateHandles() async throws {
        let server = try HTTPTestServer { req in
            req.path == "/watch"
                ? .chunked(status: 200, parts: [Array("a".utf8), Array("b".utf8)], gap: .milliseconds(300))
                : .text(200, "ok")
        }
        defer { server.stop() }
        let t = CurlTransport()
        async let watched = t.stream(HTTPRequest(url: server.baseURL + "/watch")) { _ in true }
        try await Task.sleep(for: .milliseconds(50))
        for _ in 0..<3 { #expect(try await t.send(HTTPRequest(url: server.baseURL + "/get")).status == 200) }
        #expect(try await watched == 200)
    }

    @Test func connectionRefusedIsTyped() async throws {
        let port = HTTPTestServer.closedPort()
        do {
            _ = try await CurlTransport().send(HTTPRequest(url: "http://127.0.0.1:\(port)/"))
            Issue.record("expected an error")
        } catch let e as TransportError {
            guard case .connectionRefused(let m) = e else {
                Issue.record("got \(e)")
                return
            }
            #expect(m.contains("127.0.0.1:\(port)"))
        }
    }

    @Test func wholeRequestTimeoutIsTyped() async throws {
        let server = try HTTPTestServer { _ in .stall(.seconds(3), then: Array("late".utf8)) }
        defer { server.stop() }
        let start = ContinuousClock.now
        do {
            _ = try await CurlTransport().send(HTTPRequest(url: server.baseURL + "/slow", timeout: .milliseconds(300)))
            Issue.record("expected a timeout")
        } catch let e as TransportError {
            guard case .timedOut = e else {
                Issue.record("got \(e)")
                return
            }
        }
        // The typed error is the proof: a missed timeout returns "late" after 3 s, no error.
        _ = start
    }

    @Test func serverClosingWithoutAnswerIsConnectionReset() async throws {
        let server = try HTTPTestServer { _ in .close }
        defer { server.stop() }
        do {
            _ = try await CurlTransport().send(HTTPRequest(url: server.baseURL + "/"))
            Issue.record("expected an error")
        } catch let e as TransportError {
            guard case .connectionReset = e else {
                Issue.record("got \(e)")
                return
            }
        }
    }

    @Test func errorsNeverCarryTheQueryOrToken() async throws {
        let port = HTTPTestServer.closedPort()
        do {
            _ = try await CurlTransport(tls: TLSOptions(bearerToken: "tok-123"))
                .send(HTTPRequest(url: "http://u:pw@127.0.0.1:\(port)/x?token=abc"))
            Issue.record("expected an error")
        } catch {
            let text = String(describing: error)
            #expect(!text.contains("abc"))
            #expect(!text.contains("tok-123"))
            #expect(!text.contains("pw"))
        }
    }

    // MARK: issue 14: redirects to https only, size caps

    /// A redirect never leads to plain http (a downgrade) or another protocol: libcurl stops
    /// there (CURLOPT_REDIR_PROTOCOLS_STR, set in one place), and the error says why.
    @Test func redirectsLeadToHTTPSOnly() async throws {
        let box = CurlCollected<Int>()
        let server = try HTTPTestServer { req in
            switch req.path {
            case "/to-http":
                return .full(
                    status: 302, headers: ["Location": "http://127.0.0.1:\(box.values.first ?? 0)/final"], body: [])
            case "/to-file": return .full(status: 301, headers: ["Location": "file:///etc/passwd"], body: [])
            default: return .text(200, "should not be reached")
            }
        }
        defer { server.stop() }
        box.append(server.port)
        for path in ["/to-http", "/to-file"] {
            do {
                _ = try await CurlTransport().send(HTTPRequest(url: server.baseURL + path))
                Issue.record("\(path): the redirect was followed")
            } catch let e as TransportError {
                #expect("\(e)".contains("follows redirects to https only"), "\(path): \(e)")
            }
        }
        #expect(server.requests.map(\.path) == ["/to-http", "/to-file"])
    }

    /// https -> https redirects are still followed (nghttpx in front of a plain backend).
    @Test func httpsRedirectsAreFollowed() async throws {
        let pki = try await TestPKI.create()
        defer { pki.remove() }
        let backend = try HTTPTestServer { req in
            req.path == "/old" ? .full(status: 302, headers: ["Location": "/new"], body: []) : .text(200, "moved here")
        }
        defer { backend.stop() }
        let front = try await HTTPTestServer.TLSFront.proxy(pki: pki, backendPort: backend.port)
        defer { front.stop() }
        let t = CurlTransport(
            tls: TLSOptions(
                caPEM: try pki.bytes("ca.crt"), clientCertPEM: try pki.bytes("client.crt"),
                clientKeyPEM: try pki.bytes("client.key")))
        let r = try await t.send(HTTPRequest(url: front.url + "old", timeout: .seconds(20)))
        #expect(r.status == 200)
        #expect(r.text == "moved here")
        #expect(backend.requests.map(\.path) == ["/old", "/new"])
    }

    /// Past the request's cap the transfer stops with a clear error: at once when the server
    /// announces the size (CURLOPT_MAXFILESIZE), as the bytes arrive when it does not (chunked).
    @Test func responsesPastTheCapStopCleanly() async throws {
        let big = [UInt8](repeating: UInt8(ascii: "x"), count: 64 * 1024)
        let server = try HTTPTestServer { req in
            req.path == "/chunked"
                ? .chunked(status: 200, parts: Array(repeating: Array(big.prefix(8192)), count: 8), gap: .zero)
                : .full(status: 200, headers: [:], body: big)
        }
        defer { server.stop() }
        let t = CurlTransport()
        for path in ["/sized", "/chunked"] {
            do {
                _ = try await t.send(HTTPRequest(url: server.baseURL + path, maxResponseBytes: 16 * 1024))
                Issue.record("\(path): no error past the cap")
            } catch let e as TransportError {
                guard case .tooLarge(let m) = e else {
                    Issue.record("\(path): got \(e)")
                    continue
                }
                #expect(m.contains("larger than 16 KiB"), "\(m)")
                #expect(m.contains(path))
                #expect(!e.isRetryable)
            }
        }
        // At the cap: fine.
        #expect(
            try await t.send(HTTPRequest(url: server.baseURL + "/sized", maxResponseBytes: 64 * 1024)).body.count == 64
                * 1024)
        // The default cap applies to every request that sets none.
        #expect(CurlTransport.defaultMaxResponseBytes == 64 << 20)
    }

    // MARK: issue 14: a kubeconfig's CA is the only trust anchor

    /// Debian's libcurl trusts its built-in CA file and directory (/etc/ssl/certs) besides
    /// CURLOPT_CAINFO_BLOB, so any publicly trusted certificate for the server's name would be
    /// accepted. A server whose certificate comes from a CA in that store but not in the
    /// kubeconfig must be refused. In-process, the built-in store is stood in for by the same
    /// options set on the handle first (`builtInCAStoreForTests`); BlackBoxTests'
    /// caPinningRefusesASystemTrustedServer does it with libcurl's real built-in path.
    @Test func aKubeconfigCAIsTheOnlyTrustAnchor() async throws {
        let builtIn = CurlTransport.builtInCALocations
        #expect(builtIn.file != nil || builtIn.directory != nil, "libcurl trusts no built-in store here: \(builtIn)")
        let pki = try await TestPKI.create()
        defer { pki.remove() }
        // A "public" CA (other-ca) signs the server's certificate and is in the store; the
        // kubeconfig's CA (ca) is the cluster's own.
        try pki.sh(
            """
            set -e
            cd '\(pki.dir)'
            openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out public-server.key 2>/dev/null
            openssl req -new -key public-server.key -out public-server.csr -subj /CN=api.example.com
            printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\nextendedKeyUsage=serverAuth\\n' > public-server.ext
            openssl x509 -req -in public-server.csr -CA other-ca.crt -CAkey other-ca.key -CAcreateserial -out \
            public-server.crt -days 2 -extfile public-server.ext 2>/dev/null
            mkdir -p store && cp other-ca.crt store/ca-certificates.crt && cp other-ca.crt store/public-ca.pem && \
            openssl rehash store
            """)
        let server = try await HTTPTestServer.TLSFront.statusPage(
            cert: pki.path("public-server.crt"), key: pki.path("public-server.key"))
        defer { server.stop() }
        func transport(_ tls: TLSOptions) -> CurlTransport {
            let t = CurlTransport(tls: tls)
            t.builtInCAStoreForTests = (pki.path("store/ca-certificates.crt"), pki.path("store"))
            return t
        }
        // The store works: without a kubeconfig CA, the server is trusted through it.
        #expect(
            try await transport(TLSOptions()).send(HTTPRequest(url: server.url, timeout: .seconds(10))).status == 200)
        // With the kubeconfig's CA, the store is not consulted: refused.
        do {
            _ = try await transport(TLSOptions(caPEM: try pki.bytes("ca.crt"))).send(
                HTTPRequest(url: server.url, timeout: .seconds(10)))
            Issue.record("a certificate from the system store was accepted although the kubeconfig gives another CA")
        } catch let e as TransportError {
            guard case .tls(let m) = e else {
                Issue.record("expected .tls, got \(e)")
                return
            }
            #expect(!e.isRetryable, "\(m)")
        }
        // The kubeconfig's CA alone is enough when it is the one that signed.
        #expect(
            try await transport(TLSOptions(caPEM: try pki.bytes("other-ca.crt"))).send(
                HTTPRequest(url: server.url, timeout: .seconds(10))
            ).status == 200)
    }

    @Test func curlErrorMapping() {
        #expect(CurlTransport.mapError(rawCode: 6, detail: "x", url: "u") == .dns("u (x)"))
        if case .tls = CurlTransport.mapError(rawCode: 60, detail: "bad", url: "u") {
        } else {
            Issue.record("60 -> tls")
        }
        if case .tls = CurlTransport.mapError(
            rawCode: 56, detail: "OpenSSL SSL_read: error:0A00045C:SSL routines::tlsv13 alert certificate required",
            url: "u")
        {
        } else {
            Issue.record("alert -> tls")
        }
        if case .connectionReset = CurlTransport.mapError(rawCode: 56, detail: "Connection reset by peer", url: "u") {
        } else {
            Issue.record("56 -> reset")
        }
        if case .timedOut = CurlTransport.mapError(rawCode: 28, detail: "t", url: "u") {
        } else {
            Issue.record("28 -> timedOut")
        }
    }

    // MARK: TLS (a server that requires a client certificate, as kind's API server does)

    @Test func mutualTLSWithInMemoryBlobs() async throws {
        #expect(CurlTransport.supportsInMemoryCA, "\(CurlTransport.versionDescription) lacks CURLOPT_CAINFO_BLOB")
        let pki = try await TestPKI.create()
        defer { pki.remove() }
        let server = try await HTTPTestServer.TLSFront.statusPage(pki: pki)
        defer { server.stop() }

        // With the client certificate: success, verified against the in-memory CA.
        let good = CurlTransport(
            tls: TLSOptions(
                caPEM: try pki.bytes("ca.crt"), clientCertPEM: try pki.bytes("client.crt"),
                clientKeyPEM: try pki.bytes("client.key")))
        let r = try await good.send(HTTPRequest(url: server.url, timeout: .seconds(10)))
        #expect(r.status == 200)
        #expect(r.text.contains("kubernetes-admin") || r.text.contains("Ciphers") || r.text.contains("s_server"))

        // Without it: the server refuses.
        let noCert = CurlTransport(tls: TLSOptions(caPEM: try pki.bytes("ca.crt")))
        do {
            _ = try await noCert.send(HTTPRequest(url: server.url, timeout: .seconds(10)))
            Issue.record("a request without a client certificate succeeded")
        } catch let e as TransportError {
            switch e {
            case .tls, .connectionReset: break
            default: Issue.record("unexpected \(e)")
            }
        }

        // A CA that did not sign the server certificate: TLS verification error.
        let wrongCA = CurlTransport(
            tls: TLSOptions(
                caPEM: try pki.bytes("other-ca.crt"), clientCertPEM: try pki.bytes("client.crt"),
                clientKeyPEM: try pki.bytes("client.key")))
        do {
            _ = try await wrongCA.send(HTTPRequest(url: server.url, timeout: .seconds(10)))
            Issue.record("a wrong CA was accepted")
        } catch let e as TransportError {
            guard case .tls = e else {
                Issue.record("expected .tls, got \(e)")
                return
            }
        }

        // insecure-skip-tls-verify with the client certificate: accepted without any CA.
        let insecure = CurlTransport(
            tls: TLSOptions(
                clientCertPEM: try pki.bytes("client.crt"),
                clientKeyPEM: try pki.bytes("client.key"), insecureSkipVerify: true))
        #expect(try await insecure.send(HTTPRequest(url: server.url, timeout: .seconds(10))).status == 200)
    }

    /// Over https the transport shares one connection: concurrent requests wait for the first
    /// TLS handshake and ride it as HTTP/2 streams (one handshake instead of one per request),
    /// and later requests reuse it. The server is nghttpx offering h2, as the API server does.
    @Test func httpsRequestsShareOneConnectionAsHTTP2Streams() async throws {
        let pki = try await TestPKI.create()
        defer { pki.remove() }
        let backend = try HTTPTestServer { _ in .json(200, #"{"kind":"Status","status":"Success"}"#) }
        defer { backend.stop() }
        let front = try await HTTPTestServer.TLSFront.proxy(pki: pki, backendPort: backend.port)
        defer { front.stop() }
        let t = CurlTransport(
            tls: TLSOptions(
                caPEM: try pki.bytes("ca.crt"), clientCertPEM: try pki.bytes("client.crt"),
                clientKeyPEM: try pki.bytes("client.key")))
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for i in 0..<6 {
                group.addTask {
                    try await t.send(HTTPRequest(url: front.url + "api/v1/r\(i)", timeout: .seconds(20))).status
                }
            }
            var out: [Int] = []
            for try await s in group { out.append(s) }
            return out
        }
        #expect(statuses == Array(repeating: 200, count: 6))
        for _ in 0..<2 {
            #expect(try await t.send(HTTPRequest(url: front.url + "api", timeout: .seconds(20))).status == 200)
        }
        #expect(t.requestCount == 8)
        #expect(
            t.connectionsOpened == 1,
            "one TLS connection for 6 concurrent and 2 later requests, got \(t.connectionsOpened)")
        #expect(backend.requests.count == 8)
    }

    /// Over plain HTTP/1.1 concurrent requests cannot share a connection: each gets its own,
    /// and each is kept alive for the next request.
    @Test func plainHTTPConcurrentRequestsOpenConnectionsAndKeepThem() async throws {
        let server = try HTTPTestServer { _ in .json(200, "{}") }
        defer { server.stop() }
        let t = CurlTransport()
        for _ in 0..<2 {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<3 {
                    group.addTask {
                        _ = try await t.send(HTTPRequest(url: server.baseURL + "/x", timeout: .seconds(10)))
                    }
                }
                try await group.waitForAll()
            }
        }
        #expect(t.requestCount == 6)
        #expect(
            t.connectionsOpened <= 3, "the second round reuses the first round's connections: \(t.connectionsOpened)")
        #expect(server.connections == t.connectionsOpened)
    }

    // MARK: micro-benchmark (a figure, not an assertion)

    @Test func benchmarkKeepAliveVersusNewConnections() async throws {
        let server = try HTTPTestServer { _ in .json(200, #"{"kind":"Status"}"#) }
        defer { server.stop() }
        let url = server.baseURL + "/api"
        func run(_ t: CurlTransport) async throws -> Duration {
            let start = ContinuousClock.now
            for _ in 0..<100 { _ = try await t.send(HTTPRequest(url: url)) }
            return ContinuousClock.now - start
        }
        // Alternate three rounds of each (other tests run in parallel); report the best round.
        let warm = CurlTransport()
        _ = try await warm.send(HTTPRequest(url: url))
        var keepAlive: [Duration] = [], fresh: [Duration] = []
        for _ in 0..<3 {
            keepAlive.append(try await run(warm))
            fresh.append(try await run(CurlTransport(reuseConnections: false)))
        }
        print(
            """
            BENCH curl 100 sequential GETs (plain HTTP, loopback, best of 3): keep-alive \
            \(formatDuration(keepAlive.min()!)) over \(warm.connectionsOpened) connection; new connection each \
            \(formatDuration(fresh.min()!))
            """
        )
        #expect(warm.connectionsOpened == 1)
        #expect(server.connections == 1 + 300)
    }

    /// TLS figure against a keep-alive TLS server of your choice (not run by default):
    /// APHEX_BENCH_TLS_URL=https://127.0.0.1:PORT/ APHEX_BENCH_TLS_CA=ca.pem [APHEX_BENCH_TLS_CERT=client.pem
    /// APHEX_BENCH_TLS_KEY=client-key.pem] swift test --filter benchmarkTLS
    @Test(.enabled(if: ProcessInfo.processInfo.environment["APHEX_BENCH_TLS_URL"] != nil))
    func benchmarkTLSKeepAliveVersusNewConnections() async throws {
        let env = ProcessInfo.processInfo.environment
        let url = env["APHEX_BENCH_TLS_URL"]!
        func file(_ key: String) -> [UInt8]? {
            env[key].flatMap { FileManager.default.contents(atPath: $0) }.map { Array($0) }
        }
        let ca = file("APHEX_BENCH_TLS_CA")
        let tls = TLSOptions(
            caPEM: ca, clientCertPEM: file("APHEX_BENCH_TLS_CERT"), clientKeyPEM: file("APHEX_BENCH_TLS_KEY"),
            insecureSkipVerify: ca == nil)
        func run(_ t: CurlTransport) async throws -> Duration {
            let start = ContinuousClock.now
            for _ in 0..<100 { _ = try await t.send(HTTPRequest(url: url)) }
            return ContinuousClock.now - start
        }
        let warm = CurlTransport(tls: tls)
        _ = try await warm.send(HTTPRequest(url: url))
        var keepAlive: [Duration] = [], fresh: [Duration] = []
        for _ in 0..<3 {
            keepAlive.append(try await run(warm))
            fresh.append(try await run(CurlTransport(tls: tls, reuseConnections: false)))
        }
        print(
            """
            BENCH curl 100 sequential GETs (TLS, best of 3): keep-alive \(formatDuration(keepAlive.min()!)) over \
            \(warm.connectionsOpened) connection(s); new connection + handshake each \(formatDuration(fresh.min()!))
            """
        )
    }
}

/// Thread-safe collector for callback results.
final class CurlCollected<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [T] = []
    func append(_ v: T) { lock.withLock { items.append(v) } }
    var values: [T] { lock.withLock { items } }
}
