import ArgumentParser

struct K3s: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "k3s",
        abstract: "Manage k3s on this host (needs root).",
        subcommands: [K3sInstall.self, K3sJoin.self, K3sUninstall.self, K3sStatus.self])
}
