import Foundation
import Testing
@testable import ClusterDrivers

/// A clock whose sleeps return at once and advance virtual time.
final class KubeTestClock: TimeSource, @unchecked Sendable {
    private let lock = NSLock()
    private var t: Duration = .zero
    func now() -> Duration { lock.withLock { t } }
    func sleep(for duration: Duration) async throws {
        try Task.checkCancellation()
        lock.withLock { t += duration }
        await Task.yield()
    }
    func wallNow() -> Date { Date(timeIntervalSince1970: 1_800_000_000 + now().seconds) }
}

@Suite struct KubeClientKubectlTests {
    @Test func getRunsKubectlGetRawAndMaps404ToNil() async throws {
        let runner = KubeTestRunner { cmd in
            if cmd.argv.last == "/api/v1/namespaces/argocd/secrets/argocd-secret" {
                return CommandOutput(status: 0, stdout: #"{"kind":"Secret","metadata":{"name":"argocd-secret"}}"#)
            }
            return CommandOutput(status: 1, stdout: "", stderr: #"Error from server (NotFound): secrets "x" not found"#)
        }
        let api = KubectlRawAPI(runner: runner, kubeconfigPath: "/k/config", context: "eks")
        let secret = try await api.get(.secrets, namespace: "argocd", name: "argocd-secret")
        #expect(secret?.name == "argocd-secret")
        #expect(try await api.get(.secrets, namespace: "argocd", name: "x") == nil)
        #expect(runner.commands[0].argv == ["kubectl", "--kubeconfig", "/k/config", "--context", "eks",
                                            "--request-timeout=30s", "get", "--raw", "/api/v1/namespaces/argocd/secrets/argocd-secret"])
        #expect(runner.commands[0].stdin == nil)
    }

    @Test func writesGoThroughRawVerbsWithTheBodyOnStdin() async throws {
        let runner = KubeTestRunner { _ in CommandOutput(status: 0, stdout: "{}") }
        let api = KubectlRawAPI(runner: runner, kubeconfigPath: "/k", context: nil)
        let body = Array(#"{"kind":"Namespace"}"#.utf8)
        let r = try await api.request("POST", path: "/api/v1/namespaces?dryRun=All", body: body, contentType: "application/json")
        #expect(r.status == 201)
        #expect(runner.commands[0].argv.suffix(5) == ["create", "--raw", "/api/v1/namespaces?dryRun=All", "-f", "-"])
        #expect(runner.commands[0].stdin == body)
        #expect(!runner.commands[0].argv.contains("--context"))
        await #expect(throws: KubeAPIError.self) {
            _ = try await api.request("PATCH", path: "/x", body: body, contentType: "application/merge-patch+json")
        }
    }

    @Test func kubectlErrorsMapToTypedErrors() async throws {
        // The exact texts kubectl 1.32 prints for `get --raw` failures.
        let table: [(String, Int?, String)] = [
            (#"Error from server (NotFound): applications.argoproj.io "x" not found"#, 404, #"applications.argoproj.io "x" not found"#),
            ("Error from server (Forbidden): pods is forbidden: nope", 403, "pods is forbidden: nope"),
            ("error: You must be logged in to the server (Unauthorized)", 401, "Unauthorized"),
            ("Error from server (AlreadyExists): namespaces \"a\" already exists", 409, "namespaces \"a\" already exists"),
            ("Error from server (Expired): too old resource version", 410, "too old resource version"),
            ("The request is invalid: spec: Required value", 422, "spec: Required value"),
            ("Error from server (ServiceUnavailable): the server is currently unable to handle the request", 503, "the server is currently unable to handle the request"),
            ("Error from server (InternalError): boom", 500, "boom"),
        ]
        for (stderr, code, message) in table {
            let (s, m) = try KubectlRawAPI.classify(stderr: stderr, path: "/p")
            #expect(s == code, "\(stderr)")
            #expect(m == message)
        }
        let transport: [(String, TransportError)] = [
            ("The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?", .connectionRefused("")),
            ("Unable to connect to the server: tls: failed to verify certificate: x509: certificate signed by unknown authority", .tls("")),
            ("Unable to connect to the server: dial tcp: lookup nope.example: no such host", .dns("")),
            ("Unable to connect to the server: dial tcp 10.0.0.1:6443: i/o timeout", .timedOut("")),
        ]
        for (stderr, expected) in transport {
            do {
                _ = try KubectlRawAPI.classify(stderr: stderr, path: "/p")
                Issue.record("no error for \(stderr)")
            } catch let KubeAPIError.transport(t) {
                #expect(String(describing: t).prefix(8) == String(describing: expected).prefix(8), "\(stderr) -> \(t)")
            }
        }
        // A failing exec plugin is an authentication failure.
        let (s, m) = try KubectlRawAPI.classify(stderr: "error: getting credentials: exec: executable aws not found", path: "/p")
        #expect(s == 401)
        #expect(m.contains("executable aws not found"))

        // Through `list`, the typed error surfaces.
        let runner = KubeTestRunner { _ in CommandOutput(status: 1, stdout: "", stderr: "Error from server (Forbidden): applications is forbidden") }
        await #expect(throws: KubeAPIError.forbidden("applications is forbidden")) {
            _ = try await KubectlRawAPI(runner: runner, kubeconfigPath: "/k", context: nil).list(.applications, namespace: "argocd")
        }
    }

    @Test func missingKubectlIsAPrerequisiteError() async throws {
        let runner = KubeTestRunner { cmd in throw CommandError(argv: cmd.argv, reason: .notFound) }
        let error = await #expect(throws: AphexError.self) {
            _ = try await KubectlRawAPI(runner: runner, kubeconfigPath: "/k", context: nil).get(.pods, namespace: "a", name: "b")
        }
        #expect(error?.status == .prerequisite)
        #expect(error?.message.contains("install kubectl") == true)
    }

    @Test func watchDegradesToPollingWithDiffs() async throws {
        // Three successive lists: a,b -> a(modified),c -> c.
        let lists = [
            #"{"metadata":{"resourceVersion":"1"},"items":[{"metadata":{"uid":"a","name":"a","resourceVersion":"1"}},{"metadata":{"uid":"b","name":"b","resourceVersion":"1"}}]}"#,
            #"{"metadata":{"resourceVersion":"3"},"items":[{"metadata":{"uid":"a","name":"a","resourceVersion":"2"}},{"metadata":{"uid":"c","name":"c","resourceVersion":"3"}}]}"#,
            #"{"metadata":{"resourceVersion":"4"},"items":[{"metadata":{"uid":"c","name":"c","resourceVersion":"3"}}]}"#,
        ]
        let calls = CurlCollected<Int>()
        let runner = KubeTestRunner { _ in
            calls.append(1)
            return CommandOutput(status: 0, stdout: lists[min(calls.values.count, lists.count) - 1])
        }
        let clock = KubeTestClock()
        let api = KubectlRawAPI(runner: runner, clock: clock, kubeconfigPath: "/k", context: nil, pollInterval: .seconds(2))
        var seen: [String] = []
        for try await e in api.watch(.pods, namespace: "x", labelSelector: nil, resourceVersion: nil, timeoutSeconds: 5) {
            switch e {
            case .added(let o): seen.append("+\(o.name!)")
            case .modified(let o): seen.append("~\(o.name!)")
            case .deleted(let o): seen.append("-\(o.name!)")
            case .bookmark(let rv): seen.append("@\(rv)")
            }
        }
        // t=0 list 1, t=2 list 2, t=4 list 3, t=6 past the 5 s timeout: the stream ends.
        #expect(seen.prefix(3) == ["+a", "+b", "@1"])
        #expect(Set(seen[3..<6]) == ["~a", "+c", "-b"])
        #expect(Array(seen[6...]) == ["@3", "-a", "@4"])
        #expect(runner.commands.allSatisfy { $0.argv.contains("get") && $0.argv.last == "/api/v1/namespaces/x/pods" })

        // Resuming from the current resourceVersion: no synthetic events, only the bookmark.
        var resumed: [WatchEvent] = []
        for try await e in api.watch(.pods, namespace: "x", labelSelector: nil, resourceVersion: "4", timeoutSeconds: 3) {
            resumed.append(e)
        }
        #expect(resumed == [.bookmark(resourceVersion: "4")])

        // Resuming from a resourceVersion that moved on: .gone, so the caller re-lists.
        await #expect(throws: KubeAPIError.self) {
            for try await _ in api.watch(.pods, namespace: "x", labelSelector: nil, resourceVersion: "2", timeoutSeconds: 5) {}
        }
    }

    /// The real thing: an exec-plugin kubeconfig -> makeKubeAPI -> KubectlRawAPI -> the real
    /// kubectl (which runs the plugin and sends its token) -> a loopback API.
    @Test(.enabled(if: SubprocessRunner.which("kubectl") != nil))
    func execKubeconfigReadsThroughRealKubectl() async throws {
        let server = try TestHTTPServer { req in
            req.path == "/api/v1/namespaces/argocd"
                ? .json(200, #"{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"argocd"}}"#)
                : .json(404, #"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"namespaces \"nope\" not found","reason":"NotFound","code":404}"#)
        }
        defer { server.stop() }
        let credential = #"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"plugin-token-42"}}"#
        let credentialFile = NSTemporaryDirectory() + "aphex-cred-" + UUID().uuidString + ".json"
        try credential.write(toFile: credentialFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: credentialFile) }
        let path = try Self.execKubeconfig(server: server.baseURL, caData: nil, credentialFile: credentialFile)
        defer { KubeconfigFixtures.remove(path) }
        let host = HostContext(runner: SubprocessRunner(), reporter: SilentReporter(), makeTransport: { CurlTransport(tls: $0) })
        let api = try makeKubeAPI(host: host, kubeconfigPath: path, context: nil)
        #expect(api is KubectlRawAPI)
        let ns = try await api.get(.namespaces, namespace: nil, name: "argocd")
        #expect(ns?.name == "argocd")
        #expect(try await api.get(.namespaces, namespace: nil, name: "nope") == nil)
        // (client-go runs exec plugins only for TLS servers: the mTLS test below proves the plugin.)
    }

    /// An exec plugin that hands out the client certificate (as cloud plugins do), against a
    /// TLS server that requires one: only a kubectl that ran the plugin gets through.
    @Test(.enabled(if: SubprocessRunner.which("kubectl") != nil))
    func execPluginClientCertificateThroughRealKubectl() async throws {
        let pki = try await TestPKI.create()
        defer { pki.remove() }
        let server = try await TestTLSServer.start(pki: pki)
        defer { server.stop() }
        let credential: [String: Any] = [
            "apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
            "status": ["clientCertificateData": String(decoding: try pki.bytes("client.crt"), as: UTF8.self),
                       "clientKeyData": String(decoding: try pki.bytes("client.key"), as: UTF8.self)],
        ]
        try JSONSerialization.data(withJSONObject: credential).write(to: URL(fileURLWithPath: pki.path("cred.json")))
        let path = try Self.execKubeconfig(server: "https://127.0.0.1:\(server.port)", caData: try pki.base64("ca.crt"),
                                           credentialFile: pki.path("cred.json"))
        defer { KubeconfigFixtures.remove(path) }
        let host = HostContext(runner: SubprocessRunner(), reporter: SilentReporter(), makeTransport: { CurlTransport(tls: $0) })
        let api = try makeKubeAPI(host: host, kubeconfigPath: path, context: nil)
        #expect(api is KubectlRawAPI)
        let r = try await api.request("GET", path: "/", body: nil, contentType: nil)
        #expect(r.status == 200)
        #expect(r.text.contains("s_server") || r.text.contains("Cipher"))

        // Without the plugin's certificate (plugin prints no status), the handshake fails.
        try #"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{}}"#
            .write(toFile: pki.path("cred.json"), atomically: true, encoding: .utf8)
        do {
            let r2 = try await api.request("GET", path: "/", body: nil, contentType: nil)
            #expect(r2.status == 401, "kubectl without credentials: \(r2.status) \(r2.text)")
        } catch let e as KubeAPIError {
            guard case .transport = e else { Issue.record("got \(e)"); return }
        }
    }

    /// A kubeconfig whose user is an exec plugin (`/bin/cat CREDENTIAL_FILE` prints the
    /// ExecCredential): the shape cloud kubeconfigs have, which aphex reads through kubectl.
    static func execKubeconfig(server: String, caData: String?, credentialFile: String) throws -> String {
        let ca = caData.map { "\n    certificate-authority-data: \($0)" } ?? ""
        return try KubeconfigFixtures.write("""
        apiVersion: v1
        kind: Config
        clusters:
        - name: lab
          cluster:
            server: \(server)\(ca)
        users:
        - name: plugin
          user:
            exec:
              apiVersion: client.authentication.k8s.io/v1
              command: /bin/cat
              args: ["\(credentialFile)"]
              interactiveMode: Never
        contexts:
        - name: lab
          context: {cluster: lab, user: plugin}
        current-context: lab
        """)
    }
}
