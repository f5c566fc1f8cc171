import Foundation
import SimCluster
import Testing
@testable import AphexCore
@testable import KubeClient
@testable import ClusterDrivers
import TestSupport

@Suite struct KubeClientKubectlTests {
    @Test func getRunsKubectlGetRawAndMaps404ToNil() async throws {
        let runner = RecordingRunner { cmd in
            if cmd.argv.last == "/api/v1/namespaces/argocd/secrets/argocd-secret" {
                return CommandOutput(status: 0, stdout: #"{"kind":"Secret","metadata":{"name":"argocd-secret"}}"#)
            }
            return CommandOutput(status: 1, stdout: "", stderr: #"Error from server (NotFound): secrets "x" not found"#)
        }
        let api = KubectlRawAPI(runner: runner, kubeconfigPath: "/k/config", context: "eks")
        let secret = try await api.get(.secrets, namespace: "argocd", name: "argocd-secret")
        #expect(secret?.name == "argocd-secret")
        #expect(try await api.get(.secrets, namespace: "argocd", name: "x") == nil)
        #expect(
            runner.commands[0].argv == [
                "kubectl", "--kubeconfig", "/k/config", "--context", "eks",
                "--request-timeout=30s", "get", "--raw", "/api/v1/namespaces/argocd/secrets/argocd-secret"
            ])
        #expect(runner.commands[0].stdin == nil)
    }

    @Test func writesGoThroughRawVerbsWithTheBodyOnStdin() async throws {
        let runner = RecordingRunner { _ in CommandOutput(status: 0, stdout: "{}") }
        let api = KubectlRawAPI(runner: runner, kubeconfigPath: "/k", context: nil)
        let body = Array(#"{"kind":"Namespace"}"#.utf8)
        let r = try await api.request(
            "POST", path: "/api/v1/namespaces?dryRun=All", body: body, contentType: "application/json")
        #expect(r.status == 201)
        #expect(runner.commands[0].argv.suffix(5) == ["create", "--raw", "/api/v1/namespaces?dryRun=All", "-f", "-"])
        #expect(runner.commands[0].stdin == body)
        #expect(!runner.commands[0].argv.contains("--context"))
        await #expect(throws: KubeAPIError.self) {
            _ = try await api.request("PATCH", path: "/x", body: body, contentType: "application/merge-patch+json")
        }
    }

    /// Issue 14: kubectl has no `patch --raw`, so a PATCH by path becomes `kubectl patch`
    /// with the resource, namespace and name from the path, the patch type from the
    /// Content-Type, and the patch on stdin (`--patch-file /dev/stdin`), never in argv.
    @Test func patchBecomesKubectlPatchWithThePatchOnStdin() async throws {
        let runner = RecordingRunner { _ in
            CommandOutput(status: 0, stdout: #"{"kind":"Secret","metadata":{"name":"argocd-secret"}}"#)
        }
        let api = KubectlRawAPI(runner: runner, kubeconfigPath: "/k", context: "eks")
        let patch = Array(#"{"data":{"oidc.dex.clientSecret":"czNjcmV0LXZhbHVl"}}"#.utf8)
        let r = try await api.request(
            "PATCH", path: "/api/v1/namespaces/argocd/secrets/argocd-secret?fieldManager=aphex",
            body: patch, contentType: "application/merge-patch+json")
        #expect(r.status == 200)
        #expect(try JSON.parse(r.body).name == "argocd-secret")
        let argv = try #require(runner.commands.first?.argv)
        #expect(
            argv == [
                "kubectl", "--kubeconfig", "/k", "--context", "eks", "--request-timeout=30s",
                "patch", "secrets", "argocd-secret", "--namespace", "argocd", "--type", "merge",
                "--field-manager=aphex", "--patch-file", "/dev/stdin", "--output", "json"
            ])
        #expect(runner.commands[0].stdin == patch)
        #expect(!argv.joined().contains("czNjcmV0"))

        // Other shapes: a group resource, a cluster-scoped object, a subresource, dry run, JSON Patch.
        func args(_ path: String, _ type: String) throws -> [String] {
            Array(try api.argv("PATCH", path: path, contentType: type).drop { $0 != "patch" })
        }
        #expect(
            try args(
                "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/platform-root",
                "application/merge-patch+json")
                == [
                    "patch", "applications.v1alpha1.argoproj.io", "platform-root", "--namespace", "argocd", "--type",
                    "merge",
                    "--patch-file", "/dev/stdin", "--output", "json"
                ])
        #expect(
            try args("/api/v1/namespaces/argocd?dryRun=All", "application/strategic-merge-patch+json")
                == [
                    "patch", "namespaces", "argocd", "--type", "strategic", "--dry-run=server", "--patch-file",
                    "/dev/stdin", "--output", "json"
                ])
        #expect(
            try args("/apis/apps/v1/namespaces/a/deployments/web/scale", "application/json-patch+json")
                == [
                    "patch", "deployments.v1.apps", "web", "--namespace", "a", "--subresource", "scale", "--type",
                    "json",
                    "--patch-file", "/dev/stdin", "--output", "json"
                ])
        // What kubectl patch cannot express is refused out loud, not dropped.
        for (path, type) in [
            ("/api/v1/namespaces/a/secrets/s", "application/apply-patch+yaml"),
            ("/api/v1/namespaces/a/secrets/s?fieldValidation=Strict", "application/merge-patch+json"),
            ("/api/v1/namespaces/a/secrets", "application/merge-patch+json")
        ] {
            #expect(throws: KubeAPIError.self) { _ = try api.argv("PATCH", path: path, contentType: type) }
        }
    }

    /// Issue 14: one KubeAPI with headers. The fallback cannot send a header through kubectl
    /// and says so (`unsupported`), never dropping it silently; Accept and Content-Type are
    /// what kubectl sends anyway.
    @Test func headersTheFallbackCannotSendAreRefusedOutLoud() async throws {
        let runner = RecordingRunner { _ in CommandOutput(status: 0, stdout: "{}") }
        let api: any KubeAPI = KubectlRawAPI(runner: runner, kubeconfigPath: "/k", context: nil)
        do {
            _ = try await api.request(
                "GET", path: "/api/v1/namespaces/auth-system/services/authentik-server:80/proxy/api/v3/core/users/me/",
                body: nil, contentType: nil,
                headers: ["Authorization": "Bearer tok-9f8e7d", "Accept": "application/json"])
            Issue.record("a header was dropped silently")
        } catch KubeAPIError.unsupported(let m) {
            #expect(m.contains("Authorization"))
            #expect(!m.contains("tok-9f8e7d"))
        }
        #expect(runner.commands.isEmpty)
        _ = try await api.request(
            "GET", path: "/version", body: nil, contentType: nil, headers: ["Accept": "application/json"])
        #expect(runner.commands.count == 1)
    }

    /// The real kubectl 1.32 against the simulated API: the merge patch lands, the patched
    /// object comes back, and the value never shows in argv.
    @Test func patchThroughTheRealKubectl() async throws {
        let sim = try SimCluster(scenario: "blackbox-quick")
        try sim.apply(
            """
            apiVersion: v1
            kind: Secret
            metadata: {name: argocd-secret, namespace: argocd}
            data: {server.secretkey: c2VydmVy}
            """)
        let api = KubectlRawAPI(runner: sim.runner, clock: sim.clock, kubeconfigPath: sim.kubeconfigPath, context: nil)
        let value = Data("dex-client-secret-31415".utf8).base64EncodedString()
        let r = try await api.request(
            "PATCH", path: "/api/v1/namespaces/argocd/secrets/argocd-secret?fieldManager=aphex",
            body: Array(#"{"data":{"oidc.dex.clientSecret":"\#(value)"}}"#.utf8),
            contentType: "application/merge-patch+json")
        #expect(r.status == 200, "\(r.text)")
        #expect(try JSON.parse(r.body)[path: "data", "oidc.dex.clientSecret"]?.string == value)
        let stored = sim.world.get(.secrets, namespace: "argocd", name: "argocd-secret")
        #expect(stored?[path: "data", "oidc.dex.clientSecret"]?.string == value)
        #expect(stored?[path: "data", "server.secretkey"]?.string == "c2VydmVy", "a merge patch keeps the other keys")
        let rec = sim.record.snapshot()
        #expect(
            rec.requests.contains {
                $0.method == "PATCH" && $0.path == "/api/v1/namespaces/argocd/secrets/argocd-secret" && $0.status == 200
            })
        // Never in argv or on stderr (stdout is the patched object, the response body aphex reads
        // from the pipe, as `get --raw` of a Secret is).
        let patchRuns = rec.commands.filter { $0.argv.contains("patch") }
        #expect(patchRuns.count == 1)
        #expect(patchRuns.allSatisfy { !$0.argv.joined(separator: " ").contains(value) && !$0.stderr.contains(value) })
        // A missing object maps to 404 as for every other request.
        let missing = try await api.request(
            "PATCH", path: "/api/v1/namespaces/argocd/secrets/nope", body: Array("{}".utf8),
            contentType: "application/merge-patch+json")
        #expect(missing.status == 404, "\(missing.text)")
    }

    @Test func kubectlErrorsMapToTypedErrors() async throws {
        // The exact texts kubectl 1.32 prints for `get --raw` failures.
        let table: [(String, Int?, String)] = [
            (
                #"Error from server (NotFound): applications.argoproj.io "x" not found"#, 404,
                #"applications.argoproj.io "x" not found"#
            ),
            ("Error from server (Forbidden): pods is forbidden: nope", 403, "pods is forbidden: nope"),
            ("error: You must be logged in to the server (Unauthorized)", 401, "Unauthorized"),
            (
                "Error from server (AlreadyExists): namespaces \"a\" already exists", 409,
                "namespaces \"a\" already exists"
            ),
            ("Error from server (Expired): too old resource version", 410, "too old resource version"),
            ("The request is invalid: spec: Required value", 422, "spec: Required value"),
            (
                "Error from server (ServiceUnavailable): the server is currently unable to handle the request", 503,
                "the server is currently unable to handle the request"
            ),
            ("Error from server (InternalError): boom", 500, "boom")
        ]
        for (stderr, code, message) in table {
            let (s, m) = try KubectlRawAPI.classify(stderr: stderr, path: "/p")
            #expect(s == code, "\(stderr)")
            #expect(m == message)
        }
        let transport: [(String, TransportError)] = [
            (
                "The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?",
                .connectionRefused("")
            ),
            (
                """
                Unable to connect to the server: tls: failed to verify certificate: x509: certificate signed by \
                unknown authority
                """,
                .tls("")
            ),
            ("Unable to connect to the server: dial tcp: lookup nope.example: no such host", .dns("")),
            ("Unable to connect to the server: dial tcp 10.0.0.1:6443: i/o timeout", .timedOut(""))
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
        let (s, m) = try KubectlRawAPI.classify(
            stderr: "error: getting credentials: exec: executable aws not found", path: "/p")
        #expect(s == 401)
        #expect(m.contains("executable aws not found"))

        // Through `list`, the typed error surfaces.
        let runner = RecordingRunner { _ in
            CommandOutput(status: 1, stdout: "", stderr: "Error from server (Forbidden): applications is forbidden")
        }
        await #expect(throws: KubeAPIError.forbidden("applications is forbidden")) {
            _ = try await KubectlRawAPI(runner: runner, kubeconfigPath: "/k", context: nil).list(
                .applications, namespace: "argocd")
        }
    }

    @Test func missingKubectlIsAPrerequisiteError() async throws {
        let runner = RecordingRunner { cmd in throw CommandError(argv: cmd.argv, reason: .notFound) }
        let error = await #expect(throws: AphexError.self) {
            _ = try await KubectlRawAPI(runner: runner, kubeconfigPath: "/k", context: nil).get(
                .pods, namespace: "a", name: "b")
        }
        #expect(error?.status == .prerequisite)
        #expect(error?.message.contains("install kubectl") == true)
    }

    @Test func watchDegradesToPollingWithDiffs() async throws {
        // Three successive lists: a,b -> a(modified),c -> c.
        let lists = [
            #"""
            {"metadata":{"resourceVersion":"1"},"items":[{"metadata":{"uid":"a","name":"a",\#
            "resourceVersion":"1"}},{"metadata":{"uid":"b","name":"b","resourceVersion":"1"}}]}
            """#,
            #"""
            {"metadata":{"resourceVersion":"3"},"items":[{"metadata":{"uid":"a","name":"a",\#
            "resourceVersion":"2"}},{"metadata":{"uid":"c","name":"c","resourceVersion":"3"}}]}
            """#,
            #"{"metadata":{"resourceVersion":"4"},"items":[{"metadata":{"uid":"c","name":"c","resourceVersion":"3"}}]}"#
        ]
        let calls = CurlCollected<Int>()
        let runner = RecordingRunner { _ in
            calls.append(1)
            return CommandOutput(status: 0, stdout: lists[min(calls.values.count, lists.count) - 1])
        }
        let clock = VirtualClock()
        let api = KubectlRawAPI(
            runner: runner, clock: clock, kubeconfigPath: "/k", context: nil, pollInterval: .seconds(2))
        var seen: [String] = []
        for try await e in api.watch(.pods, namespace: "x", labelSelector: nil, resourceVersion: nil, timeoutSeconds: 5)
        {
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
        for try await e in api.watch(.pods, namespace: "x", labelSelector: nil, resourceVersion: "4", timeoutSeconds: 3)
        {
            resumed.append(e)
        }
        #expect(resumed == [.bookmark(resourceVersion: "4")])

        // Resuming from a resourceVersion that moved on: .gone, so the caller re-lists.
        await #expect(throws: KubeAPIError.self) {
            for try await _ in api.watch(
                .pods, namespace: "x", labelSelector: nil, resourceVersion: "2", timeoutSeconds: 5)
            {}
        }
    }

    /// The real thing: an exec-plugin kubeconfig -> makeKubeAPI -> KubectlRawAPI -> the real
    /// kubectl (which runs the plugin and sends its token) -> a loopback API.
    @Test(.enabled(if: SubprocessRunner.which("kubectl") != nil))
    func execKubeconfigReadsThroughRealKubectl() async throws {
        let server = try HTTPTestServer { req in
            req.path == "/api/v1/namespaces/argocd"
                ? .json(200, #"{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"argocd"}}"#)
                : .json(
                    404,
                    #"""
                    {"kind":"Status","apiVersion":"v1","status":"Failure","message":"namespaces \"nope\" not \#
                    found","reason":"NotFound","code":404}
                    """#
                )
        }
        defer { server.stop() }
        let credential =
            #"""
            {"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",\#
            "status":{"token":"plugin-token-42"}}
            """#
        let credentialFile = NSTemporaryDirectory() + "aphex-cred-" + UUID().uuidString + ".json"
        try credential.write(toFile: credentialFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: credentialFile) }
        let path = try Self.execKubeconfig(server: server.baseURL, caData: nil, credentialFile: credentialFile)
        defer { KubeconfigFixtures.remove(path) }
        let host = HostContext(
            runner: SubprocessRunner(), reporter: SilentReporter(), makeTransport: { CurlTransport(tls: $0) })
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
        let server = try await HTTPTestServer.TLSFront.statusPage(pki: pki)
        defer { server.stop() }
        let credential: [String: Any] = [
            "apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
            "status": [
                "clientCertificateData": String(decoding: try pki.bytes("client.crt"), as: UTF8.self),
                "clientKeyData": String(decoding: try pki.bytes("client.key"), as: UTF8.self)
            ]
        ]
        try JSONSerialization.data(withJSONObject: credential).write(to: URL(fileURLWithPath: pki.path("cred.json")))
        let path = try Self.execKubeconfig(
            server: "https://127.0.0.1:\(server.port)", caData: try pki.base64("ca.crt"),
            credentialFile: pki.path("cred.json"))
        defer { KubeconfigFixtures.remove(path) }
        let host = HostContext(
            runner: SubprocessRunner(), reporter: SilentReporter(), makeTransport: { CurlTransport(tls: $0) })
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
            guard case .transport = e else {
                Issue.record("got \(e)")
                return
            }
        }
    }

    /// A kubeconfig whose user is an exec plugin (`/bin/cat CREDENTIAL_FILE` prints the
    /// ExecCredential): the shape cloud kubeconfigs have, which aphex reads through kubectl.
    static func execKubeconfig(server: String, caData: String?, credentialFile: String) throws -> String {
        let ca = caData.map { "\n    certificate-authority-data: \($0)" } ?? ""
        return try KubeconfigFixtures.write(
            """
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
