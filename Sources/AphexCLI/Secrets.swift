import ArgumentParser

struct Secrets: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secrets",
        abstract: "Export the platform credentials, or repair derived keys that disagree with their source.",
        subcommands: [SecretsExport.self, SecretsRepair.self])
}
