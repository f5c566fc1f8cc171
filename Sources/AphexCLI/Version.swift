import ArgumentParser
import AphexCore
import ArgoInstall
import Bootstrap

let aphexVersion = "0.1.0"

struct Version: AphexCommand {
    static let configuration = CommandConfiguration(
        commandName: "version",
        abstract: "Print aphex's version and the component versions it installs by default.",
        discussion: "Example:\n  aphex version --output json")

    @OptionGroup var global: GlobalOptions

    func validate() throws { try global.rejectEnvOutput(command: "version") }

    func run(_ ctx: AppContext) async throws {
        ctx.output(
            VersionInfo(aphex: aphexVersion, components: Catalog.defaultVersions, testBuild: TestHooks.compiledIn))
    }
}

/// `aphex version`: aphex's version, the component versions it installs by default, and
/// whether this is a test build.
struct VersionInfo: OutputData {
    var aphex: String
    var components: [String: String]
    var testBuild: Bool

    var description: String {
        // A test build honours the test hooks (APHEX_HOST_ROOT, APHEX_K3S_INSTALL_URL) as root.
        var text = "aphex \(aphex)" + (testBuild ? " (test build: debug, test hooks honoured)" : "") + "\n"
        for (name, version) in components.sorted(by: { $0.key < $1.key }) { text += "  \(name) \(version)\n" }
        return text
    }
}
