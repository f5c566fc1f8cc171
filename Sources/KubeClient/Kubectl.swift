import AphexCore

/// The field managers aphex writes with (server-side apply, and `?fieldManager=` on API writes).
public enum FieldManager {
    /// Release manifests, platform-root, markers, Secrets, the ownership record.
    public static let apply = "aphex"
    /// aphex's partial ConfigMap edits (argocd-cm, ...): a separate manager, so that
    /// re-applying the release manifest (manager "aphex") never drops them and vice versa.
    public static let config = "aphex-config"
    /// The platform namespaces: the Tekton bundle applies the tekton-pipelines Namespace as
    /// "aphex" later, and under server-side apply that would drop a label owned by "aphex".
    public static let namespaces = "aphex-namespaces"
}

/// Builds and runs kubectl invocations for one cluster. Manifests (and so secrets) always
/// travel on stdin; argv only ever holds names, flags and paths.
public struct Kubectl: Sendable {
    public var kubeconfig: String
    public var context: String?
    public var runner: any CommandRunner

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

    /// `kubectl --kubeconfig K [--context C] apply --server-side [--force-conflicts]
    /// --field-manager=M [--validate=false] [--namespace NS] -f - [--dry-run=server] [-o json]`:
    /// server-side apply of a YAML or JSON stream read from stdin (ArgoCD's CRDs exceed the
    /// client-side annotation limit). `forceConflicts`: take over fields another manager owns.
    /// `validate: false`: kubectl skips its OpenAPI check, which costs each kubectl process a
    /// download and parse of every group's OpenAPI document (about 1.2 s of CPU for ArgoCD's
    /// install.yaml, four times the apply itself); the API server then ignores unknown fields
    /// instead of refusing them. Only for digest-verified release manifests. `outputJSON`:
    /// kubectl prints the applied objects as JSON (their uids go into aphex's ownership record).
    public func applyArgv(
        fieldManager: String = FieldManager.apply, forceConflicts: Bool = true,
        validate: Bool = true, namespace: String? = nil, dryRun: Bool = false,
        outputJSON: Bool = false
    ) -> [String] {
        var args = ["apply", "--server-side"]
        if forceConflicts { args.append("--force-conflicts") }
        args.append("--field-manager=\(fieldManager)")
        if !validate { args.append("--validate=false") }
        if let namespace { args += ["--namespace", namespace] }
        args += ["-f", "-"]
        if dryRun { args.append("--dry-run=server") }
        if outputJSON { args += ["-o", "json"] }
        return argv(args)
    }

    /// Server-side apply of `yaml` (stdin), returning kubectl's stdout.
    @discardableResult
    public func apply(
        _ yaml: String, fieldManager: String = FieldManager.apply, dryRun: Bool = false,
        outputJSON: Bool = false, timeout: Duration = .seconds(300)
    ) async throws -> String {
        let argv = applyArgv(fieldManager: fieldManager, dryRun: dryRun, outputJSON: outputJSON)
        return try await runner.run(
            Command(
                argv, stdin: Array(yaml.utf8), environment: environment,
                timeout: timeout)
        ).stdoutText
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
        try await runner.run(
            Command(
                argv(args), stdin: stdin.map { Array($0.utf8) }, environment: environment,
                timeout: timeout)
        ).stdoutText
    }
}
