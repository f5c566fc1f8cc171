import AphexCore
import KubeClient
import Foundation

/// Which components, which versions, from where.
public struct ComponentRequest: Sendable, Equatable {
    public var names: [String]
    /// Flag overrides: name -> version.
    public var versions: [String: String]
    /// `--components-file`.
    public var componentsFile: String?

    public init(names: [String], versions: [String: String] = [:], componentsFile: String? = nil) {
        self.names = names
        self.versions = versions
        self.componentsFile = componentsFile
    }

    public func resolve() throws -> [ResolvedComponent] {
        let file = try componentsFile.map { try ComponentsFile.load(path: $0) }
        return try resolveComponents(names, versions: versions, file: file)
    }
}

/// Fetch, verify, transform, split and apply a set of components: the body of the bootstrap
/// "ArgoCD" and "Tekton" steps.
public enum ComponentInstall {
    public static func run(
        _ request: ComponentRequest, fetcher: ManifestFetcher, env: InstallEnvironment,
        dryRun: Bool, sequential: Bool = false,
        crdTimeout: Duration = .seconds(120)
    ) async throws -> InstallReport {
        let components = try request.resolve()
        let installer = BundleInstaller(env: env, sequential: sequential, crdTimeout: crdTimeout)
        if dryRun {
            var cached: [String: ManifestBundle] = [:]
            for c in components {
                guard let m = await fetcher.localCopy(c) else { continue }
                // A copy that does not parse is not counted, but bad input (YAML anchors and
                // aliases) is refused as it would be by the real run: exit 2.
                do { cached[c.name] = try ManifestBundle(m) } catch let e as AphexError where e.status == .usage {
                    throw e
                } catch {}
            }
            return await installer.plan(components, cached: cached)
        }
        let manifests = try await fetcher.fetchAll(components)
        let bundles = try await withThrowingTaskGroup(of: (Int, ManifestBundle).self) { group in
            for (i, m) in manifests.enumerated() { group.addTask { (i, try ManifestBundle(m)) } }
            var out = [ManifestBundle?](repeating: nil, count: manifests.count)
            for try await (i, b) in group { out[i] = b }
            return out.map { $0! }
        }
        return try await installer.install(bundles)
    }
}

/// RFC 3339 UTC, second precision (version markers, lock entries, restart annotations).
func rfc3339(_ date: Date) -> String { RFC3339.format(date) }
