import AphexCore
/// Builds and runs kubectl invocations for one cluster. Manifests (and so secrets) always
/// travel on stdin; argv only ever holds names, flags and paths.
public struct Kubectl: Sendable {
    public var kubeconfig: String
    public var context: String?
    public var runner: any CommandRunner
    public var fieldManager = "aphex"

    public init(kubeconfig: String, context: String? = nil, runner: any CommandRunner) {
        self.kubeconfig = kubeconfig
        self.context = context
        self.runner = runner
    }

    /// `kubectl --kubeconfig K [--context C] ARGS...` (no --kubeconfig for a KUBECONFIG list:
    /// the child reads it from `environment`, which the process inherits anyway).
    public func argv(_ args: [String]) -> [String] {
        var argv = ["kubectl"] + Kubeconfig.kubectlFlags(kubeconfig)
        if let context { argv += ["--context", context] }
        return argv + args
    }

    /// The argv of a server-side apply of a YAML stream read from stdin. `outputJSON`: kubectl
    /// prints the applied objects as JSON (their uids go into aphex's ownership record).
    public func applyArgv(dryRun: Bool = false, outputJSON: Bool = false) -> [String] {
        var args = ["apply", "--server-side", "--force-conflicts", "--field-manager=\(fieldManager)", "-f", "-"]
        if dryRun { args.append("--dry-run=server") }
        if outputJSON { args += ["-o", "json"] }
        return argv(args)
    }

    /// Server-side apply of `yaml` (stdin), returning kubectl's stdout.
    @discardableResult
    public func apply(_ yaml: String, dryRun: Bool = false, outputJSON: Bool = false,
                      timeout: Duration = .seconds(300)) async throws -> String {
        try await runner.run(Command(applyArgv(dryRun: dryRun, outputJSON: outputJSON), stdin: Array(yaml.utf8), environment: environment,
                                     timeout: timeout)).stdoutText
    }

    /// The objects in `kubectl ... -o json` output: one object, or the items of a List.
    public static func objects(fromJSONOutput text: String) -> [JSON] {
        guard let doc = try? JSON.parse(text) else { return [] }
        if doc["kind"]?.string == "List" { return doc["items"]?.array ?? [] }
        return doc["kind"] == nil ? [] : [doc]
    }

    /// What a kubectl child needs besides argv: KUBECONFIG when the kubeconfig is a list.
    public var environment: [String: String] { Kubeconfig.kubectlEnvironment(kubeconfig) }

    @discardableResult
    public func run(_ args: [String], stdin: String? = nil, timeout: Duration = .seconds(120)) async throws -> String {
        try await runner.run(Command(argv(args), stdin: stdin.map { Array($0.utf8) }, environment: environment,
                                     timeout: timeout)).stdoutText
    }
}
