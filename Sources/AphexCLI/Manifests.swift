import ArgumentParser

struct Manifests: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "manifests",
        abstract: "Inspect the release manifests aphex installs.",
        subcommands: [ManifestsPin.self])
}
