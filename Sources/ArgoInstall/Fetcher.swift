import AphexCore
import KubeClient
import Foundation

/// Where the fetcher reads and writes.
public struct FetchSettings: Sendable, Equatable {
    /// Cache of downloaded manifests (NAME-VERSION.yaml): ~/.cache/aphex/manifests.
    public var cacheDirectory: String
    /// The trust-on-first-use lock: ~/.aphex/manifests.lock.
    public var lockPath: String
    /// `--manifests-dir`: read NAME-VERSION.yaml from here instead of the network.
    public var manifestsDir: String?
    /// Retries after the first attempt, on 5xx/429, connection errors and truncated bodies.
    public var retries: Int = 3
    /// First backoff; doubles on each retry (1s, 2s, 4s).
    public var backoff: Duration = .seconds(1)
    /// Whole-request timeout for one attempt.
    public var requestTimeout: Duration = .seconds(120)
    /// --require-pinned: refuse a component without a pin (catalog or components file).
    public var requirePinned: Bool = false
    /// The largest manifest accepted (release manifests are a few MiB; ArgoCD's is about 2).
    public var maxManifestBytes: Int = 64 << 20

    public init(cacheDirectory: String, lockPath: String, manifestsDir: String? = nil) {
        self.cacheDirectory = cacheDirectory
        self.lockPath = lockPath
        self.manifestsDir = manifestsDir
    }

    /// The standard locations under a host's home / cache directory.
    public static func standard(_ host: HostContext, manifestsDir: String? = nil) -> FetchSettings {
        FetchSettings(
            cacheDirectory: host.cacheDirectory + "/manifests",
            lockPath: ManifestLock.defaultPath(home: host.homeDirectory), manifestsDir: manifestsDir)
    }
}

/// A verified release manifest.
public struct FetchedManifest: Sendable {
    public enum Origin: Sendable, Equatable {
        case network(url: String, attempts: Int)
        case cache(path: String)
        case directory(path: String)
    }
    public var component: ResolvedComponent
    public var bytes: [UInt8]
    public var sha256: String
    public var origin: Origin

    public init(component: ResolvedComponent, bytes: [UInt8], sha256: String, origin: Origin) {
        self.component = component
        self.bytes = bytes
        self.sha256 = sha256
        self.origin = origin
    }

    public var originDescription: String {
        switch origin {
        case .network(let url, let attempts): return attempts > 1 ? "\(url) (\(attempts) attempts)" : url
        case .cache(let path): return "cache \(path)"
        case .directory(let path): return path
        }
    }
}

/// Downloads (through an `HTTPTransport`), caches and verifies release manifests.
/// Verification: a pinned digest (catalog or components file) must match, else the manifest
/// is refused; without a pin the digest seen first is recorded in the lock and every later
/// copy must match it (trust on first use).
public actor ManifestFetcher {
    public let transport: any HTTPTransport
    public let clock: any TimeSource
    public let reporter: any Reporter
    public let settings: FetchSettings

    public init(transport: any HTTPTransport, clock: any TimeSource, reporter: any Reporter, settings: FetchSettings) {
        self.transport = transport
        self.clock = clock
        self.reporter = reporter
        self.settings = settings
    }

    /// Fetches several components concurrently; results in the order given.
    public func fetchAll(_ components: [ResolvedComponent]) async throws -> [FetchedManifest] {
        try await withThrowingTaskGroup(of: (Int, FetchedManifest).self) { group in
            for (i, c) in components.enumerated() {
                group.addTask { (i, try await self.fetch(c)) }
            }
            var out = [FetchedManifest?](repeating: nil, count: components.count)
            for try await (i, m) in group { out[i] = m }
            return out.map { $0! }
        }
    }

    public func fetch(_ c: ResolvedComponent) async throws -> FetchedManifest {
        if settings.requirePinned { try Self.requirePins([c]) }
        if let dir = settings.manifestsDir {
            let path = (dir as NSString).appendingPathComponent(c.fileName)
            guard let data = FileManager.default.contents(atPath: path) else {
                throw AphexError.usage(
                    """
                    --manifests-dir '\(dir)' has no \(c.fileName) (the \(c.label) manifest). Download it on a \
                    connected machine, e.g. `curl -fsSL -o \(c.fileName) \(c.url)`, copy it into '\(dir)', and \
                    run again.
                    """
                )
            }
            let bytes = [UInt8](data)
            let digest = try verify(bytes, c, from: path)
            reporter.debug("\(c.label): read \(path) (sha256 \(digest))")
            return FetchedManifest(component: c, bytes: bytes, sha256: digest, origin: .directory(path: path))
        }

        let cachePath = (settings.cacheDirectory as NSString).appendingPathComponent(c.fileName)
        if let data = FileManager.default.contents(atPath: cachePath) {
            let bytes = [UInt8](data)
            do {
                let digest = try verify(bytes, c, from: cachePath)
                reporter.debug("\(c.label): cache hit \(cachePath) (sha256 \(digest))")
                return FetchedManifest(component: c, bytes: bytes, sha256: digest, origin: .cache(path: cachePath))
            } catch let e as AphexError {
                reporter.warn(
                    "The cached \(c.fileName) does not match its expected digest; downloading it again. (\(e.message))")
                unlink(cachePath)
            }
        }

        let (bytes, attempts) = try await download(c)
        let digest = try verify(bytes, c, from: c.url)
        try PrivateFiles.write(bytes, to: cachePath, mode: 0o644)
        reporter.debug(
            "\(c.label): downloaded \(bytes.count) bytes from \(c.url) (sha256 \(digest)), cached at \(cachePath)")
        return FetchedManifest(
            component: c, bytes: bytes, sha256: digest, origin: .network(url: c.url, attempts: attempts))
    }

    /// --require-pinned: every component must have a pin from the catalog or the components
    /// file (exit 2 naming all that lack one; a digest in the lock does not count).
    public static func requirePins(_ components: [ResolvedComponent]) throws {
        let unpinned = components.filter { $0.pinnedSHA256 == nil }
        guard !unpinned.isEmpty else { return }
        throw AphexError.usage(
            """
            --require-pinned (or APHEX_REQUIRE_PINNED=1): \(unpinned.map(\.label).joined(separator: ", ")) \
            \(unpinned.count == 1 ? "has" : "have") no pinned digest (the catalog pins only ArgoCD; a digest \
            recorded at first use in the lock does not count). Nothing was changed. Pin \
            \(unpinned.count == 1 ? "it" : "them") in a components file (sha256: {\(unpinned[0].name): <sha256>, \
            ...}; `aphex manifests pin` prints the digests after one trusted download) and pass \
            --components-file, or drop --require-pinned.
            """
        )
    }

    /// A verified copy already on disk (--manifests-dir or the cache), without touching the
    /// network, the cache or the lock: what a dry run can inspect. Nil when there is none.
    public func localCopy(_ c: ResolvedComponent) -> FetchedManifest? {
        let path =
            settings.manifestsDir.map { ($0 as NSString).appendingPathComponent(c.fileName) }
            ?? (settings.cacheDirectory as NSString).appendingPathComponent(c.fileName)
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let bytes = [UInt8](data)
        let digest = Digest.sha256Hex(bytes)
        let expected = c.pinnedSHA256 ?? (try? ManifestLock.load(path: settings.lockPath))?.entries[c.key]?.sha256
        if let expected, expected != digest { return nil }
        return FetchedManifest(
            component: c, bytes: bytes, sha256: digest,
            origin: settings.manifestsDir == nil ? .cache(path: path) : .directory(path: path))
    }

    /// Checks a copy against the pin or the lock and records it in the lock. Throws (exit 1)
    /// on a mismatch; nothing is applied then.
    private func verify(_ bytes: [UInt8], _ c: ResolvedComponent, from origin: String) throws -> String {
        let digest = Digest.sha256Hex(bytes)
        var lock = try ManifestLock.load(path: settings.lockPath)
        let recorded = lock.entries[c.key]
        if let pin = c.pinnedSHA256 {
            guard digest == pin.lowercased() else {
                throw AphexError.failed(
                    """
                    Refusing the \(c.label) manifest from \(origin): its SHA-256 is \(digest), but the \
                    \(c.pinSource ?? "catalog") pins \(pin). Nothing was applied. The download was altered (a \
                    proxy or mirror) or the file is not the release; fetch it from \(c.url), or if you trust this \
                    copy, pin its digest in a components file (sha256: {\(c.name): \(digest)}).
                    """
                )
            }
        } else if let recorded, recorded.sha256 != digest {
            throw AphexError.failed(
                """
                Refusing the \(c.label) manifest from \(origin): its SHA-256 is \(digest), but \
                \(settings.lockPath) recorded \(recorded.sha256) when it was first downloaded \
                (\(recorded.recordedAt)). Nothing was applied. The upstream file changed or the copy was altered; \
                if you trust the new file, remove the entry \"\(c.key)\" from \(settings.lockPath) and run again.
                """
            )
        }
        if recorded?.sha256 != digest {
            lock.entries[c.key] = LockEntry(
                component: c.name, version: c.version, url: c.url, sha256: digest,
                source: c.pinnedSHA256 == nil ? "first-use" : (c.pinSource ?? "catalog"),
                recordedAt: rfc3339(clock.wallNow()))
            try lock.save(path: settings.lockPath)
            if c.pinnedSHA256 == nil {
                reporter.info(
                    """
                    \(c.label): no digest is pinned; recorded sha256 \(digest) in \(settings.lockPath) (trust on \
                    first use)
                    """
                )
            }
        }
        return digest
    }

    private struct Retryable: Error { var reason: String }

    /// GET, retried with exponential backoff on 5xx/429/transport errors and truncated bodies;
    /// a clear error naming the URL otherwise. Redirects are the transport's (libcurl follows
    /// them, to https only).
    private func download(_ c: ResolvedComponent) async throws -> ([UInt8], Int) {
        var lastReason = ""
        let attempts = settings.retries + 1
        for attempt in 1...attempts {
            do {
                return (try await getOnce(c), attempt)
            } catch let r as Retryable {
                lastReason = r.reason
                if attempt < attempts {
                    let wait = settings.backoff * (1 << (attempt - 1))
                    reporter.warn(
                        """
                        \(c.label): \(r.reason); retrying in \(formatDuration(wait)) (attempt \(attempt + 1) of \
                        \(attempts))
                        """
                    )
                    try await clock.sleep(for: wait)
                }
            }
        }
        throw AphexError.failed(
            """
            Could not download the \(c.label) manifest from \(c.url) after \(attempts) attempts: \(lastReason). \
            Check the network or proxy (HTTPS_PROXY), or download the file on another machine and pass \
            --manifests-dir DIR with it saved as DIR/\(c.fileName).
            """
        )
    }

    private func getOnce(_ c: ResolvedComponent) async throws -> [UInt8] {
        let url = c.url
        let response: HTTPResponse
        do {
            response = try await transport.send(
                HTTPRequest(
                    method: "GET", url: url, headers: ["Accept": "*/*"],
                    timeout: settings.requestTimeout, maxResponseBytes: settings.maxManifestBytes))
        } catch TransportError.tooLarge {
            throw AphexError.failed(
                """
                Refusing the \(c.label) manifest from \(url): it is larger than \
                \(formatBytes(settings.maxManifestBytes)), the most aphex downloads for one manifest (release \
                manifests are a few MiB). Nothing was applied. Check the URL in your components file; a proxy or \
                captive portal may be answering instead.
                """
            )
        } catch let e as TransportError {
            throw Retryable(reason: "\(e) (\(url))")
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw Retryable(reason: "\(error) (\(url))")
        }
        switch response.status {
        case 200...299:
            if let lengthText = response.headers["content-length"],
                let expected = Int(lengthText.trimmingCharacters(in: .whitespaces)),
                expected != response.body.count
            {
                throw Retryable(
                    reason: "truncated body from \(url): received \(response.body.count) of \(expected) bytes")
            }
            return response.body
        case 429, 500...599:
            throw Retryable(reason: "HTTP \(response.status) from \(url)")
        case 404:
            throw AphexError.failed(
                """
                Could not download the \(c.label) manifest: \(url) answered HTTP 404 Not Found. Check that \
                \(c.version) is a published \(c.component.title) release (--\(c.name)-version), or that the URL \
                in your components file is right.
                """
            )
        default:
            throw AphexError.failed(
                """
                Could not download the \(c.label) manifest: \(url) answered HTTP \(response.status). Check the \
                URL and your network, or use --manifests-dir DIR with the file saved as DIR/\(c.fileName).
                """
            )
        }
    }
}
