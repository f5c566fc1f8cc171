import ArgoInstall
import AphexCore
import Foundation

/// `aphex manifests pin`: the digests aphex enforces — catalog pins for the default versions
/// and every digest recorded in ~/.aphex/manifests.lock (first download). JSON:
/// {"lockFile": PATH, "manifests": [{"component", "version", "url", "sha256" (null = not
/// recorded yet), "source" ("catalog" | "components file" | "first-use" | null), "recordedAt"
/// (null unless recorded)}]}, sorted by component, version.
public struct ManifestPins: OutputData {
    public struct Row: Encodable {
        var component, version, url: String
        var sha256, source, recordedAt: String?

        enum CodingKeys: String, CodingKey { case component, version, url, sha256, source, recordedAt }
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(component, forKey: .component)
            try c.encode(version, forKey: .version)
            try c.encode(url, forKey: .url)
            try c.encode(sha256, forKey: .sha256)  // null: not recorded yet
            try c.encode(source, forKey: .source)
            try c.encode(recordedAt, forKey: .recordedAt)
        }
    }

    public var lockFile: String
    public var manifests: [Row]

    enum CodingKeys: String, CodingKey { case lockFile, manifests }

    /// The lock under `home` merged over the catalog's pins.
    public static func load(home: String) throws -> ManifestPins {
        let lockPath = ManifestLock.defaultPath(home: home)
        let lock = try ManifestLock.load(path: lockPath)
        var rows: [String: Row] = [:]
        for c in try resolveComponents(Catalog.names) {
            rows[c.key] = Row(
                component: c.name, version: c.version, url: c.url, sha256: c.pinnedSHA256,
                source: c.pinnedSHA256 == nil ? nil : "catalog", recordedAt: nil)
        }
        for (key, e) in lock.entries {
            rows[key] = Row(
                component: e.component, version: e.version, url: e.url, sha256: e.sha256,
                source: e.source, recordedAt: e.recordedAt.isEmpty ? nil : e.recordedAt)
        }
        let order = Dictionary(uniqueKeysWithValues: Catalog.names.enumerated().map { ($1, $0) })
        let sorted = rows.values.sorted {
            (order[$0.component] ?? 99, $0.component, $0.version) < (
                order[$1.component] ?? 99, $1.component, $1.version
            )
        }
        return ManifestPins(lockFile: lockPath, manifests: sorted)
    }

    public var description: String {
        let exists = FileManager.default.fileExists(atPath: lockFile)
        var text = "Manifest digests (lock file: \(lockFile)\(exists ? "" : ", not written yet"))\n"
        let w1 = max(9, manifests.map(\.component.count).max() ?? 0)
        let w2 = max(7, manifests.map(\.version.count).max() ?? 0)
        func pad(_ s: String, _ n: Int) -> String { s + String(repeating: " ", count: max(0, n - s.count)) }
        text += "\(pad("COMPONENT", w1))  \(pad("VERSION", w2))  \(pad("SHA256", 64))  SOURCE\n"
        for r in manifests {
            text +=
                """
                \(pad(r.component, w1))  \(pad(r.version, w2))  \(pad(r.sha256 ?? "-", 64))  \
                \(r.source ?? "not recorded yet (trust on first use)")\n
                """
        }
        return text
    }
}
