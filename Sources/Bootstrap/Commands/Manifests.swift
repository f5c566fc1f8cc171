import ArgoInstall
import AphexCore
import KubeClient
import ClusterDrivers
import Foundation

extension Commands {
    /// `aphex manifests pin`: the digests aphex enforces — catalog pins for the default
    /// versions and every digest recorded in ~/.aphex/manifests.lock (first download).
    /// JSON (`--output json`): {"lockFile": PATH, "manifests": [{"component", "version",
    /// "url", "sha256" (null = not recorded yet), "source" ("catalog" | "components file" |
    /// "first-use" | null), "recordedAt" (null unless recorded)}]}, sorted by component, version.
    public static func manifestsPin(_ ctx: AppContext) async throws -> ExitStatus {
        let lockPath = ManifestLock.defaultPath(home: ctx.host.homeDirectory)
        let lock = try ManifestLock.load(path: lockPath)
        struct Row { var component, version, url: String; var sha256, source, recordedAt: String? }
        var rows: [String: Row] = [:]
        for c in try resolveComponents(Catalog.names) {
            rows[c.key] = Row(component: c.name, version: c.version, url: c.url, sha256: c.pinnedSHA256,
                              source: c.pinnedSHA256 == nil ? nil : "catalog", recordedAt: nil)
        }
        for (key, e) in lock.entries {
            rows[key] = Row(component: e.component, version: e.version, url: e.url, sha256: e.sha256,
                            source: e.source, recordedAt: e.recordedAt.isEmpty ? nil : e.recordedAt)
        }
        let order = Dictionary(uniqueKeysWithValues: Catalog.names.enumerated().map { ($1, $0) })
        let sorted = rows.values.sorted {
            (order[$0.component] ?? 99, $0.component, $0.version) < (order[$1.component] ?? 99, $1.component, $1.version)
        }
        if ctx.format == .json {
            let items: [JSON] = sorted.map { r in
                ["component": .string(r.component), "version": .string(r.version), "url": .string(r.url),
                 "sha256": r.sha256.map(JSON.string) ?? .null, "source": r.source.map(JSON.string) ?? .null,
                 "recordedAt": r.recordedAt.map(JSON.string) ?? .null]
            }
            ctx.writeJSON(["lockFile": .string(lockPath), "manifests": .array(items)])
            return .ok
        }
        var text = "Manifest digests (lock file: \(lockPath)\(FileManager.default.fileExists(atPath: lockPath) ? "" : ", not written yet"))\n"
        let w1 = max(9, sorted.map(\.component.count).max() ?? 0)
        let w2 = max(7, sorted.map(\.version.count).max() ?? 0)
        func pad(_ s: String, _ n: Int) -> String { s + String(repeating: " ", count: max(0, n - s.count)) }
        text += "\(pad("COMPONENT", w1))  \(pad("VERSION", w2))  \(pad("SHA256", 64))  SOURCE\n"
        for r in sorted {
            text += "\(pad(r.component, w1))  \(pad(r.version, w2))  \(pad(r.sha256 ?? "-", 64))  \(r.source ?? "not recorded yet (trust on first use)")\n"
        }
        ctx.output.write(text)
        return .ok
    }
}

/// name -> default version of every component aphex installs (for `aphex version`), read
/// from ArgoInstall's component catalog.
public func defaultComponentVersions() -> [String: String] {
    Catalog.defaultVersions
}
