import Foundation
import SimCluster
import Testing

/// docs/architecture.md's import table is the law of the module graph: every project module
/// imports exactly the modules its row names, and a row names only modules listed above it, so
/// the arrows point one way (and SimCluster never borrows aphex's own logic).
@Suite struct ArchitectureTests {
    static let root = BuiltAphex.packageRoot
    /// Where each module's sources are.
    static let directories: [String: String] = [
        "AphexCore": "Sources/AphexCore", "KubeClient": "Sources/KubeClient", "SecretGen": "Sources/SecretGen",
        "ClusterDrivers": "Sources/ClusterDrivers", "ArgoInstall": "Sources/ArgoInstall",
        "Bootstrap": "Sources/Bootstrap", "AphexCLI": "Sources/AphexCLI", "aphex": "Sources/aphex",
        "TestSupport": "Tests/TestSupport", "SimCluster": "Tests/SimCluster"
    ]

    /// The ```imports block: module -> allowed imports, in the document's order.
    static func table() throws -> [(module: String, imports: Set<String>)] {
        let doc = try String(contentsOf: root.appendingPathComponent("docs/architecture.md"), encoding: .utf8)
        guard let start = doc.range(of: "```imports\n"),
            let end = doc.range(of: "```", range: start.upperBound..<doc.endIndex)
        else { throw CocoaError(.fileReadCorruptFile) }
        return doc[start.upperBound..<end.lowerBound].split(separator: "\n").map { line in
            let parts = line.split(separator: ":", maxSplits: 1)
            let imports = parts.count > 1 ? parts[1].split(separator: " ").map(String.init) : []
            return (String(parts[0]), Set(imports))
        }
    }

    /// The project modules a directory's Swift files import.
    static func projectImports(of dir: String) throws -> Set<String> {
        let modules = Set(directories.keys)
        var found: Set<String> = []
        let url = root.appendingPathComponent(dir)
        let files = FileManager.default.enumerator(at: url, includingPropertiesForKeys: nil)
        while let file = files?.nextObject() as? URL {
            guard file.pathExtension == "swift" else { continue }
            for line in try String(contentsOf: file, encoding: .utf8).split(separator: "\n") {
                let words = line.split(separator: " ")
                guard let i = words.firstIndex(of: "import"), words[..<i].allSatisfy({ $0.hasPrefix("@") }),
                    i + 1 < words.count
                else { continue }
                let name = String(words[i + 1])
                if modules.contains(name) { found.insert(name) }
            }
        }
        return found
    }

    @Test func everyModuleImportsExactlyWhatItsRowAllows() throws {
        let rows = try Self.table()
        #expect(Set(rows.map(\.module)) == Set(Self.directories.keys), "one row per module")
        for row in rows {
            let dir = try #require(Self.directories[row.module])
            let actual = try Self.projectImports(of: dir)
            #expect(
                actual == row.imports,
                "\(row.module) imports \(actual.sorted()); docs/architecture.md says \(row.imports.sorted())")
        }
    }

    @Test func theArrowsPointOneWay() throws {
        var above: Set<String> = []
        for row in try Self.table() {
            #expect(
                row.imports.isSubset(of: above),
                "\(row.module) names a module not listed above it: \(row.imports.subtracting(above).sorted())")
            above.insert(row.module)
        }
        let sim = try #require(try Self.table().first { $0.module == "SimCluster" })
        #expect(sim.imports.isSubset(of: ["AphexCore", "KubeClient", "TestSupport"]))
    }

    @Test func theTableFailsWhenAModuleImportsMore() throws {
        // The checker itself: Bootstrap imports ClusterDrivers, which its row must name.
        #expect(try Self.projectImports(of: "Sources/Bootstrap").contains("ClusterDrivers"))
        #expect(!(try Self.projectImports(of: "Sources/AphexCore").contains("KubeClient")))
    }
}
