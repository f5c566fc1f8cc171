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

    public static func defaultPath(home: String) -> String { home + "/.aphex/manifests.lock" }

    /// Reads the lock; a missing file is an empty lock, a corrupt one is an error naming it.
    public static func load(path: String) throws -> ManifestLock {
        guard FileManager.default.fileExists(atPath: path) else { return ManifestLock() }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw AphexError.failed("The manifest lock '\(path)' exists but cannot be read. Fix its permissions (chmod 600), or move it away to record the digests afresh.")
        }
        do {
            let json = try JSON.parse(data)
            var entries: [String: LockEntry] = [:]
            for (key, value) in json["manifests"]?.object ?? [:] {
                guard let c = value["component"]?.string, let v = value["version"]?.string,
                      let d = value["sha256"]?.string else { continue }
                entries[key] = LockEntry(component: c, version: v, url: value["url"]?.string ?? "",
                                         sha256: d, source: value["source"]?.string ?? "first-use",
                                         recordedAt: value["recordedAt"]?.string ?? "")
            }
            return ManifestLock(entries: entries)
        } catch {
            throw AphexError.failed("The manifest lock '\(path)' is not valid JSON (\(error)). Restore it from a backup, or move it away to record the digests afresh on the next download.")
        }
    }

    public var json: JSON {
        var manifests: [String: JSON] = [:]
        for (key, e) in entries {
            manifests[key] = ["component": .string(e.component), "version": .string(e.version), "url": .string(e.url),
                              "sha256": .string(e.sha256), "source": .string(e.source), "recordedAt": .string(e.recordedAt)]
        }
        return ["lockVersion": 1, "manifests": .object(manifests)]
    }

    /// Writes atomically (temp file + rename), mode 600, creating the directory.
    public func save(path: String) throws {
        try writeFileAtomically(path: path, bytes: Array((json.serialized(pretty: true) + "\n").utf8), mode: 0o600)
    }
}

/// Writes `bytes` to a temp file beside `path` and renames it over `path`, so a reader never
/// sees half a file (and a crash leaves the old file intact).
public func writeFileAtomically(path: String, bytes: [UInt8], mode: mode_t = 0o644) throws {
    let dir = (path as NSString).deletingLastPathComponent
    do {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    } catch {
        throw AphexError.failed("Could not create the directory '\(dir)': \(error.localizedDescription). Check its permissions or free disk space.")
    }
    let tmp = "\(dir)/.\((path as NSString).lastPathComponent).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp"
    let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, mode)
    guard fd >= 0 else {
        throw AphexError.failed("Could not write '\(tmp)': \(String(cString: strerror(errno))). Check the permissions of '\(dir)'.")
    }
    var offset = 0
    var failure: Int32 = 0
    bytes.withUnsafeBytes { raw in
        while offset < raw.count {
            let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
            if n < 0 { if errno == EINTR { continue }; failure = errno; break }
            offset += n
        }
    }
    if failure == 0 && fsync(fd) != 0 { failure = errno }
    close(fd)
    if failure == 0 && rename(tmp, path) != 0 { failure = errno }
    if failure != 0 {
        unlink(tmp)
        throw AphexError.failed("Could not write '\(path)': \(String(cString: strerror(failure))). Check the permissions of '\(dir)' and the free disk space.")
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
