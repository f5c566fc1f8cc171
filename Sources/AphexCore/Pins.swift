import Foundation

/// One recorded manifest digest.
public struct LockEntry: Sendable, Equatable, Codable {
    public var component: String
    public var version: String
    public var url: String
    public var sha256: String
    /// "catalog", "components file" (verified against a pin) or "first-use" (trust on first use).
    public var source: String
    /// RFC 3339 time of the first download.
    public var recordedAt: String

    public init(component: String, version: String, url: String, sha256: String, source: String, recordedAt: String) {
        self.component = component
        self.version = version
        self.url = url
        self.sha256 = sha256
        self.source = source
        self.recordedAt = recordedAt
    }
}

/// The lock file (~/.aphex/manifests.lock, JSON): NAME-VERSION -> digest recorded at first
/// download. A later download of the same NAME-VERSION with another digest is refused.
/// Release manifests (ArgoInstall's fetcher) and the k3s installer (`k3s-installer-VERSION`,
/// K3sDriver) share it, so `aphex manifests pin` shows every digest aphex trusts.
///
///     {"lockVersion": 1, "manifests": {"tekton-pipelines-v0.65.0": {"component": ..., "sha256": ...}}}
public struct ManifestLock: Sendable, Equatable {
    public var entries: [String: LockEntry]

    public init(entries: [String: LockEntry] = [:]) { self.entries = entries }

    /// The k3s installer's name in a components file and in the lock (`k3s-installer-VERSION`):
    /// ArgoInstall reads its pins, the k3s driver records its digest.
    public static let k3sInstallerComponent = "k3s-installer"

    public static func defaultPath(home: String) -> String { home + "/.aphex/manifests.lock" }

    /// Reads the lock; a missing file is an empty lock, a corrupt one is an error naming it.
    public static func load(path: String) throws -> ManifestLock {
        guard FileManager.default.fileExists(atPath: path) else { return ManifestLock() }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw AphexError.failed(
                """
                The manifest lock '\(path)' exists but cannot be read. Fix its permissions (chmod 600), or move \
                it away to record the digests afresh.
                """
            )
        }
        do {
            return ManifestLock(entries: try JSONDecoder().decode(File.self, from: data).manifests)
        } catch {
            throw AphexError.failed(
                """
                The manifest lock '\(path)' is not valid JSON (\(error)). Restore it from a backup, or move it \
                away to record the digests afresh on the next download.
                """
            )
        }
    }

    /// The file's shape: `{"lockVersion": 1, "manifests": {KEY: LockEntry}}`. Entries that lack
    /// a component, version or digest are skipped; older entries may lack url, source or time.
    struct File: Codable {
        var lockVersion = 1
        var manifests: [String: LockEntry]

        init(manifests: [String: LockEntry]) { self.manifests = manifests }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let raw = try c.decodeIfPresent([String: Partial].self, forKey: .manifests) ?? [:]
            manifests = raw.compactMapValues(\.entry)
        }
    }

    struct Partial: Decodable {
        var component, version, sha256: String?
        var url, source, recordedAt: String?
        var entry: LockEntry? {
            guard let component, let version, let sha256 else { return nil }
            return LockEntry(
                component: component, version: version, url: url ?? "", sha256: sha256,
                source: source ?? "first-use", recordedAt: recordedAt ?? "")
        }
    }

    /// The file's bytes: pretty JSON with sorted keys, so a diff of two locks reads well.
    public func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        // Encoding strings into a dictionary cannot fail.
        return Array((try? encoder.encode(File(manifests: entries))) ?? Data()) + [0x0A]
    }

    /// Writes atomically (private temp file + fsync + rename), mode 600, creating the directory.
    public func save(path: String) throws {
        try PrivateFiles.write(encoded(), to: path, mode: 0o600)
    }
}

/// `--require-pinned` / `APHEX_REQUIRE_PINNED=1`: download nothing that lacks a pin from the
/// catalog or a components file. A digest recorded at first use does not count: a CI job with
/// a fresh $HOME is always on first use.
public enum PinPolicy {
    public static let variable = "APHEX_REQUIRE_PINNED"

    public static func required(flag: Bool, environment: [String: String]) -> Bool {
        flag || ["1", "true", "yes"].contains(environment[variable]?.lowercased() ?? "")
    }
}
