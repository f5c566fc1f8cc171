import ArgumentParser
import AphexCore

/// Which aphex-managed cluster a command is about.
struct ClusterSelection: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Name of the cluster (a DNS-1123 label: lowercase letters, digits and '-', at most 63 characters).",
            valueName: "name"))
    var clusterName: String = "platform-cluster"

    func validate() throws {
        try validateClusterName(clusterName)
    }
}

func validateClusterName(_ name: String) throws {
    if !Validate.isDNS1123Label(name) {
        throw ValidationError(
            """
            '\(name)' is not a valid cluster name: use lowercase letters, digits and '-', starting and ending \
            with a letter or digit, at most 63 characters (for example --cluster-name platform-cluster).
            """
        )
    }
}
