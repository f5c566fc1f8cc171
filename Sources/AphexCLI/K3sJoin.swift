import ArgumentParser
import Bootstrap
import AphexCore
import KubeClient
import ClusterDrivers
import Foundation

struct K3sJoin: AphexCommand {
    static let configuration = CommandConfiguration(
        commandName: "join",
        abstract: "Join this machine to a k3s server as an agent (a second node); re-runnable.",
        discussion: """
            Runs the same pinned k3s installer as `aphex k3s install`, in agent mode (K3S_URL, \
            K3S_TOKEN), then waits until this machine's node is Ready in the server's API. The \
            token is read from --token-file or stdin, never from the command line, and reaches \
            the installer only through its environment. Already joined to that server: nothing \
            is run. Joined to another server, or this machine is the server: exit 2, nothing changed.

            `aphex bootstrap --deployment k3s` prints the exact command for its server.

            Examples:
              sudo aphex k3s join --server https://192.168.1.10:6443 --token-file /var/lib/rancher/k3s/server/node-token
              ssh server sudo cat /var/lib/rancher/k3s/server/node-token | sudo aphex k3s join --server \
            https://192.168.1.10:6443
              sudo aphex k3s join --server https://192.168.1.10:6443 --token-file token --gpu --node-name gpu-1
            """)

    @OptionGroup var global: GlobalOptions

    @Option(name: .long, help: ArgumentHelp("The k3s server to join, https://HOST:6443.", valueName: "url"))
    var server: String

    @Option(
        name: .long,
        help: ArgumentHelp(
            """
            File holding the server's join token (its /var/lib/rancher/k3s/server/node-token). Without it, the \
            token is read from stdin.
            """,
            valueName: "file"))
    var tokenFile: String?

    @Option(
        name: .long,
        help: ArgumentHelp("Name this machine's node registers as (default: the host name).", valueName: "name"))
    var nodeName: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "k3s version (INSTALL_K3S_VERSION); default: the version pinned by this aphex release, as for the server.",
            valueName: "version"))
    var k3sVersion: String?

    @Flag(
        name: .long,
        help:
            """
            GPU machine: verify nvidia-smi and nvidia-container-runtime and make sure the agent's containerd has \
            the nvidia runtime.
            """
    )
    var gpu = false

    @Option(
        name: .long,
        help: ArgumentHelp("How long to wait for the node to be Ready in the server's API.", valueName: "duration"))
    var timeout: String = "5m"

    @Flag(name: .long, help: "Print what would run, run nothing (the token is not read).")
    var dryRun = false

    func validate() throws {
        try global.rejectEnvOutput(command: "k3s join")
        _ = try validateTimeout(timeout)
        if let problem = K3sJoinSpec.validateServer(server) { throw ValidationError(problem + " Nothing was changed.") }
        try K3sFlags.validateVersion(k3sVersion)
        if let n = nodeName,
            !Validate.isDNS1123Label(n)
                && n.range(of: #"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"#, options: .regularExpression) == nil
        {
            throw ValidationError(
                """
                --node-name '\(n)' is not a valid node name: use lowercase letters, digits, '-' and '.', for \
                example --node-name gpu-1.
                """
            )
        }
        if let f = tokenFile, !FileManager.default.isReadableFile(atPath: (f as NSString).expandingTildeInPath) {
            throw ValidationError(
                """
                --token-file '\(f)' does not exist or is not readable. Copy the server's \
                /var/lib/rancher/k3s/server/node-token to this machine (mode 0600), or pipe the token on stdin \
                instead. Nothing was changed.
                """
            )
        }
        if global.kubeconfig != nil || global.context != nil {
            throw ValidationError(
                "`aphex k3s join` reads the node through the agent's own credentials; drop --kubeconfig/--context.")
        }
        if tokenFile == nil && !dryRun && isatty(0) == 1 {
            throw ValidationError(
                """
                No token: pass --token-file FILE (a copy of the server's /var/lib/rancher/k3s/server/node-token) \
                or pipe the token on stdin. It is never taken from the command line. Nothing was changed.
                """
            )
        }
    }

    /// The token: the file's (or stdin's) first line, without surrounding whitespace.
    func readToken() throws -> String {
        let data: Data
        if let f = tokenFile {
            let path = (f as NSString).expandingTildeInPath
            guard let d = FileManager.default.contents(atPath: path) else {
                throw AphexError.usage("Could not read --token-file '\(f)'. Nothing was changed.")
            }
            if let mode = (try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? Int,
                mode & 0o077 != 0
            {
                FileHandle.standardError.write(
                    Data(
                        """
                        warning: the token file \(f) is readable by other users (mode \
                        \(String(mode & 0o777, radix: 8))); `chmod 600 \(f)`.\n
                        """
                        .utf8))
            }
            data = d
        } else {
            data = FileHandle.standardInput.readDataToEndOfFile()
        }
        let token =
            (String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline).first.map(String.init) ?? "")
            .trimmingCharacters(in: .whitespaces)
        if token.isEmpty {
            throw AphexError.usage(
                """
                The join token is empty (\(tokenFile.map { "file \($0)" } ?? "stdin")). Give the server's \
                /var/lib/rancher/k3s/server/node-token. Nothing was changed.
                """
            )
        }
        if token.contains(where: { $0 == " " || $0 == "\t" }) {
            throw AphexError.usage(
                """
                The join token (\(tokenFile.map { "file \($0)" } ?? "stdin")) contains spaces; a k3s token is one \
                word such as K10...::server:.... Give the server's /var/lib/rancher/k3s/server/node-token. \
                Nothing was changed.
                """
            )
        }
        return token
    }

    func run(_ ctx: AppContext) async throws {
        let spec = K3sJoinSpec(
            server: server, nodeName: nodeName ?? K3sJoinSpec.defaultNodeName(), version: k3sVersion,
            gpu: gpu, timeout: parseDuration(timeout)!)
        let agent = K3sAgent(host: ctx.host, spec: spec)
        if dryRun {
            ctx.output(PlanOutput(title: "k3s join \(spec.server) (node \(spec.nodeName))", plan: agent.plan()))
            return
        }
        let r = try await agent.join(token: try readToken())
        ctx.output(JoinOutput(result: r, nodeName: spec.nodeName))
    }
}

/// `aphex k3s join`'s result: joined (or already joined) as which node.
struct JoinOutput: OutputData {
    var result: K3sAgent.Result
    var nodeName: String

    var description: String {
        let r = result
        if r.outcome == .alreadyJoined {
            return
                """
                This machine is already joined to \(r.server) as node \(r.node?.name ?? nodeName) (Ready); \
                nothing changed.\n
                """
        }
        return
            """
            Joined \(r.server) as node \(r.node?.name ?? nodeName) (Ready) in \
            \(formatDuration(.milliseconds(Int64(r.seconds * 1000)))).\n
            """
                + """
                See it from the server: kubectl get nodes   (remove it: sudo aphex k3s uninstall --yes on this \
                machine, then kubectl delete node \(nodeName) there)\n
                """
    }

    func encode(to encoder: any Encoder) throws { try result.encode(to: encoder) }
}
