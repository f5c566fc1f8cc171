import ArgumentParser

struct Kind: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kind",
        abstract: "Manage aphex's kind clusters (kubeconfig kept in ~/.aphex/clusters/NAME).",
        subcommands: [KindCreate.self, KindDelete.self, KindList.self])
}
