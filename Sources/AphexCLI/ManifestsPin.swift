import ArgumentParser
import AphexCore
import Bootstrap
import Foundation

struct ManifestsPin: AphexCommand {
    static let configuration = CommandConfiguration(
        commandName: "pin",
        abstract: "Print the lock of manifest digests (catalog pins and those recorded on first download).",
        discussion: "Example:\n  aphex manifests pin --output json")

    @OptionGroup var global: GlobalOptions

    func validate() throws { try global.rejectEnvOutput(command: "manifests pin") }

    func run(_ ctx: AppContext) async throws {
        ctx.output(try ManifestPins.load(home: ctx.host.homeDirectory))
    }
}
