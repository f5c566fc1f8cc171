import Foundation
import Testing
@testable import AphexCore
@testable import KubeClient
@testable import ClusterDrivers
import TestSupport

private func status(_ code: Int, _ reason: String, _ message: String) -> HTTPTestServer.Response {
    .json(
        code,
        #"""
        {"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"\#(message)",\#
        "reason":"\#(reason)","code":\#(code)}
        """#
    )
}

private func client(_ server: HTTPTestServer, token: String? = nil) -> KubeClient {
    KubeClient(server: server.baseURL + "/", transport: CurlTransport(tls: TLSOptions(bearerToken: token)))
}

@Suite struct KubeClientTests {
    @Test func getReturnsTheObjectOrNilOn404() async throws {
        let server = try HTTPTestServer { req in
            switch req.path {
            case "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/platform-root":
                return .json(200, #"{"kind":"Application","metadata":{"name":"platform-root","namespace":"argocd"}}"#)
            default:
                return status(404, "NotFound", #"applications.argoproj.io \"nope\" not found"#)
            }
        }
        defer { server.stop() }
        let api = client(server, token: "t0k")
        let app = try await api.get(.applications, namespace: "argocd", name: "platform-root")
        #expect(app?.name == "platform-root")
        #expect(try await api.get(.applications, namespace: "argocd", name: "nope") == nil)
        let first = try #require(server.requests.first)
        #expect(first.headers["accept"] == "application/json")
        #expect(first.headers["authorization"] == "Bearer t0k")
        #expect(server.connections == 1)
    }

    @Test func listEncodesSelectorsAndReturnsTheListObject() async throws {
        let server = try HTTPTestServer { _ in
            .json(
                200,
                #"""
                {"kind":"PodList","metadata":{"resourceVersion":"812"},"items":[{"metadata":{"name":"a"}},\#
                {"metadata":{"name":"b"}}]}
                """#
            )
        }
        defer { server.stop() }
        let api = client(server)
        let list = try await api.list(
            .pods, namespace: "argocd",
            labelSelector: "app.kubernetes.io/name in (argocd-server,argocd-repo-server),tier!=db",
            fieldSelector: "status.phase=Running")
        #expect(list.items.map { $0.name } == ["a", "b"])
        #expect(list[path: "metadata", "resourceVersion"]?.string == "812")
        let target = try #require(server.requests.first?.target)
        #expect(
            target
                == """
                /api/v1/namespaces/argocd/\
                pods?labelSelector=app.kubernetes.io%2Fname%20in%20%28argocd-server%2Cargocd-repo-server%29%2Ctier\
                %21%3Ddb&fieldSelector=status.phase%3DRunning
                """
        )
        // The convenience overload returns the items, cluster-scoped path.
        let nodes = try await api.list(.nodes)
        #expect(nodes.count == 2)
        #expect(server.requests.last?.target == "/api/v1/nodes")
    }

    /// The items of a built-in list carry no kind or apiVersion on a real API server
    /// (../shared/realapi/list-watch/list-configmaps-builtin.json); aphex's rules read `kind`
    /// (a StatefulSet judged as a Deployment otherwise), so the client fills them in.
    @Test func itemsOfABuiltInListGetTheirKind() async throws {
        let server = try HTTPTestServer { _ in
            .json(
                200,
                #"""
                {"kind":"StatefulSetList","apiVersion":"apps/v1","metadata":{"resourceVersion":"9"},\#
                "items":[{"metadata":{"name":"argocd-application-controller"}},{"kind":"Other",\#
                "metadata":{"name":"x"}}]}
                """#
            )
        }
        defer { server.stop() }
        let items = try await client(server).list(.statefulSets, namespace: "argocd")
        #expect(items.map(\.kind) == ["StatefulSet", "Other"])
        #expect(items.map(\.apiVersion) == ["apps/v1", "apps/v1"])
    }

    @Test func statusCodesMapToTypedErrorsWithTheStatusMessage() async throws {
        let server = try HTTPTestServer { req in
            let code = Int(req.path.split(separator: "/").last ?? "") ?? 200
            switch code {
            case 401: return status(401, "Unauthorized", "Unauthorized")
            case 403:
                return status(
                    403, "Forbidden", #"pods is forbidden: User \"system:anonymous\" cannot list resource \"pods\""#)
            case 409: return status(409, "AlreadyExists", #"namespaces \"argocd\" already exists"#)
            case 410: return status(410, "Expired", "too old resource version: 5 (812)")
            case 422: return status(422, "Invalid", "spec.replicas: Invalid value")
            case 500: return status(500, "InternalError", "etcdserver: request timed out")
            case 503: return .text(503, "upstream connect error\nmore")
            case 429: return status(429, "TooManyRequests", "slow down")
            default: return .json(200, "{}")
            }
        }
        defer { server.stop() }
        let api = client(server)
        func failure(_ code: Int) async -> KubeAPIError? {
            do {
                _ = try await api.list(
                    ResourceRef(group: "", version: "v1", resource: "x/\(code)", kind: "X", namespaced: false),
                    namespace: nil, labelSelector: nil, fieldSelector: nil)
                return nil
            } catch { return error as? KubeAPIError }
        }
        #expect(await failure(401) == .unauthorized("Unauthorized"))
        #expect(
            await failure(403) == .forbidden(#"pods is forbidden: User "system:anonymous" cannot list resource "pods""#)
        )
        #expect(await failure(409) == .conflict(#"namespaces "argocd" already exists"#))
        #expect(await failure(410) == .gone("too old resource version: 5 (812)"))
        #expect(await failure(422) == .invalid("spec.replicas: Invalid value"))
        #expect(await failure(500) == .server(status: 500, message: "etcdserver: request timed out"))
        #expect(await failure(503) == .server(status: 503, message: "upstream connect error"))
        #expect(await failure(429)?.isTransient == true)
        #expect(await failure(403)?.isTransient == false)
        // get: 404 is nil, but other errors throw.
        await #expect(
            throws: KubeAPIError.forbidden(#"pods is forbidden: User "system:anonymous" cannot list resource "pods""#)
        ) {
            _ = try await api.get(
                ResourceRef(group: "", version: "v1", resource: "x", kind: "X", namespaced: false), namespace: nil,
                name: "403")
        }
    }

    @Test func rawRequestReturnsNon2xxAndSendsTheBody() async throws {
        let server = try HTTPTestServer { req in
            req.method == "POST"
                ? .json(201, "{\"echo\":\(String(decoding: req.body, as: UTF8.self))}")
                : status(404, "NotFound", "nope")
        }
        defer { server.stop() }
        let api = client(server)
        let created = try await api.request(
            "POST", path: "/api/v1/namespaces?dryRun=All", body: Array(#"{"a":1}"#.utf8),
            contentType: "application/json")
        #expect(created.status == 201)
        #expect(try JSON.parse(created.body)[path: "echo", "a"] == 1)
        #expect(server.requests[0].headers["content-type"] == "application/json")
        #expect(server.requests[0].target == "/api/v1/namespaces?dryRun=All")
        let missing = try await api.request("GET", path: "/api/v1/namespaces/x", body: nil, contentType: nil)
        #expect(missing.status == 404)
    }

    @Test func notJSONIsADecodingError() async throws {
        let server = try HTTPTestServer { _ in .text(200, "<html>proxy login</html>") }
        defer { server.stop() }
        await #expect {
            _ = try await client(server).list(.pods, namespace: nil, labelSelector: nil, fieldSelector: nil)
        } throws: { error in
            guard case .decoding(let m) = error as? KubeAPIError else { return false }
            return m.contains("proxy login")
        }
    }

    @Test func transportFailuresAreWrapped() async throws {
        let api = KubeClient(server: "http://127.0.0.1:\(HTTPTestServer.closedPort())", transport: CurlTransport())
        do {
            _ = try await api.get(.pods, namespace: "x", name: "y")
            Issue.record("expected an error")
        } catch let e as KubeAPIError {
            guard case .transport(.connectionRefused) = e else {
                Issue.record("got \(e)")
                return
            }
            #expect(e.isTransient)
        }
    }

    // MARK: watch

    @Test func watchParsesEventsSplitAcrossChunks() async throws {
        let events = [
            #"""
            {"type":"ADDED","object":{"kind":"Application","metadata":{"name":"cert-manager",\#
            "resourceVersion":"10","annotations":{"note":"braces \#
            } { and \"quotes\" inside"}}}}
            """#,
            #"""
            {"type":"MODIFIED","object":{"kind":"Application","metadata":{"name":"cert-manager",\#
            "resourceVersion":"11"},"status":{"health":{"status":"Healthy"}}}}
            """#,
            #"{"type":"BOOKMARK","object":{"kind":"Application","metadata":{"resourceVersion":"12"}}}"#,
            #"{"type":"DELETED","object":{"kind":"Application","metadata":{"name":"old","resourceVersion":"13"}}}"#
        ]
        let stream = Array((events.joined(separator: "\n") + "\n").utf8)
        // Cut mid-string, right after a backslash, inside the nested object and between events.
        let cuts = [7, 95, 96, 150, 151, 152, stream.count - 40]
        var parts: [[UInt8]] = []
        var last = 0
        for c in cuts {
            parts.append(Array(stream[last..<c]))
            last = c
        }
        parts.append(Array(stream[last...]))
        let chunks = parts
        let server = try HTTPTestServer { _ in .chunked(status: 200, parts: chunks, gap: .milliseconds(15)) }
        defer { server.stop() }

        var got: [WatchEvent] = []
        for try await e in client(server).watch(
            .applications, namespace: "argocd", labelSelector: "a=b",
            resourceVersion: "9", timeoutSeconds: 300)
        {
            got.append(e)
        }
        #expect(got.count == 4)
        guard got.count == 4 else { return }
        if case .added(let o) = got[0] {
            #expect(o.name == "cert-manager")
            #expect(o.annotations["note"] == #"braces } { and "quotes" inside"#)
        } else {
            Issue.record("first is \(got[0])")
        }
        if case .modified(let o) = got[1] {
            #expect(o[path: "status", "health", "status"] == "Healthy")
        } else {
            Issue.record("\(got[1])")
        }
        #expect(got[2] == .bookmark(resourceVersion: "12"))
        if case .deleted(let o) = got[3] { #expect(o.name == "old") } else { Issue.record("\(got[3])") }

        let target = try #require(server.requests.first?.target)
        #expect(
            target
                == """
                /apis/argoproj.io/v1alpha1/namespaces/argocd/applications?watch=true&allowWatchBookmarks=true&\
                resourceVersion=9&labelSelector=a%3Db&timeoutSeconds=300
                """
        )
    }

    @Test func decoderHandlesEveryByteBoundary() throws {
        let text =
            #"{"type":"ADDED","object":{"metadata":{"name":"x\"}"}}}"# + "\n"
            + #"{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"7"}}}"# + "\n"
        let bytes = Array(text.utf8)
        for split in 1..<bytes.count {
            let d = WatchStreamDecoder()
            let a = d.feed(Array(bytes[..<split]))
            let b = d.feed(Array(bytes[split...]))
            let all = a.events + b.events
            #expect(all.count == 2, "split at \(split)")
            if case .added(let o) = all.first {
                #expect(o.name == "x\"}")
            } else {
                Issue.record("split \(split): \(all)")
            }
            #expect(all.last == .bookmark(resourceVersion: "7"))
        }
    }

    @Test func watchErrorEvent410EndsWithGone() async throws {
        let body =
            #"{"type":"ADDED","object":{"metadata":{"name":"a"}}}"# + "\n"
                + #"""
                {"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure","message":"too old \#
                resource version: 100 (250)","reason":"Expired","code":410}}
                """#
            + "\n" + #"{"type":"ADDED","object":{"metadata":{"name":"never"}}}"# + "\n"
        let server = try HTTPTestServer { _ in .chunked(status: 200, parts: [Array(body.utf8)], gap: .milliseconds(1)) }
        defer { server.stop() }
        var names: [String] = []
        do {
            for try await e in client(server).watch(
                .pods, namespace: nil, labelSelector: nil, resourceVersion: "100", timeoutSeconds: nil)
            {
                if case .added(let o) = e { names.append(o.name ?? "") }
            }
            Issue.record("expected .gone")
        } catch let e as KubeAPIError {
            #expect(e == .gone("too old resource version: 100 (250)"))
        }
        #expect(names == ["a"])
    }

    @Test func watchRejectedUpFrontMapsTheStatus() async throws {
        let server = try HTTPTestServer { req in
            req.query?.contains("resourceVersion=1") == true
                ? status(410, "Expired", "too old resource version: 1 (900)")
                : status(403, "Forbidden", "cannot watch")
        }
        defer { server.stop() }
        await #expect(throws: KubeAPIError.gone("too old resource version: 1 (900)")) {
            for try await _ in client(server).watch(
                .pods, namespace: nil, labelSelector: nil, resourceVersion: "1", timeoutSeconds: 5)
            {}
        }
        await #expect(throws: KubeAPIError.forbidden("cannot watch")) {
            for try await _ in client(server).watch(
                .pods, namespace: nil, labelSelector: nil, resourceVersion: nil, timeoutSeconds: 5)
            {}
        }
    }

    // MARK: issue 14: size caps

    /// An API response past 32 MiB fails cleanly (a transport error naming the cap), not by
    /// growing without bound; the request is not tried again.
    @Test func apiResponsesAreCappedAt32MiB() async throws {
        let items = String(repeating: #"{"metadata":{"name":"x"}},"#, count: (33 << 20) / 26)
        let huge = Array((#"{"kind":"ConfigMapList","items":["# + items + #"{}]}"#).utf8)
        let server = try HTTPTestServer { _ in
            .full(status: 200, headers: ["Content-Type": "application/json"], body: huge)
        }
        defer { server.stop() }
        #expect(KubeClient.maxResponseBytes == 32 << 20)
        do {
            _ = try await client(server).list(.configMaps, namespace: "a")
            Issue.record("a 33 MiB list was read")
        } catch KubeAPIError.transport(.tooLarge(let m)) {
            #expect(m.contains("larger than 32 MiB"), "\(m)")
        }
        #expect(server.requests.count == 1)
    }

    /// One watch event may be at most a few MiB (etcd keeps objects under 1.5 MiB): an event
    /// that never ends stops the stream with a clear error instead of buffering forever.
    @Test func watchEventsAreCapped() async throws {
        let d = WatchStreamDecoder(maxEventBytes: 1024)
        #expect(d.feed(Array(#"{"type":"ADDED","object":{"metadata":{"name":"a"}}}"#.utf8)).events.count == 1)
        let open = d.feed(Array(#"{"type":"ADDED","object":{"data":""#.utf8))
        #expect(open.failure == nil)
        let tooBig = d.feed([UInt8](repeating: UInt8(ascii: "x"), count: 2048))
        guard case .transport(.tooLarge(let m))? = tooBig.failure else {
            Issue.record("got \(String(describing: tooBig.failure))")
            return
        }
        #expect(m.contains("larger than 1 KiB"), "\(m)")
        #expect(KubeClient.maxWatchEventBytes == 4 << 20)

        // Through the client: a stream whose one event keeps growing ends with that error.
        // (No closing brace anywhere: the object that started with the first byte never ends.)
        let part =
            Array(#"{"type":"ADDED","object":{"data":""#.utf8) + Array(String(repeating: "y", count: 64 * 1024).utf8)
        let server = try HTTPTestServer { _ in .endless(status: 200, part: part, gap: .zero) }
        defer { server.stop() }
        do {
            for try await _ in client(server).watch(
                .pods, namespace: nil, labelSelector: nil, resourceVersion: nil, timeoutSeconds: nil)
            {}
            Issue.record("the stream ended without an error")
        } catch KubeAPIError.transport(.tooLarge(let m)) {
            #expect(m.contains("larger than 4 MiB"), "\(m)")
        }
    }

    @Test func stoppingTheConsumerClosesTheWatch() async throws {
        let event = Array((#"{"type":"MODIFIED","object":{"metadata":{"name":"a"}}}"# + "\n").utf8)
        let server = try HTTPTestServer { _ in .endless(status: 200, part: event, gap: .milliseconds(50)) }
        defer { server.stop() }
        var n = 0
        for try await _ in client(server).watch(
            .pods, namespace: nil, labelSelector: nil, resourceVersion: nil, timeoutSeconds: nil)
        {
            n += 1
            if n == 3 { break }
        }
        #expect(n == 3)
        // Leaving the loop cancels the transfer: the server sees the connection close.
        #expect(await server.waitUntilIdle())
    }

    /// A figure for the status budget (<= 50 ms, <= 6 requests): LIST of 25 realistic
    /// Applications plus 5 GETs over one kept-alive connection, decoded.
    @Test func benchmarkStatusShapedReads() async throws {
        @Sendable func app(_ i: Int) -> String {
            let resources = (0..<12).map {
                #"""
                {"group":"apps","kind":"Deployment","name":"d\#($0)","namespace":"ns\#(i)","status":"Synced",\#
                "health":{"status":"Healthy"},"version":"v1"}
                """#
            }
            return
                #"""
                {"apiVersion":"argoproj.io/v1alpha1","kind":"Application","metadata":{"name":"app-\#(i)",\#
                "namespace":"argocd","resourceVersion":"\#(1000 + i)","uid":"u\#(i)",\#
                "annotations":{"argocd.argoproj.io/sync-wave":"\#(i % 5)"},"labels":{"app.kubernetes.io/\#
                part-of":"platform"}},"spec":{"project":"default","source":{"repoURL":"https://git.example/\#
                platform.git","path":"apps/app-\#(i)","targetRevision":"main"},"destination":{"server":"https://\#
                kubernetes.default.svc","namespace":"ns\#(i)"},"syncPolicy":{"automated":{"prune":true,\#
                "selfHeal":true}}},"status":{"sync":{"status":"Synced","revision":"abc123"},\#
                "health":{"status":"Healthy"},"reconciledAt":"2026-11-24T20:00:00Z",\#
                "operationState":{"phase":"Succeeded","finishedAt":"2026-11-24T19:59:00Z"},\#
                "resources":[\#(resources.joined(separator: ","))]}}
                """#
        }
        let list =
            #"""
            {"apiVersion":"argoproj.io/v1alpha1","kind":"ApplicationList","metadata":{"resourceVersion":"2000"},\#
            "items":[
            """#
            + (0..<25).map(app).joined(separator: ",") + "]}"
        let server = try HTTPTestServer { req in
            req.path.hasSuffix("/applications") ? .json(200, list) : .json(200, app(1))
        }
        defer { server.stop() }
        let transport = CurlTransport()
        let api = KubeClient(server: server.baseURL, transport: transport)
        _ = try await api.list(.applications, namespace: "argocd")  // warm the connection
        var best = Duration.seconds(100)
        for _ in 0..<5 {
            let start = ContinuousClock.now
            let apps = try await api.list(.applications, namespace: "argocd")
            for i in 0..<5 { _ = try await api.get(.deployments, namespace: "ns\(i)", name: "d0") }
            best = min(best, ContinuousClock.now - start)
            #expect(apps.count == 25)
        }
        var raw = Duration.seconds(100), parse = Duration.seconds(100), foundation = Duration.seconds(100)
        for _ in 0..<5 {
            let s0 = ContinuousClock.now
            let r = try await transport.send(
                HTTPRequest(url: server.baseURL + "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications"))
            let s1 = ContinuousClock.now
            _ = try KubeJSON.parse(r.body)
            let s2 = ContinuousClock.now
            _ = try JSON.parse(r.body)
            foundation = min(foundation, ContinuousClock.now - s2)
            raw = min(raw, s1 - s0)
            parse = min(parse, s2 - s1)
        }
        print(
            """
            BENCH   of which: LIST transfer \(formatDuration(raw)), JSON decode \(formatDuration(parse)) \
            (JSONSerialization path: \(formatDuration(foundation)))
            """
        )
        print(
            """
            BENCH status-shaped reads (LIST 25 Applications = \(list.utf8.count / 1024) KiB + 5 GETs, decoded, 1 \
            connection): best \(formatDuration(best))
            """
        )
        #expect(transport.connectionsOpened == 1)
    }

    // MARK: mTLS end to end (kind-shaped kubeconfig -> makeKubeAPI -> libcurl -> TLS server)

    @Test func kindKubeconfigAgainstAServerRequiringAClientCertificate() async throws {
        let pki = try await TestPKI.create()
        defer { pki.remove() }
        let server = try await HTTPTestServer.TLSFront.statusPage(pki: pki)
        defer { server.stop() }
        let serverURL = "https://127.0.0.1:\(server.port)"
        let good = try KubeconfigFixtures.write(
            KubeconfigFixtures.kind(
                server: serverURL, ca: pki.base64("ca.crt"), cert: pki.base64("client.crt"),
                key: pki.base64("client.key")))
        defer { KubeconfigFixtures.remove(good) }
        let host = kubeTestHost()
        let api = try makeKubeAPI(host: host, kubeconfigPath: good, context: nil)
        let r = try await api.request("GET", path: "/", body: nil, contentType: nil)
        #expect(r.status == 200)

        // The same kubeconfig without a client certificate: the server refuses the handshake.
        let anonymous = """
            apiVersion: v1
            kind: Config
            clusters:
            - name: c
              cluster: {server: "\(serverURL)", certificate-authority-data: \(try pki.base64("ca.crt"))}
            contexts:
            - name: c
              context: {cluster: c, user: ""}
            current-context: c
            """
        let anonymousPath = try KubeconfigFixtures.write(anonymous)
        defer { KubeconfigFixtures.remove(anonymousPath) }
        let noCert = try makeKubeAPI(host: host, kubeconfigPath: anonymousPath, context: "c")
        do {
            _ = try await noCert.request("GET", path: "/", body: nil, contentType: nil)
            Issue.record("accepted without a client certificate")
        } catch let e as KubeAPIError {
            switch e {
            case .transport(.tls), .transport(.connectionReset): break
            default: Issue.record("got \(e)")
            }
        }

        // A kubeconfig whose CA did not sign the server: TLS error.
        let wrongCA = try KubeconfigFixtures.write(
            KubeconfigFixtures.kind(
                server: serverURL, ca: pki.base64("other-ca.crt"), cert: pki.base64("client.crt"),
                key: pki.base64("client.key")))
        defer { KubeconfigFixtures.remove(wrongCA) }
        do {
            _ = try await makeKubeAPI(host: host, kubeconfigPath: wrongCA, context: nil)
                .request("GET", path: "/", body: nil, contentType: nil)
            Issue.record("accepted a server signed by another CA")
        } catch let e as KubeAPIError {
            guard case .transport(.tls) = e else {
                Issue.record("got \(e)")
                return
            }
        }
    }
}
