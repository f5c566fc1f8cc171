import ArgoInstall
import AphexCore
import KubeClient
import ClusterDrivers
import Foundation
import SecretGen
import Testing
import TestSupport

/// The transports the network tests run with: libcurl (production) and a bare socket client
/// that does not check Content-Length (so the fetcher's own truncation check is proven too).
enum TransportKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case curl, socket
    func make() -> any HTTPTransport {
        switch self {
        case .curl: return CurlTransport()
        case .socket: return SocketTransport()
        }
    }
    var testDescription: String { rawValue }
}

/// Fetching against a loopback HTTP server: redirects, caps, retries, truncation, digests, cache,
/// the trust-on-first-use lock and --manifests-dir.
@Suite struct FetchTests {
    let home = Fixtures.TempDir()
    let clock = VirtualClock()
    let reporter = CollectingReporter()

    var settings: FetchSettings {
        FetchSettings(
            cacheDirectory: home.path + "/.cache/aphex/manifests", lockPath: home.path + "/.aphex/manifests.lock")
    }

    func fetcher(_ transport: any HTTPTransport = CurlTransport(), settings: FetchSettings? = nil) -> ManifestFetcher {
        ManifestFetcher(transport: transport, clock: clock, reporter: reporter, settings: settings ?? self.settings)
    }

    /// A component served by the loopback server at PATH, pinned or not.
    func component(
        _ server: HTTPTestServer, path: String = "/tekton/release.yaml", name: String = "tekton-pipelines",
        version: String = "v0.65.0", pin: String? = nil
    ) -> ResolvedComponent {
        ResolvedComponent(
            component: Catalog.component(named: name)!, version: version, url: server.baseURL + path,
            pinnedSHA256: pin, pinSource: pin == nil ? nil : "catalog")
    }

    let body = Array("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: tekton-pipelines\n".utf8)

    @Test(arguments: TransportKind.allCases)
    func successCachesAndRecordsFirstUse(_ transport: TransportKind) async throws {
        let body = self.body
        let server = try HTTPTestServer { _ in .ok(body) }
        defer { server.stop() }
        let c = component(server)
        let m = try await fetcher(transport.make()).fetch(c)
        #expect(m.bytes == body)
        #expect(m.sha256 == Digest.sha256Hex(body))
        #expect(m.origin == .network(url: c.url, attempts: 1))
        // Cached atomically under NAME-VERSION.yaml, no temp file left behind.
        let cacheDir = settings.cacheDirectory
        #expect(FileManager.default.contents(atPath: cacheDir + "/tekton-pipelines-v0.65.0.yaml") == Data(body))
        #expect(try FileManager.default.contentsOfDirectory(atPath: cacheDir) == ["tekton-pipelines-v0.65.0.yaml"])
        // Trust on first use: the digest is in the lock.
        let lock = try ManifestLock.load(path: settings.lockPath)
        #expect(lock.entries["tekton-pipelines-v0.65.0"]?.sha256 == m.sha256)
        #expect(lock.entries["tekton-pipelines-v0.65.0"]?.source == "first-use")
        let mode = try FileManager.default.attributesOfItem(atPath: settings.lockPath)[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    /// Redirects are libcurl's to follow (https only, CurlTransportTests): the fetcher has no
    /// redirect code of its own. A plain http redirect is refused with the reason, not retried.
    @Test func aRedirectToPlainHTTPIsRefused() async throws {
        let body = self.body
        let server = try HTTPTestServer { req in
            switch req.target {
            case "/start": return .redirect("/final/release.yaml")
            case "/final/release.yaml": return .ok(body)
            default: return .status(404)
            }
        }
        defer { server.stop() }
        let c = component(server, path: "/start")
        let error = await #expect(throws: AphexError.self) { try await fetcher().fetch(c) }
        #expect(error?.message.contains("https only") == true, "\(error?.message ?? "")")
        // Retried as a failed download, never followed.
        #expect(server.requests.map(\.target) == ["/start", "/start", "/start", "/start"])
    }

    /// A manifest past the cap (64 MiB by default) is refused at once, naming the cap; nothing
    /// is cached, recorded in the lock, or retried.
    @Test func manifestsPastTheCapAreRefused() async throws {
        #expect(settings.maxManifestBytes == 64 << 20)
        let big = [UInt8](repeating: UInt8(ascii: "#"), count: 8192)
        let server = try HTTPTestServer { _ in .ok(big) }
        defer { server.stop() }
        var small = settings
        small.maxManifestBytes = 4096
        let c = component(server)
        let error = await #expect(throws: AphexError.self) { try await fetcher(settings: small).fetch(c) }
        #expect(error?.status == .failed)
        #expect(error?.message.contains("larger than 4 KiB") == true, "\(error?.message ?? "")")
        #expect(error?.message.contains(c.url) == true)
        #expect(server.count("/tekton/release.yaml") == 1)
        #expect(!FileManager.default.fileExists(atPath: settings.lockPath))
        #expect(!FileManager.default.fileExists(atPath: settings.cacheDirectory + "/tekton-pipelines-v0.65.0.yaml"))
    }

    @Test(arguments: TransportKind.allCases)
    func notFoundFailsAtOnceNamingTheURL(_ transport: TransportKind) async throws {
        let server = try HTTPTestServer { _ in .status(404) }
        defer { server.stop() }
        let c = component(server, path: "/tekton/v9.9.9/release.yaml")
        let error = await #expect(throws: AphexError.self) { try await fetcher(transport.make()).fetch(c) }
        #expect(error?.status == .failed)
        #expect(error?.message.contains(c.url) == true)
        #expect(error?.message.contains("404") == true)
        #expect(server.count("/tekton/v9.9.9/release.yaml") == 1)  // no retries on 4xx
        #expect(!FileManager.default.fileExists(atPath: settings.lockPath))
    }

    @Test(arguments: TransportKind.allCases)
    func retries503ThenSucceedsWithBackoff(_ transport: TransportKind) async throws {
        let body = self.body
        let server = try HTTPTestServer { req in req.nth < 3 ? .status(503) : .ok(body) }
        defer { server.stop() }
        let m = try await fetcher(transport.make()).fetch(component(server))
        #expect(m.bytes == body)
        #expect(m.origin == .network(url: server.baseURL + "/tekton/release.yaml", attempts: 3))
        #expect(clock.sleeps == [.seconds(1), .seconds(2)])  // backoff on the virtual clock
    }

    @Test(arguments: TransportKind.allCases)
    func givesUpAfterThreeRetries(_ transport: TransportKind) async throws {
        let server = try HTTPTestServer { _ in .status(502) }
        defer { server.stop() }
        let c = component(server)
        let error = await #expect(throws: AphexError.self) { try await fetcher(transport.make()).fetch(c) }
        #expect(error?.status == .failed)
        #expect(error?.message.contains("after 4 attempts") == true)
        #expect(error?.message.contains(c.url) == true)
        #expect(error?.message.contains("--manifests-dir") == true)
        #expect(server.count("/tekton/release.yaml") == 4)
        #expect(clock.sleeps == [.seconds(1), .seconds(2), .seconds(4)])
    }

    @Test(arguments: TransportKind.allCases)
    func connectionRefusedIsRetriedThenNamed(_ transport: TransportKind) async throws {
        let server = try HTTPTestServer { _ in .status(200) }
        let c = component(server)
        server.stop()  // nothing listens any more
        let error = await #expect(throws: AphexError.self) { try await fetcher(transport.make()).fetch(c) }
        #expect(error?.message.contains(c.url) == true)
        #expect(clock.sleeps.count == 3)
    }

    @Test(arguments: TransportKind.allCases)
    func truncatedBodyIsRetried(_ transport: TransportKind) async throws {
        let body = self.body
        let server = try HTTPTestServer { req in
            req.nth == 1 ? .truncated(status: 200, body: body, sent: 10) : .ok(body)
        }
        defer { server.stop() }
        let m = try await fetcher(transport.make()).fetch(component(server))
        #expect(m.bytes == body)
        #expect(server.count("/tekton/release.yaml") == 2)
        let warnings = reporter.messages(.warning)
        #expect(warnings.count == 1)
        if transport == .socket {
            #expect(warnings[0].contains("truncated") && warnings[0].contains("10 of \(body.count)"))
        }
    }

    @Test(arguments: TransportKind.allCases)
    func truncatedEveryTimeFails(_ transport: TransportKind) async throws {
        let body = self.body
        let server = try HTTPTestServer { _ in .truncated(status: 200, body: body, sent: 5) }
        defer { server.stop() }
        let error = await #expect(throws: AphexError.self) {
            try await fetcher(transport.make()).fetch(component(server))
        }
        #expect(error?.message.contains("after 4 attempts") == true)
        #expect(server.count("/tekton/release.yaml") == 4)
        #expect(!FileManager.default.fileExists(atPath: settings.cacheDirectory + "/tekton-pipelines-v0.65.0.yaml"))
    }

    @Test func pinnedDigestMismatchIsRefused() async throws {
        let body = self.body
        let server = try HTTPTestServer { _ in .ok(body) }
        defer { server.stop() }
        let c = component(server, name: "argocd", version: "v3.3.0", pin: Catalog.argocd.digests["v3.3.0"])
        let error = await #expect(throws: AphexError.self) { try await fetcher().fetch(c) }
        #expect(error?.status == .failed)
        #expect(error?.message.contains("Refusing") == true)
        #expect(error?.message.contains(Catalog.argocd.digests["v3.3.0"]!) == true)
        #expect(error?.message.contains(Digest.sha256Hex(body)) == true)
        // Nothing cached, nothing recorded.
        #expect(!FileManager.default.fileExists(atPath: settings.cacheDirectory + "/argocd-v3.3.0.yaml"))
        #expect(!FileManager.default.fileExists(atPath: settings.lockPath))
    }

    @Test func realArgoCDManifestMatchesTheCatalogPin() async throws {
        let argo = try Fixtures.shared(Fixtures.argocdFile)
        let server = try HTTPTestServer { _ in .ok(argo) }
        defer { server.stop() }
        let c = try resolveComponents(["argocd"])[0]
        #expect(c.pinnedSHA256 == "a6120f20bb0b8d458fa1753fefe7dd2c36eadfd8e09bbdf81ca61849ef6a2f6f")
        var served = c
        served.url = server.baseURL + "/argo-cd/v3.3.0/manifests/install.yaml"
        let m = try await fetcher().fetch(served)
        #expect(m.sha256 == c.pinnedSHA256)
        #expect(try ManifestLock.load(path: settings.lockPath).entries["argocd-v3.3.0"]?.source == "catalog")
    }

    @Test func trustOnFirstUseRefusesALaterChange() async throws {
        let first = self.body
        let second = Array("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: evil\n".utf8)
        let server = try HTTPTestServer { req in .ok(req.nth == 1 ? first : second) }
        defer { server.stop() }
        let c = component(server)
        _ = try await fetcher().fetch(c)
        // The cache is gone (new machine, CI): the upstream file changed meanwhile.
        try FileManager.default.removeItem(atPath: settings.cacheDirectory)
        let error = await #expect(throws: AphexError.self) { try await fetcher().fetch(c) }
        #expect(error?.status == .failed)
        #expect(error?.message.contains(settings.lockPath) == true)
        #expect(error?.message.contains("tekton-pipelines-v0.65.0") == true)
    }

    @Test func cacheHitNeedsNoNetwork() async throws {
        let body = self.body
        let server = try HTTPTestServer { _ in .ok(body) }
        let c = component(server)
        _ = try await fetcher().fetch(c)
        server.stop()
        let m = try await fetcher(NoNetworkTransport()).fetch(c)
        #expect(m.bytes == body)
        #expect(m.origin == .cache(path: settings.cacheDirectory + "/tekton-pipelines-v0.65.0.yaml"))
        #expect(server.count("/tekton/release.yaml") == 1)
    }

    @Test func corruptCacheIsDownloadedAgain() async throws {
        let body = self.body
        let server = try HTTPTestServer { _ in .ok(body) }
        defer { server.stop() }
        let c = component(server)
        _ = try await fetcher().fetch(c)
        FileManager.default.createFile(
            atPath: settings.cacheDirectory + "/tekton-pipelines-v0.65.0.yaml", contents: Data("garbage".utf8))
        let m = try await fetcher().fetch(c)
        #expect(m.bytes == body)
        #expect(server.count("/tekton/release.yaml") == 2)
    }

    @Test func manifestsDirIsReadInsteadOfTheNetwork() async throws {
        let dir = try Fixtures.manifestsDir()
        var s = settings
        s.manifestsDir = dir.path
        let components = try resolveComponents(Catalog.names)
        let all = try await fetcher(NoNetworkTransport(), settings: s).fetchAll(components)
        #expect(all.map(\.component.name) == Catalog.names)
        #expect(all[0].origin == .directory(path: dir.path + "/argocd-v3.3.0.yaml"))
        #expect(all[0].sha256 == Catalog.argocd.digests["v3.3.0"])
        // First use of the unpinned Tekton files is recorded.
        let lock = try ManifestLock.load(path: s.lockPath)
        #expect(Set(lock.entries.keys) == Set(components.map(\.key)))
    }

    @Test func manifestsDirStillChecksDigests() async throws {
        let dir = Fixtures.TempDir()
        dir.write("argocd-v3.3.0.yaml", Array("apiVersion: v1\nkind: Namespace\nmetadata: {name: argocd}\n".utf8))
        var s = settings
        s.manifestsDir = dir.path
        let c = try resolveComponents(["argocd"])[0]
        let error = await #expect(throws: AphexError.self) {
            try await fetcher(NoNetworkTransport(), settings: s).fetch(c)
        }
        #expect(error?.status == .failed)
        #expect(error?.message.contains("Refusing") == true)
    }

    @Test func manifestsDirMissingFileIsAUsageError() async throws {
        let dir = Fixtures.TempDir()
        var s = settings
        s.manifestsDir = dir.path
        let c = try resolveComponents(["tekton-dashboard"])[0]
        let error = await #expect(throws: AphexError.self) {
            try await fetcher(NoNetworkTransport(), settings: s).fetch(c)
        }
        #expect(error?.status == .usage)
        #expect(error?.message.contains("tekton-dashboard-v0.64.0.yaml") == true)
        #expect(error?.message.contains(c.url) == true)
    }
}
