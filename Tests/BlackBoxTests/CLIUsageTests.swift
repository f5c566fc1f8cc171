import AphexCore
import KubeClient
import Foundation
import Testing

/// The built `aphex` binary, run as a user or CI would (no simulator needed for usage errors).
enum BuiltAphex {
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static var binDir: String {
        if let dir = ProcessInfo.processInfo.environment["APHEX_BIN_DIR"], !dir.isEmpty { return dir }
        return packageRoot.appendingPathComponent(".build/debug").path
    }

    static var path: String { binDir + "/aphex" }

    /// Runs aphex with a clean HOME and no KUBECONFIG, so nothing on this machine leaks in.
    static func run(_ args: [String], env extra: [String: String] = [:], home: String? = nil) async throws
        -> CommandOutput
    {
        var env: [String: String] = [
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": home
                ?? FileManager.default.temporaryDirectory
                .appendingPathComponent("aphex-home-\(UUID().uuidString)").path,
            "NO_COLOR": "1",
            "KUBECONFIG": ""
        ]
        for (k, v) in extra { env[k] = v }
        // env -i: the child sees exactly `env`
        let argv =
            ["/usr/bin/env", "-i"] + env.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" } + [path] + args
        return try await SubprocessRunner().run(Command(argv, timeout: .seconds(60), checkExit: false))
    }
}

@Suite struct CLIUsageTests {
    static let existingFile: String = {
        let p = FileManager.default.temporaryDirectory.appendingPathComponent("aphex-existing-\(UUID().uuidString)")
            .path
        FileManager.default.createFile(atPath: p, contents: Data("x".utf8))
        return p
    }()

    /// (arguments, a phrase the error must contain)
    static let badInvocations: [([String], String)] = [
        (["bootstrap"], "--deployment"),
        (["bootstrap", "--deployment", "minikube"], "'minikube' is invalid for '--deployment"),
        (["bootstrap", "--deployment", "kind", "--cluster-name", "Platform_Cluster"], "not a valid cluster name"),
        (["bootstrap", "--deployment", "kind", "--cluster-name=-lead"], "not a valid cluster name"),
        (
            ["bootstrap", "--deployment", "kind", "--cluster-name", String(repeating: "a", count: 64)],
            "at most 63 characters"
        ),
        (["bootstrap", "--deployment", "kind", "--timeout", "5x"], "not a valid --timeout"),
        (["bootstrap", "--deployment", "kind", "--timeout", "0s"], "not a valid --timeout"),
        (["bootstrap", "--deployment", "kind", "--timeout", "48h"], "longer than 24h"),
        (["bootstrap", "--deployment", "kind", "--no-wait", "--timeout", "10m"], "mutually exclusive"),
        (["bootstrap", "--deployment", "kind", "--output", "yaml"], "'yaml' is invalid for '--output"),
        (["bootstrap", "--deployment", "kind", "--output", "env"], "only supported by `aphex show-secrets`"),
        (["bootstrap", "--deployment", "kind", "--kubeconfig", "/nonexistent/kubeconfig"], "does not exist"),
        (["bootstrap", "--deployment", "kind", "--kubeconfig", existingFile], "add --use-existing"),
        (["bootstrap", "--deployment", "k3s", "--workers", "2"], "do not apply to --deployment k3s"),
        (["bootstrap", "--deployment", "kind", "--gpu"], "do not apply to --deployment kind"),
        (
            ["bootstrap", "--deployment", "kind", "--use-existing", "--node-image", "kindest/node:v1.32.2"],
            "no cluster is created"
        ),
        (["bootstrap", "--deployment", "kind", "--workers", "11"], "--workers 11 is out of range"),
        (["bootstrap", "--deployment", "kind", "--registry-mirror", "docker.io"], "not of the form host=url"),
        (["bootstrap", "--deployment", "kind", "--repo-url", "not a url"], "not a Git repository URL"),
        (["bootstrap", "--deployment", "kind", "--revision", ""], "--revision needs"),
        (["bootstrap", "--deployment", "kind", "--path", "/abs/path"], "relative path"),
        (["bootstrap", "--deployment", "kind", "--secrets-from", "/nonexistent/secrets.json"], "aphex secrets export"),
        (["bootstrap", "--deployment", "kind", "--argocd-version", "latest"], "not a release version"),
        (["bootstrap", "--deployment", "kind", "--manifests-dir", "/nonexistent/dir"], "is not a directory"),
        (["bootstrap", "--deployment", "kind", "--no-oidc", "--oidc-issuer", "https://x"], "mutually exclusive"),
        (["bootstrap", "--deployment", "k3s", "--k3s-version", "1.31"], "not a k3s release name"),
        (["bootstrap", "--deployment", "kind", "--unknown-flag"], "Unknown option '--unknown-flag'"),
        (["status", "--interval", "0"], "--interval 0 is out of range"),
        (["status", "--wave", "10", "--app", "auth"], "mutually exclusive"),
        (["status", "--context", " "], "--context needs a context name"),
        (["wait", "--timeout", "soon"], "not a valid --timeout"),
        (["doctor", "--deployment", "docker"], "'docker' is invalid for '--deployment"),
        (["destroy", "--kubeconfig", existingFile], "add --use-existing"),
        (["destroy", "--remove-finalizers"], "--remove-finalizers applies to --use-existing"),
        (["destroy", "--use-existing", "--force"], "Drop one of them"),
        (["destroy", "--use-existing", "--timeout", "soon"], "not a valid --timeout"),
        (["secrets", "export", "--file", existingFile], "already exists"),
        (["kind", "create", "--kubeconfig", existingFile], "writes its own kubeconfig"),
        (["kind", "create", "--timeout", "forever"], "not a valid --timeout"),
        (["frobnicate"], "Unexpected argument 'frobnicate'")
    ]

    @Test(arguments: badInvocations)
    func badInvocationExitsTwoWithTheFix(args: [String], phrase: String) async throws {
        let out = try await BuiltAphex.run(args)
        #expect(out.status == 2, "aphex \(args.joined(separator: " ")) exited \(out.status): \(out.stderrText)")
        #expect(
            out.stderrText.contains(phrase),
            "stderr of aphex \(args.joined(separator: " ")) lacks '\(phrase)': \(out.stderrText)")
        #expect(out.stdoutText.isEmpty, "usage errors print nothing on stdout")
    }

    @Test func atLeastTwentyBadInvocationsAreCovered() {
        #expect(Self.badInvocations.count >= 20)
    }

    @Test func everySubcommandHasCompleteHelp() async throws {
        let commands: [[String]] = [
            [], ["bootstrap"], ["status"], ["wait"], ["show-secrets"], ["secrets", "export"],
            ["secrets", "repair"], ["doctor"], ["destroy"], ["kind", "create"], ["kind", "delete"],
            ["kind", "list"], ["k3s", "install"], ["k3s", "uninstall"], ["k3s", "status"],
            ["manifests", "pin"], ["version"]
        ]
        for cmd in commands {
            let out = try await BuiltAphex.run(cmd + ["--help"])
            #expect(out.status == 0, "\(cmd) --help exited \(out.status)")
            #expect(out.stdoutText.contains("OVERVIEW:"), "\(cmd) help lacks an overview")
            #expect(out.stdoutText.contains("USAGE:"))
            if !cmd.isEmpty && !["kind", "k3s", "secrets", "manifests"].contains(cmd.first!) || cmd.count == 2 {
                #expect(out.stdoutText.contains("aphex "), "\(cmd) help shows no example")
            }
        }
        let root = try await BuiltAphex.run(["--help"])
        for code in ["0 ", "1 ", "2 ", "3 ", "4 ", "130"] {
            #expect(root.stdoutText.contains("  \(code)"), "exit code \(code) not in --help")
        }
        let bootstrap = try await BuiltAphex.run(["bootstrap", "--help"])
        for flag in [
            "--deployment", "--cluster-name", "--use-existing", "--show-secrets", "--repo-url", "--revision",
            "--timeout", "--no-wait", "--dry-run", "--kubeconfig", "--context", "--output", "--no-color", "--verbose"
        ] {
            #expect(bootstrap.stdoutText.contains(flag), "bootstrap --help lacks \(flag)")
        }
    }

    @Test func completionScriptAndVersion() async throws {
        let bash = try await BuiltAphex.run(["--generate-completion-script", "bash"])
        #expect(bash.status == 0)
        #expect(bash.stdoutText.contains("complete") && bash.stdoutText.contains("aphex"))
        let version = try await BuiltAphex.run(["version", "--output", "json"])
        #expect(version.status == 0)
        let json = try JSON.parse(version.stdout)
        #expect(json["components"]?["argocd"] == "v3.3.0")
    }
}
