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
    public func write(_ text: String) {
        lock.lock()
        buffer += text
        lock.unlock()
    }
    public var text: String {
        lock.lock()
        defer { lock.unlock() }
        return buffer
    }
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

/// Makes the Kubernetes API client for a resolved kubeconfig context.
public typealias KubeAPIFactory = @Sendable (HostContext, KubeEndpoint) throws -> any KubeAPI

/// A seam a test did not set up was used: the test fails with this instead of reaching a
/// real cluster (swiftly's `HTTPRequestExecutorFail` habit).
public struct SeamNotSetUp: Error, CustomStringConvertible {
    public var seam: String
    public init(seam: String) { self.seam = seam }
    public var description: String {
        "\(seam) was called, but this context did not set it up: give the test context a fake for it."
    }
}

/// What every command receives (swiftly's context): the host seams, the output face, the
/// cluster selection and the API client factory. `AppContext.live` builds the real one;
/// tests build their own and replace seams piece by piece.
public struct AppContext: Sendable {
    public var host: HostContext
    public var output: any ResultWriter
    public var format: OutputFormat
    public var target: ClusterTarget
    /// How commands get their Kubernetes API client. The default fails loudly: only
    /// `AppContext.live` (libcurl KubeClient, kubectl --raw for exec-plugin kubeconfigs) and
    /// a test that passes its own fake reach a cluster.
    public var makeKubeAPI: KubeAPIFactory

    public init(
        host: HostContext, output: any ResultWriter = StdoutWriter(), format: OutputFormat = .text,
        target: ClusterTarget = ClusterTarget(), makeKubeAPI: @escaping KubeAPIFactory = AppContext.kubeAPINotSetUp
    ) {
        self.host = host
        self.output = output
        self.format = format
        self.target = target
        self.makeKubeAPI = makeKubeAPI
    }

    /// The default `makeKubeAPI` of a context that did not set one: throws `SeamNotSetUp`.
    public static let kubeAPINotSetUp: KubeAPIFactory = { _, _ in throw SeamNotSetUp(seam: "AppContext.makeKubeAPI") }

    /// The production context for a command: real runner, libcurl transport, system clock,
    /// the reporter face that fits stderr and --output.
    public static func live(format: OutputFormat, noColor: Bool, verbose: Bool, target: ClusterTarget) -> AppContext {
        let env = ProcessInfo.processInfo.environment
        // Private scratch files (a kind admin kubeconfig) left by a run that was killed.
        PrivateFiles.removeStaleTemporaryDirectories(home: env["HOME"] ?? NSHomeDirectory())
        let terminal = Terminal.detect(fd: 2, environment: env, noColorFlag: noColor)
        let reporter = makeReporter(format: format, terminal: terminal, verbose: verbose)
        let runner: any CommandRunner =
            verbose
            ? LoggingRunner(base: SubprocessRunner(), reporter: reporter)
            : SubprocessRunner()
        let host = HostContext(
            runner: runner, reporter: reporter, environment: env,
            makeTransport: { CurlTransport(tls: $0) }, verbose: verbose)
        return AppContext(
            host: host, output: StdoutWriter(), format: format, target: target,
            makeKubeAPI: liveKubeAPI)
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

    /// The API client for the selected cluster (`makeKubeAPI` on the resolved kubeconfig).
    public func kubeAPI() throws -> any KubeAPI {
        try makeKubeAPI(host, try Kubeconfig.load(path: resolvedKubeconfig()).resolve(context: target.context))
    }

    /// Writes a command's result to stdout: its text, or with `--output json` its JSON
    /// document (keys sorted, two-space indent, one trailing newline).
    public func output(_ data: some OutputData) {
        output.write(format == .json ? Self.json(data, pretty: true) + "\n" : data.description)
    }

    /// The JSON text of an output value (sorted keys, no escaped slashes; `pretty`: indented
    /// two spaces, else one line as `status --watch --output json` prints it).
    public static func json(_ data: some Encodable, pretty: Bool) -> String {
        JSON.text(of: data, pretty: pretty)
    }
}

/// The production API factory (libcurl KubeClient; kubectl --raw for exec-plugin kubeconfigs).
let liveKubeAPI: KubeAPIFactory = { host, endpoint in makeKubeAPI(host: host, endpoint: endpoint) }
