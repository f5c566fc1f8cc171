import AphexCore
import KubeClient
import ClusterDrivers
import Foundation

/// Where results go (stdout). Progress and logs go through the reporter (stderr).
public protocol ResultWriter: Sendable {
    func write(_ text: String)
}

public struct StdoutWriter: ResultWriter {
    public init() {}
    public func write(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}

/// Captures results in memory (tests).
public final class BufferWriter: ResultWriter, @unchecked Sendable {
    private let lock = NSLock()
    private var buffer = ""
    public init() {}
    public func write(_ text: String) { lock.lock(); buffer += text; lock.unlock() }
    public var text: String { lock.lock(); defer { lock.unlock() }; return buffer }
}

/// Which cluster a command talks to, as the user selected it.
public struct ClusterTarget: Sendable, Equatable {
    public var clusterName: String
    /// Explicit --kubeconfig (else the aphex cluster directory's, else $KUBECONFIG, else ~/.kube/config).
    public var kubeconfig: String?
    public var context: String?

    public init(clusterName: String = "platform-cluster", kubeconfig: String? = nil, context: String? = nil) {
        self.clusterName = clusterName
        self.kubeconfig = kubeconfig
        self.context = context
    }
}

/// What every command's library entry point receives: the host seams, the output face,
/// and the cluster selection.
public struct AppContext: Sendable {
    public var host: HostContext
    public var output: any ResultWriter
    public var format: OutputFormat
    public var target: ClusterTarget

    public init(host: HostContext, output: any ResultWriter = StdoutWriter(), format: OutputFormat = .text,
                target: ClusterTarget = ClusterTarget()) {
        self.host = host
        self.output = output
        self.format = format
        self.target = target
    }

    public var reporter: any Reporter { host.reporter }
    public var runner: any CommandRunner { host.runner }

    /// The kubeconfig path to use: --kubeconfig, else aphex's own for the cluster (if it
    /// exists), else $KUBECONFIG (one file, or a list merged as kubectl merges it), else
    /// ~/.kube/config.
    public func resolvedKubeconfig() -> String {
        if let k = target.kubeconfig { return (k as NSString).expandingTildeInPath }
        let own = host.kubeconfigPath(forCluster: target.clusterName)
        if FileManager.default.fileExists(atPath: own) { return own }
        // $KUBECONFIG as kubectl reads it: one file, or a list that Kubeconfig.load merges.
        if let env = host.environment["KUBECONFIG"] {
            let files = env.split(separator: ":").map(String.init).filter { !$0.isEmpty }
            if files.count == 1 { return files[0] }
            if files.count > 1 { return files.joined(separator: ":") }
        }
        return host.homeDirectory + "/.kube/config"
    }

    /// Writes a JSON document to stdout (the `--output json` result).
    public func writeJSON(_ value: JSON) {
        output.write(value.serialized(pretty: true) + "\n")
    }
}
