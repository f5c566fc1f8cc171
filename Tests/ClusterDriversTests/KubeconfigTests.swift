import Foundation
import Testing
@testable import AphexCore
@testable import KubeClient
@testable import ClusterDrivers
import TestSupport

/// Kubeconfig fixtures and fakes shared by the kubeconfig and client tests.
enum KubeconfigFixtures {
    static let caPEM = "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n"
    static let certPEM = "-----BEGIN CERTIFICATE-----\nCLIENT\n-----END CERTIFICATE-----\n"
    static let keyPEM = "-----BEGIN EC PRIVATE KEY-----\nKEY\n-----END EC PRIVATE KEY-----\n"
    static func b64(_ s: String) -> String { Data(s.utf8).base64EncodedString() }

    /// What `kind export kubeconfig` writes.
    static func kind(
        server: String = "https://127.0.0.1:41234", ca: String = b64(caPEM), cert: String = b64(certPEM),
        key: String = b64(keyPEM)
    ) -> String {
        """
        apiVersion: v1
        clusters:
        - cluster:
            certificate-authority-data: \(ca)
            server: \(server)
          name: kind-platform-cluster
        contexts:
        - context:
            cluster: kind-platform-cluster
            user: kind-platform-cluster
          name: kind-platform-cluster
        current-context: kind-platform-cluster
        kind: Config
        preferences: {}
        users:
        - name: kind-platform-cluster
          user:
            client-certificate-data: \(cert)
            client-key-data: \(key)
        """
    }

    static func write(_ text: String, name: String = "kubeconfig") throws -> String {
        let dir = NSTemporaryDirectory() + "aphex-kc-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = dir + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Removes what `write` created.
    static func remove(_ path: String) {
        try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent)
    }
}

/// Records the TLS options each transport was made with.
final class KubeTestTransports: @unchecked Sendable {
    private let lock = NSLock()
    private var made: [TLSOptions] = []
    var options: [TLSOptions] { lock.withLock { made } }
    func make(_ tls: TLSOptions) -> any HTTPTransport {
        lock.withLock { made.append(tls) }
        return CurlTransport(tls: tls)
    }
}

func kubeTestHost(
    runner: any CommandRunner = RecordingRunner(),
    recorder: KubeTestTransports = KubeTestTransports(),
    reporter: any Reporter = SilentReporter()
) -> HostContext {
    HostContext(
        runner: runner, reporter: reporter, environment: [:], homeDirectory: NSTemporaryDirectory(),
        makeTransport: { recorder.make($0) })
}

@Suite struct KubeconfigTests {
    typealias F = KubeconfigFixtures

    @Test func kindKubeconfigResolvesToServerAndInMemoryCredentials() throws {
        let config = try Kubeconfig.parse(F.kind(), path: "/k/config")
        #expect(config.currentContext == "kind-platform-cluster")
        let e = try config.resolve()
        #expect(e.server == "https://127.0.0.1:41234")
        #expect(e.contextName == "kind-platform-cluster")
        #expect(e.tls.caPEM == Array(F.caPEM.utf8))
        #expect(e.tls.clientCertPEM == Array(F.certPEM.utf8))
        #expect(e.tls.clientKeyPEM == Array(F.keyPEM.utf8))
        #expect(e.tls.bearerToken == nil)
        #expect(e.tls.insecureSkipVerify == false)
        #expect(e.kubectlFallbackReason == nil)
    }

    @Test func contextOverrideTokenUserNamespaceAndHTTPServer() throws {
        let text =
            F.kind() + """

                - name: proxy-user
                  user:
                    token: "0123456789"
                """
        var config = try Kubeconfig.parse(text)
        config.clusters["proxy"] = .init(
            name: "proxy", server: "http://127.0.0.1:8001/", certificateAuthorityData: nil,
            certificateAuthority: nil, insecureSkipTLSVerify: false, tlsServerName: nil, proxyURL: nil)
        config.contexts["local-proxy"] = .init(
            name: "local-proxy", cluster: "proxy", user: "proxy-user", namespace: "argocd")
        let e = try config.resolve(context: "local-proxy")
        #expect(e.server == "http://127.0.0.1:8001")
        #expect(e.tls.bearerToken == "0123456789")  // a numeric-looking token stays a string
        #expect(e.tls.caPEM == nil)
        #expect(e.namespace == "argocd")
        #expect(e.kubectlFallbackReason == nil)
    }

    @Test func httpServerKubeconfigFromYAML() throws {
        let text = """
            apiVersion: v1
            kind: Config
            clusters:
            - name: local
              cluster:
                server: http://127.0.0.1:8001
            contexts:
            - name: local
              context: {cluster: local, user: ""}
            current-context: local
            """
        let e = try Kubeconfig.parse(text).resolve()
        #expect(e.server == "http://127.0.0.1:8001")
        #expect(e.tls == TLSOptions())
        #expect(e.userName == "")
    }

    @Test func fileReferencesAreRelativeToTheKubeconfig() throws {
        let path = try F.write(
            """
            apiVersion: v1
            kind: Config
            clusters:
            - name: c
              cluster:
                server: https://10.0.0.1:6443
                certificate-authority: pki/ca.crt
            users:
            - name: u
              user:
                client-certificate: pki/client.crt
                client-key: pki/client.key
            - name: t
              user:
                tokenFile: token
            contexts:
            - name: certs
              context: {cluster: c, user: u}
            - name: tokenfile
              context: {cluster: c, user: t}
            current-context: certs
            """)
        let dir = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: dir + "/pki", withIntermediateDirectories: true)
        try F.caPEM.write(toFile: dir + "/pki/ca.crt", atomically: true, encoding: .utf8)
        try F.certPEM.write(toFile: dir + "/pki/client.crt", atomically: true, encoding: .utf8)
        try F.keyPEM.write(toFile: dir + "/pki/client.key", atomically: true, encoding: .utf8)
        try "tok-from-file\n".write(toFile: dir + "/token", atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: dir) }

        let config = try Kubeconfig.load(path: path)
        let certs = try config.resolve()
        #expect(certs.tls.caPEM == Array(F.caPEM.utf8))
        #expect(certs.tls.clientCertPEM == Array(F.certPEM.utf8))
        #expect(certs.tls.clientKeyPEM == Array(F.keyPEM.utf8))
        let token = try config.resolve(context: "tokenfile")
        #expect(token.tls.bearerToken == "tok-from-file")

        try FileManager.default.removeItem(atPath: dir + "/pki/ca.crt")
        let error = #expect(throws: AphexError.self) { try config.resolve() }
        #expect(error?.status == .usage)
        #expect(error?.message.contains("\(dir)/pki/ca.crt") == true)
        #expect(error?.message.contains("certificate-authority") == true)
    }

    @Test func insecureSkipTLSVerifyDropsTheCA() throws {
        let text = F.kind().replacingOccurrences(
            of: "    server:", with: "    insecure-skip-tls-verify: true\n    server:")
        let e = try Kubeconfig.parse(text).resolve()
        #expect(e.tls.insecureSkipVerify)
        #expect(e.tls.caPEM == nil)
        #expect(e.tls.clientCertPEM != nil)
    }

    @Test func execUserFallsBackToKubectl() throws {
        let text = """
            apiVersion: v1
            kind: Config
            clusters:
            - name: eks
              cluster:
                server: https://ABC.gr7.eu-west-1.eks.amazonaws.com
                certificate-authority-data: \(F.b64(F.caPEM))
            users:
            - name: eks-user
              user:
                exec:
                  apiVersion: client.authentication.k8s.io/v1beta1
                  command: aws
                  args: [eks, get-token, --cluster-name, prod]
            - name: gcp-user
              user:
                auth-provider:
                  name: gcp
            contexts:
            - name: eks
              context: {cluster: eks, user: eks-user}
            - name: gke
              context: {cluster: eks, user: gcp-user}
            current-context: eks
            """
        let config = try Kubeconfig.parse(text)
        let eks = try config.resolve()
        #expect(eks.kubectlFallbackReason?.contains("exec plugin 'aws'") == true)
        let gke = try config.resolve(context: "gke")
        #expect(gke.kubectlFallbackReason?.contains("auth-provider 'gcp'") == true)

        let path = try F.write(text)
        defer { F.remove(path) }
        let reporter = CollectingReporter()
        let recorder = KubeTestTransports()
        let api = try makeKubeAPI(
            host: kubeTestHost(recorder: recorder, reporter: reporter), kubeconfigPath: path, context: nil)
        let raw = try #require(api as? KubectlRawAPI)
        #expect(raw.kubeconfigPath == path)
        #expect(raw.context == "eks")
        #expect(recorder.options.isEmpty)  // no libcurl transport was made
        #expect(
            reporter.events.contains {
                if case .log(.debug, let m) = $0 { return m.contains("kubectl get --raw") } else { return false }
            })
    }

    @Test func kindKubeconfigMakesACurlClientWithItsCredentials() throws {
        let path = try F.write(F.kind())
        defer { F.remove(path) }
        let recorder = KubeTestTransports()
        let api = try makeKubeAPI(host: kubeTestHost(recorder: recorder), kubeconfigPath: path, context: nil)
        let client = try #require(api as? KubeClient)
        #expect(client.server == "https://127.0.0.1:41234")
        #expect(
            recorder.options == [
                TLSOptions(
                    caPEM: Array(F.caPEM.utf8), clientCertPEM: Array(F.certPEM.utf8),
                    clientKeyPEM: Array(F.keyPEM.utf8))
            ])
    }

    @Test func unknownContextListsTheAvailableOnes() throws {
        var config = try Kubeconfig.parse(F.kind(), path: "/home/u/.kube/config")
        config.contexts["lab"] = .init(
            name: "lab", cluster: "kind-platform-cluster", user: "kind-platform-cluster", namespace: nil)
        let error = #expect(throws: AphexError.self) { try config.resolve(context: "prod") }
        #expect(error?.status == .usage)
        let message = error?.message ?? ""
        #expect(message.contains("'prod'"))
        #expect(message.contains("/home/u/.kube/config"))
        #expect(message.contains("Available contexts: kind-platform-cluster, lab"))
        #expect(message.contains("--context"))
    }

    @Test func missingCurrentContextNamesTheFix() throws {
        let text = F.kind().replacingOccurrences(
            of: "current-context: kind-platform-cluster", with: "current-context: \"\"")
        let error = #expect(throws: AphexError.self) { try Kubeconfig.parse(text, path: "/k").resolve() }
        #expect(error?.status == .usage)
        #expect(error?.message.contains("no current-context") == true)
        #expect(error?.message.contains("--context NAME (available contexts: kind-platform-cluster)") == true)
        // The stale current-context of a deleted cluster:
        let stale = F.kind().replacingOccurrences(
            of: "current-context: kind-platform-cluster", with: "current-context: kind-old")
        let e2 = #expect(throws: AphexError.self) { try Kubeconfig.parse(stale).resolve() }
        #expect(e2?.message.contains("The current-context 'kind-old' is not in") == true)
    }

    @Test func brokenKubeconfigsAreUsageErrorsNamingTheProblem() throws {
        let missing = #expect(throws: AphexError.self) { try Kubeconfig.load(path: "/nonexistent/kubeconfig") }
        #expect(missing?.status == .usage)
        #expect(missing?.message.contains("does not exist") == true)

        let yaml = #expect(throws: AphexError.self) { try Kubeconfig.parse("clusters: [unclosed", path: "/k") }
        #expect(yaml?.message.contains("not valid YAML") == true)

        let b64 = #expect(throws: AphexError.self) { try Kubeconfig.parse(F.kind(ca: "not-base64")) }
        #expect(b64?.message.contains("certificate-authority-data") == true)
        #expect(b64?.message.contains("base64") == true)

        let badServer = #expect(throws: AphexError.self) {
            try Kubeconfig.parse(F.kind(server: "127.0.0.1:6443")).resolve()
        }
        #expect(badServer?.message.contains("not an http(s) URL") == true)

        let noCluster = F.kind().replacingOccurrences(
            of: "    cluster: kind-platform-cluster", with: "    cluster: gone")
        let e = #expect(throws: AphexError.self) { try Kubeconfig.parse(noCluster).resolve() }
        #expect(e?.message.contains("names the cluster 'gone'") == true)

        let halfCert = F.kind().replacingOccurrences(of: "    client-key-data: \(F.b64(F.keyPEM))\n", with: "")
            .replacingOccurrences(of: "    client-key-data: \(F.b64(F.keyPEM))", with: "")
        let e3 = #expect(throws: AphexError.self) { try Kubeconfig.parse(halfCert).resolve() }
        #expect(e3?.message.contains("without its key") == true)
    }
}

/// KUBECONFIG lists, merged as client-go's loading rules merge them (what kubectl shows).
@Suite struct KubeconfigListTests {
    typealias F = KubeconfigFixtures

    static func config(server: String, context: String, current: String?, tokenFile: String? = nil) -> String {
        """
        apiVersion: v1
        kind: Config
        clusters:
        - name: \(context)-cluster
          cluster: {server: \(server)}
        users:
        - name: \(context)-user
          user: {\(tokenFile.map { "tokenFile: \($0)" } ?? "token: tok-\(context)")}
        contexts:
        - name: \(context)
          context: {cluster: \(context)-cluster, user: \(context)-user}
        - name: shared
          context: {cluster: \(context)-cluster, user: \(context)-user}
        \(current.map { "current-context: \($0)" } ?? "")
        """
    }

    @Test func firstFileWinsAndMissingFilesAreSkipped() throws {
        let a = try F.write(Self.config(server: "https://a.example:6443", context: "a", current: nil))
        let b = try F.write(Self.config(server: "https://b.example:6443", context: "b", current: "b", tokenFile: "tok"))
        defer {
            F.remove(a)
            F.remove(b)
        }
        try "tok-b-from-its-own-dir\n".write(
            toFile: (b as NSString).deletingLastPathComponent + "/tok", atomically: true, encoding: .utf8)
        let list = "/nonexistent/kubeconfig:\(a)::\(b)"
        #expect(Kubeconfig.isList(list))
        #expect(Kubeconfig.listedFiles(list) == ["/nonexistent/kubeconfig", a, b])
        let merged = try Kubeconfig.load(path: list)
        #expect(merged.path == list)
        #expect(merged.contextNames == ["a", "b", "shared"])
        // current-context from the first file that sets one (only b does).
        #expect(try merged.resolve().server == "https://b.example:6443")
        // "shared" is defined by both: the first file's wins.
        #expect(try merged.resolve(context: "shared").server == "https://a.example:6443")
        #expect(try merged.resolve(context: "a").tls.bearerToken == "tok-a")
        // b's relative tokenFile is read from b's directory, not a's.
        #expect(try merged.resolve(context: "b").tls.bearerToken == "tok-b-from-its-own-dir")
    }

    /// The server URL for messages and reports comes from the same merge: the first file that
    /// sets current-context picks the context, the first file to define a name wins.
    @Test func serverURLResolvesAListAsKubectlWould() throws {
        let a = try F.write(Self.config(server: "https://a.example:6443", context: "a", current: nil))
        let b = try F.write(Self.config(server: "https://b.example:6443", context: "b", current: "b"))
        defer {
            F.remove(a)
            F.remove(b)
        }
        let list = "/nonexistent/kubeconfig:\(a):\(b)"
        #expect(Kubeconfig.serverURL(path: list, context: nil) == "https://b.example:6443")
        #expect(Kubeconfig.serverURL(path: list, context: "a") == "https://a.example:6443")
        #expect(Kubeconfig.serverURL(path: list, context: "shared") == "https://a.example:6443")
        #expect(Kubeconfig.serverURL(path: list, context: "missing") == nil)
        #expect(Kubeconfig.serverURL(path: a, context: nil) == nil)  // no current-context
        #expect(Kubeconfig.serverURL(path: "/nonexistent/one:/nonexistent/two", context: nil) == nil)
    }

    @Test func listOfMissingFilesIsAUsageErrorNamingTheList() {
        let list = "/nonexistent/one:/nonexistent/two"
        #expect(!Kubeconfig.exists(list))
        let error = #expect(throws: AphexError.self) { try Kubeconfig.load(path: list) }
        #expect(error?.status == .usage)
        #expect(error?.message.contains(list) == true)
    }

    @Test func kubectlGetsTheListThroughItsEnvironment() async throws {
        let a = try F.write(Self.config(server: "https://a.example:6443", context: "a", current: "a"))
        defer { F.remove(a) }
        let list = "\(a):/nonexistent/other"
        #expect(Kubeconfig.kubectlFlags(a) == ["--kubeconfig", a])
        #expect(Kubeconfig.kubectlEnvironment(a).isEmpty)
        #expect(Kubeconfig.kubectlFlags(list).isEmpty)
        #expect(Kubeconfig.kubectlEnvironment(list) == ["KUBECONFIG": list])
        let runner = RecordingRunner()
        runner.on(["kubectl", "--context", "a", "get", "ns"])
        let kubectl = Kubectl(kubeconfig: list, context: "a", runner: runner)
        _ = try await kubectl.run(["get", "ns"])
        #expect(runner.commands.map(\.argv) == [["kubectl", "--context", "a", "get", "ns"]])
        #expect(runner.commands.first?.environment["KUBECONFIG"] == list)
    }

    /// A single file whose name has a colon is a file, not a list.
    @Test func anExistingPathWithAColonIsOneFile() throws {
        let path = try F.write(
            Self.config(server: "https://c.example:6443", context: "c", current: "c"), name: "kube:config")
        defer { F.remove(path) }
        #expect(!Kubeconfig.isList(path))
        #expect(try Kubeconfig.load(path: path).resolve().server == "https://c.example:6443")
        #expect(Kubeconfig.kubectlFlags(path) == ["--kubeconfig", path])
    }
}
