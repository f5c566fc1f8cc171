import AphexCore
import KubeClient
import Foundation

/// The k3s installer the simulated "get.k3s.io" serves (GET /_sim/k3s-install.sh).
public enum K3sInstaller {
    public static let script = """
        #!/bin/sh
        # aphex-sim stand-in for https://get.k3s.io: honours INSTALL_K3S_VERSION, INSTALL_K3S_EXEC,
        # INSTALL_K3S_SKIP_START and arguments after `-s -`, like the real installer.
        set -e
        if [ -z "$APHEX_SIM_STATE" ]; then
            echo "[ERROR]  APHEX_SIM_STATE is not set: this installer only works against aphex-sim" >&2
            exit 1
        fi
        exec "$APHEX_SIM_STATE/bin/aphex-sim" k3s-install "$@"

        """
    /// Marker the in-process runner recognises in `sh` stdin.
    static let marker = "aphex-sim\" k3s-install"
}

/// kind, k3s, systemctl, docker, nvidia-smi, nvidia-container-runtime, nvidia-ctk against the world.
struct HostTools {
    let world: SimWorld
    let api: SimAPI
    let env: ToolEnv

    static let kindVersion = "kind v0.27.0 go1.23.6 linux/amd64"
    static let defaultNodeImage =
        "kindest/node:v1.32.2@sha256:f226345927d7e348497136874b6d207e0b32cc52154ad8323129352923a3142f"

    // MARK: kind

    func kind(_ argv: [String], stdin: [UInt8]?) -> ToolResult {
        let args = Array(argv.dropFirst())
        let common: [String: Bool] = ["verbosity": true, "quiet": false, "help": false]
        let commonShort: [Character: String] = ["v": "verbosity", "q": "quiet", "h": "help"]
        guard let c1 = args.first(where: { !$0.hasPrefix("-") }) else {
            return .fail("ERROR: a subcommand is required (create, delete, get, export, load, version)")
        }
        if c1 == "version" {
            do {
                _ = try Flags.parse(
                    Array(args.dropFirst()), spec: common, short: commonShort, tool: "kind", command: "version")
            } catch let e as ToolError { return e.result } catch {}
            return ToolResult(stdout: Self.kindVersion + "\n")
        }
        guard args.count >= 2 else { return .fail("ERROR: subcommand is required") }
        let sub = "\(args[0]) \(args[1])"
        var spec = common
        var short = commonShort
        switch sub {
        case "create cluster":
            spec.merge(["name": true, "config": true, "image": true, "retain": false, "wait": true, "kubeconfig": true])
            { a, _ in a }
            short["n"] = "name"
        case "delete cluster":
            spec.merge(["name": true, "kubeconfig": true]) { a, _ in a }
            short["n"] = "name"
        case "get clusters": break
        case "get nodes":
            spec.merge(["name": true, "all-clusters": false]) { a, _ in a }
            short["n"] = "name"
            short["A"] = "all-clusters"
        case "get kubeconfig":
            spec.merge(["name": true, "internal": false]) { a, _ in a }
            short["n"] = "name"
        case "export kubeconfig":
            spec.merge(["name": true, "kubeconfig": true, "internal": false]) { a, _ in a }
            short["n"] = "name"
        default:
            return .fail("ERROR: unknown command \"\(args[1])\" for \"kind \(args[0])\"")
        }
        let flags: Flags
        do {
            flags = try Flags.parse(Array(args.dropFirst(2)), spec: spec, short: short, tool: "kind", command: sub)
        } catch let e as ToolError { return e.result } catch { return .fail("ERROR: \(error)") }
        if !flags.positionals.isEmpty && sub != "create cluster" {
            return .fail("ERROR: unknown command \"\(flags.positionals[0])\" for \"kind \(sub)\"")
        }
        let name = flags.value("name") ?? "kind"
        guard world.scenario.host.docker else {
            return .fail(
                """
                ERROR: failed to \(sub == "create cluster" ? "create cluster" : "list clusters"): failed to list \
                nodes: command \"docker ps -a --filter label=io.x-k8s.kind.cluster --format '{{.Label \
                \"io.x-k8s.kind.cluster\"}}'\" failed with error: exit status 1\nCommand Output: Cannot connect \
                to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?
                """
            )
        }
        world.lock.lock()
        defer { world.lock.unlock() }
        switch sub {
        case "create cluster":
            if world.kindClusters[name] != nil {
                return .fail(
                    "ERROR: failed to create cluster: node(s) already exist for a cluster with the name \"\(name)\"")
            }
            if !Validate.isDNS1123Label(name) {
                return .fail(
                    """
                    ERROR: failed to create cluster: '\(name)' is not a valid cluster name, cluster names must \
                    match `^[a-z0-9.-]+$`
                    """
                )
            }
            var config = ""
            if let c = flags.value("config") {
                if c == "-" {
                    config = String(decoding: stdin ?? [], as: UTF8.self)
                } else if let t = try? String(contentsOfFile: env.resolve(c), encoding: .utf8) {
                    config = t
                } else {
                    return .fail(
                        "ERROR: failed to create cluster: error reading file: open \(c): no such file or directory")
                }
                guard let doc = try? SimJSON.documents(config).first, doc.kind == "Cluster",
                    doc.apiVersion?.hasPrefix("kind.x-k8s.io/") == true
                else {
                    return .fail(
                        """
                        ERROR: failed to create cluster: unable to decode config: missing or wrong \
                        kind/apiVersion (want kind: Cluster, apiVersion: kind.x-k8s.io/v1alpha4)
                        """
                    )
                }
            }
            let image = flags.value("image") ?? Self.defaultNodeImage
            var err =
                """
                Creating cluster \"\(name)\" ...\n ✓ Ensuring node image (\(image.split(separator: "@")[0])) 🖼\n \
                ✓ Preparing nodes 📦 \n
                """
            if world.scenario.cluster.createFails {
                err +=
                    """
                     ✗ Starting control-plane 🕹️\nDeleted nodes: [\"\(name)-control-plane\"]\nERROR: failed to \
                    create cluster: failed to init node with kubeadm: command \"docker exec --privileged \
                    \(name)-control-plane kubeadm init --skip-phases=preflight --config=/kind/kubeadm.conf \
                    --skip-token-print --v=6\" failed with error: exit status 1\n
                    """
                if flags.bool("retain") {
                    world.kindClusters[name] = SimWorld.KindCluster(
                        name: name, image: image, broken: true, config: config, createdAt: world.now)
                }
                return ToolResult(status: 1, stderr: err)
            }
            let wasUp = world.clusterUp
            world.kindClusters[name] = SimWorld.KindCluster(
                name: name, image: image, broken: world.scenario.cluster.broken, config: config, createdAt: world.now)
            if !wasUp && world.clusterUp { world.bootstrapClusterObjects(flavor: "kind", name: name) }
            err +=
                """
                 ✓ Writing configuration 📜\n ✓ Starting control-plane 🕹️\n \
                ✓ Installing CNI 🔌\n ✓ Installing \
                StorageClass 💾\n
                """
            if let w = flags.value("wait"), parseDuration(w) != nil {
                err += " ✓ Waiting ≤ \(w) for control-plane = Ready ⏳\n • Ready after 12s 💚\n"
            }
            err +=
                """
                Set kubectl context to \"kind-\(name)\"\nYou can now use your cluster with:\n\nkubectl \
                cluster-info --context kind-\(name)\n\nHave a nice day! 👋\n
                """
            var r = ToolResult(stderr: err)
            r.writes = [writeKubeconfig(flags.value("kubeconfig"), name: name)]
            return r
        case "delete cluster":
            var err = "Deleting cluster \"\(name)\" ...\n"
            if world.kindClusters.removeValue(forKey: name) != nil {
                err += "Deleted nodes: [\"\(name)-control-plane\"]\n"
                if !world.clusterUp { world.wipe() }
                let path = env.kubeconfigPath(flags.value("kubeconfig"))
                var r = ToolResult(stderr: err)
                if let text = try? String(contentsOfFile: path, encoding: .utf8),
                    let kc = try? SimJSON.documents(text).first
                {
                    r.writes = [
                        .init(
                            path: path, content: yamlText(removeFromKubeconfig(kc, name: "kind-\(name)")), mode: 0o600)
                    ]
                }
                return r
            }
            return ToolResult(stderr: err)
        case "get clusters":
            let names = world.kindClusters.keys.sorted()
            if names.isEmpty { return ToolResult(stderr: "No kind clusters found.\n") }
            return ToolResult(stdout: names.map { $0 + "\n" }.joined())
        case "get nodes":
            guard world.kindClusters[name] != nil else {
                return ToolResult(stderr: "No kind nodes found for cluster \"\(name)\".\n")
            }
            return ToolResult(stdout: "\(name)-control-plane\n")
        case "get kubeconfig":
            guard world.kindClusters[name] != nil else {
                return .fail(
                    """
                    ERROR: could not locate any control plane nodes for cluster named '\(name)'. Use the --name \
                    option to select a different cluster
                    """
                )
            }
            return ToolResult(stdout: yamlText(simKubeconfig(server: env.serverURL, contextName: "kind-\(name)")))
        case "export kubeconfig":
            guard world.kindClusters[name] != nil else {
                return .fail(
                    """
                    ERROR: could not locate any control plane nodes for cluster named '\(name)'. Use the --name \
                    option to select a different cluster
                    """
                )
            }
            var r = ToolResult(stderr: "Set kubectl context to \"kind-\(name)\"\n")
            r.writes = [writeKubeconfig(flags.value("kubeconfig"), name: name)]
            return r
        default:
            return .fail("ERROR: unknown command \(sub)")
        }
    }

    func writeKubeconfig(_ flag: String?, name: String) -> ToolResult.FileWrite {
        let path = env.kubeconfigPath(flag)
        let existing = (try? String(contentsOfFile: path, encoding: .utf8)).flatMap { try? SimJSON.documents($0).first }
        let merged = mergeKubeconfig(existing, simKubeconfig(server: env.serverURL, contextName: "kind-\(name)"))
        return .init(path: path, content: yamlText(merged), mode: 0o600)
    }

    // MARK: k3s

    func k3s(_ argv: [String], stdin: [UInt8]?) async -> ToolResult {
        let args = Array(argv.dropFirst())
        if args.first == "--version" || args.first == "-v" || args.first == "version" {
            return ToolResult(
                stdout:
                    """
                    k3s version \(world.k3sVersionInstalled ?? world.scenario.cluster.k3sVersion) (a1b2c3d4)\ngo \
                    version go1.22.9\n
                    """
            )
        }
        switch args.first {
        case "check-config"?:
            return ToolResult(
                stdout: """
                    Verifying binaries in /var/lib/rancher/k3s/data/current/bin:
                    - sha256sum: good
                    - links: good

                    System:
                    - /usr/sbin iptables v1.8.9 (nf_tables): ok
                    - swap: disabled
                    - routes: ok

                    Limits:
                    - /proc/sys/kernel/keys/root_maxkeys: 1000000

                    info: reading kernel config from /proc/config.gz ...

                    Generally Necessary:
                    - cgroup hierarchy: cgroups V2 mounted, cpu|cpuset|memory controllers status: good
                    - CONFIG_NAMESPACES: enabled
                    - CONFIG_NET_NS: enabled

                    STATUS: pass

                    """)
        case "server"?, "agent"?:
            return .fail("aphex-sim: `k3s \(args[0])` runs under systemd in the simulator; use systemctl")
        default:
            return .fail(
                """
                Incorrect Usage: flag provided but not defined: -\(args.first ?? "")\n\nNAME:\n   k3s - \
                Kubernetes, but small and simple
                """
            )
        }
    }

    /// What the installer does: marks k3s installed and active, writes the kubeconfig and the
    /// uninstall script under APHEX_HOST_ROOT, links `k3s` into the stand-ins' bin dir.
    func k3sInstall(_ args: [String]) -> ToolResult {
        if env.uid != 0 {
            return .fail("[ERROR]  You need to be root to perform this install")
        }
        if let url = env.environment["K3S_URL"], !url.isEmpty {
            return k3sAgentInstall(url: url)
        }
        let version = env.environment["INSTALL_K3S_VERSION"] ?? world.scenario.cluster.k3sVersion
        let exec = ([env.environment["INSTALL_K3S_EXEC"] ?? ""] + args.filter { $0 != "-" && $0 != "-s" }).filter {
            !$0.isEmpty
        }.joined(separator: " ")
        world.lock.lock()
        let wasUp = world.clusterUp
        world.k3sInstalled = true
        world.k3sActive = env.environment["INSTALL_K3S_SKIP_START"] != "true"
        world.k3sVersionInstalled = version
        world.k3sExec = exec
        if world.k3sToken == nil {
            func hex() -> String { UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased() }
            world.k3sToken = "K10" + hex() + hex() + "::server:" + hex()
        }
        let token = world.k3sToken!
        if !wasUp && world.clusterUp { world.bootstrapClusterObjects(flavor: "k3s", name: "k3s") }
        world.lock.unlock()
        let root = env.hostRoot
        var out =
            """
            [INFO]  Using \(version) as release\n[INFO]  Downloading hash \
            https://github.com/k3s-io/k3s/releases/download/\(version)/sha256sum-amd64.txt\n
            """
        out +=
            """
            [INFO]  Downloading binary https://github.com/k3s-io/k3s/releases/download/\(version)/k3s\n[INFO]  \
            Verifying binary download\n
            """
        out += "[INFO]  Installing k3s to /usr/local/bin/k3s\n[INFO]  Creating /usr/local/bin/kubectl symlink to k3s\n"
        out +=
            """
            [INFO]  Creating killall script /usr/local/bin/k3s-killall.sh\n[INFO]  Creating uninstall script \
            /usr/local/bin/k3s-uninstall.sh\n
            """
        out +=
            """
            [INFO]  env: Creating environment file /etc/systemd/system/k3s.service.env\n[INFO]  systemd: Creating \
            service file /etc/systemd/system/k3s.service\n
            """
        out += "[INFO]  systemd: Enabling k3s unit\n[INFO]  systemd: Starting k3s\n"
        var kc = simKubeconfig(server: env.serverURL, contextName: "default")
        kc["clusters"] = [["name": "default", "cluster": ["server": .string(env.serverURL)]]]
        kc["users"] = [["name": "default", "user": ["token": "aphex-sim-token"]]]
        kc["contexts"] = [["name": "default", "context": ["cluster": "default", "user": "default"]]]
        var r = ToolResult(stdout: out)
        r.writes = [
            .init(path: root + "/etc/rancher/k3s/k3s.yaml", content: yamlText(kc), mode: 0o600),
            .init(path: root + "/var/lib/rancher/k3s/server/node-token", content: token + "\n", mode: 0o600),
            .init(
                path: root + "/usr/local/bin/k3s-uninstall.sh",
                content: """
                    #!/bin/sh
                    # aphex-sim stand-in for k3s-uninstall.sh
                    set -e
                    exec "$APHEX_SIM_STATE/bin/aphex-sim" k3s-uninstall "$@"

                    """, mode: 0o755)
        ]
        if let bin = env.binDir {
            r.writes.append(.init(path: bin + "/k3s", content: bin + "/aphex-sim", mode: 0o755, symlink: true))
        }
        return r
    }

    /// The installer in agent mode (K3S_URL set): installs and starts k3s-agent. The agent
    /// registers its Node only when K3S_URL is the simulated server's and K3S_TOKEN its token
    /// (as a real agent, which otherwise retries forever without registering).
    func k3sAgentInstall(url: String) -> ToolResult {
        let version = env.environment["INSTALL_K3S_VERSION"] ?? world.scenario.cluster.k3sVersion
        guard let token = env.environment["K3S_TOKEN"], !token.isEmpty else {
            return .fail(
                """
                [ERROR]  Defaulted k3s exec command to 'agent' because K3S_URL is defined, but K3S_TOKEN, \
                K3S_TOKEN_FILE or K3S_CLUSTER_SECRET is not defined.
                """
            )
        }
        let exec = env.environment["INSTALL_K3S_EXEC"] ?? "agent"
        guard exec.split(separator: " ").first == "agent" else {
            return .fail("[ERROR]  aphex-sim: with K3S_URL the installer runs `k3s agent` (INSTALL_K3S_EXEC=\(exec))")
        }
        let node = env.environment["K3S_NODE_NAME"] ?? "aphex-agent"
        let root = env.hostRoot
        world.lock.lock()
        let accepted = world.k3sInstalled && world.k3sActive && url == SimWorld.k3sServerURL && token == world.k3sToken
        if accepted, world.k3sAgents[root]?.registered != true {
            world.registerAgentNode(node, gpu: world.scenario.host.gpu == "present")
        }
        world.k3sAgents[root] = .init(server: url, node: node, registered: accepted, active: true)
        world.lock.unlock()
        var out =
            """
            [INFO]  Using \(version) as release\n[INFO]  Downloading binary \
            https://github.com/k3s-io/k3s/releases/download/\(version)/k3s\n
            """
        out +=
            """
            [INFO]  Installing k3s to /usr/local/bin/k3s\n[INFO]  Creating uninstall script \
            /usr/local/bin/k3s-agent-uninstall.sh\n
            """
        out +=
            """
            [INFO]  env: Creating environment file /etc/systemd/system/k3s-agent.service.env\n[INFO]  systemd: \
            Creating service file /etc/systemd/system/k3s-agent.service\n
            """
        out += "[INFO]  systemd: Enabling k3s-agent unit\n[INFO]  systemd: Starting k3s-agent\n"
        var r = ToolResult(stdout: out)
        // As the real installer: every K3S_ variable into the service's env file, umask 0177.
        let envFile = env.environment.filter { $0.key.hasPrefix("K3S_") }.sorted { $0.key < $1.key }.map {
            "\($0.key)='\($0.value)'\n"
        }.joined()
        r.writes = [
            .init(path: root + "/etc/systemd/system/k3s-agent.service.env", content: envFile, mode: 0o600),
            .init(
                path: root + "/etc/systemd/system/k3s-agent.service",
                content:
                    """
                    [Service]\nType=notify\nEnvironmentFile=-/etc/systemd/system/k3s-agent.service.env\n\
                    ExecStart=/usr/local/bin/k3s \
                    agent\n
                    """,
                mode: 0o644),
            .init(
                path: root + "/usr/local/bin/k3s-agent-uninstall.sh",
                content: """
                    #!/bin/sh
                    # aphex-sim stand-in for k3s-agent-uninstall.sh
                    set -e
                    exec "$APHEX_SIM_STATE/bin/aphex-sim" k3s-agent-uninstall "$@"

                    """, mode: 0o755)
        ]
        if accepted {
            // The agent got its kubelet credentials from the server: a kubeconfig for the API.
            var kc = simKubeconfig(server: env.serverURL, contextName: "default")
            kc["clusters"] = [["name": "default", "cluster": ["server": .string(env.serverURL)]]]
            kc["users"] = [["name": "default", "user": ["token": .string("aphex-sim-node-\(node)")]]]
            kc["contexts"] = [["name": "default", "context": ["cluster": "default", "user": "default"]]]
            r.writes.append(
                .init(path: root + "/var/lib/rancher/k3s/agent/kubelet.kubeconfig", content: yamlText(kc), mode: 0o600))
            if world.scenario.host.gpu == "present" {
                r.writes.append(
                    .init(
                        path: root + "/var/lib/rancher/k3s/agent/etc/containerd/config.toml",
                        content:
                            """
                            version = \
                            2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.\"nvidia\"]\n  \
                            runtime_type = \"io.containerd.runc.v2\"\n
                            """,
                        mode: 0o600))
            }
        }
        return r
    }

    func k3sAgentUninstall() -> ToolResult {
        if env.uid != 0 { return .fail("[ERROR]  You need to be root to perform this uninstall") }
        let root = env.hostRoot
        world.lock.lock()
        if let a = world.k3sAgents.removeValue(forKey: root), a.registered { world.stopAgentNode(a.node) }
        world.lock.unlock()
        var r = ToolResult(
            stdout:
                """
                + systemctl stop k3s-agent\n+ systemctl disable k3s-agent\n+ rm -rf /var/lib/rancher/k3s\n+ rm -f \
                /usr/local/bin/k3s\n
                """
        )
        r.removes = [
            "/etc/systemd/system/k3s-agent.service.env", "/etc/systemd/system/k3s-agent.service",
            "/usr/local/bin/k3s-agent-uninstall.sh",
            "/var/lib/rancher/k3s/agent/kubelet.kubeconfig", "/var/lib/rancher/k3s/agent/etc/containerd/config.toml"
        ].map { root + $0 }
        return r
    }

    func k3sUninstall() -> ToolResult {
        if env.uid != 0 { return .fail("[ERROR]  You need to be root to perform this uninstall") }
        world.lock.lock()
        world.k3sInstalled = false
        world.k3sActive = false
        world.k3sVersionInstalled = nil
        if !world.clusterUp { world.wipe() }
        world.lock.unlock()
        var r = ToolResult(
            stdout:
                "+ systemctl stop k3s\n+ systemctl disable k3s\n+ rm -rf /etc/rancher/k3s\n+ rm -f /usr/local/bin/k3s\n"
        )
        r.removes = [env.hostRoot + "/etc/rancher/k3s/k3s.yaml", env.hostRoot + "/usr/local/bin/k3s-uninstall.sh"]
        if let bin = env.binDir { r.removes.append(bin + "/k3s") }
        return r
    }

    // MARK: systemctl / docker / nvidia

    func systemctl(_ argv: [String]) -> ToolResult {
        let flags: Flags
        do {
            flags = try Flags.parse(
                Array(argv.dropFirst()), spec: ["quiet": false, "no-pager": false, "now": false],
                short: ["q": "quiet"], tool: "systemctl", command: "")
        } catch let e as ToolError { return e.result } catch { return .fail("\(error)") }
        let pos = flags.positionals
        guard pos.count >= 2 else { return .fail("Too few arguments.") }
        let unit = pos[1].replacingOccurrences(of: ".service", with: "")
        world.lock.lock()
        defer { world.lock.unlock() }
        if unit == "k3s-agent" {
            let agent = world.k3sAgents[env.hostRoot]
            switch pos[0] {
            case "is-active":
                let active = agent?.active == true
                return ToolResult(
                    status: active ? 0 : 3,
                    stdout: flags.bool("quiet")
                        ? "" : (active ? (agent!.registered ? "active\n" : "activating\n") : "inactive\n"))
            case "restart", "start":
                guard agent != nil else {
                    return .fail("Failed to \(pos[0]) k3s-agent.service: Unit k3s-agent.service not found.", status: 5)
                }
                world.k3sAgents[env.hostRoot]?.active = true
                return ToolResult()
            case "stop":
                world.k3sAgents[env.hostRoot]?.active = false
                return ToolResult()
            default:
                return ToolResult()
            }
        }
        let installed = unit == "k3s" && world.k3sInstalled
        switch pos[0] {
        case "is-active":
            let active = installed && world.k3sActive
            return ToolResult(
                status: active ? 0 : 3, stdout: flags.bool("quiet") ? "" : (active ? "active\n" : "inactive\n"))
        case "is-enabled":
            return ToolResult(
                status: installed ? 0 : 1, stdout: flags.bool("quiet") ? "" : (installed ? "enabled\n" : "disabled\n"))
        case "restart", "start":
            guard installed else {
                return .fail("Failed to \(pos[0]) \(unit).service: Unit \(unit).service not found.", status: 5)
            }
            world.k3sActive = true
            return ToolResult()
        case "stop":
            guard installed else {
                return .fail("Failed to stop \(unit).service: Unit \(unit).service not loaded.", status: 5)
            }
            world.k3sActive = false
            return ToolResult()
        case "status":
            guard installed else { return .fail("Unit \(unit).service could not be found.", status: 4) }
            return ToolResult(
                status: world.k3sActive ? 0 : 3,
                stdout:
                    """
                    ● k3s.service - Lightweight Kubernetes\n     Loaded: loaded (/etc/systemd/system/k3s.service; \
                    enabled)\n     Active: \(world.k3sActive ? "active (running)" : "inactive (dead)")\n
                    """
            )
        case "daemon-reload", "enable", "disable":
            return ToolResult()
        default:
            return .fail("Unknown command verb \(pos[0]).")
        }
    }

    func docker(_ argv: [String]) -> ToolResult {
        let flags: Flags
        do {
            flags = try Flags.parse(
                Array(argv.dropFirst()), spec: ["format": true], short: ["f": "format"], tool: "docker", command: "")
        } catch let e as ToolError { return e.result } catch { return .fail("\(error)") }
        guard let sub = flags.positionals.first else { return .fail("Usage:  docker [OPTIONS] COMMAND") }
        guard ["info", "version"].contains(sub) else { return .fail("aphex-sim: `docker \(sub)` is not simulated") }
        if !world.scenario.host.docker {
            let msg =
                "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
            if sub == "version" {
                return ToolResult(status: 1, stdout: "Client:\n Version:           27.5.1\n", stderr: msg + "\n")
            }
            return ToolResult(
                status: 1, stdout: "Client:\n Version:    27.5.1\n Context:    default\n\nServer:\n",
                stderr: "ERROR: \(msg)\nerrors pretty printing info\n")
        }
        if let f = flags.value("format") {
            if f.contains(".ServerVersion") || f.contains(".Server.Version") { return ToolResult(stdout: "27.5.1\n") }
            if f.contains("json") {
                return ToolResult(
                    stdout:
                        #"""
                        {"ServerVersion":"27.5.1","OperatingSystem":"Debian GNU/Linux 12 \#
                        (bookworm)","CgroupVersion":"2"}
                        """#
                            + "\n")
            }
            return ToolResult(stdout: "27.5.1\n")
        }
        if sub == "version" {
            return ToolResult(
                stdout:
                    """
                    Client:\n Version:           27.5.1\n\nServer: Docker Engine - Community\n Engine:\n  \
                    Version:          27.5.1\n
                    """
            )
        }
        return ToolResult(
            stdout:
                """
                Client:\n Version:    27.5.1\n\nServer:\n Server Version: 27.5.1\n Storage Driver: overlay2\n \
                Cgroup Driver: systemd\n Cgroup Version: 2\n
                """
        )
    }

    func nvidia(_ argv: [String]) -> ToolResult {
        let tool = (argv[0] as NSString).lastPathComponent
        let gpu = world.scenario.host.gpu
        if gpu == "none" { return .fail("\(tool): command not found", status: 127) }
        switch tool {
        case "nvidia-smi":
            if gpu == "broken" {
                return ToolResult(
                    status: 9,
                    stdout:
                        """
                        NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure \
                        that the latest NVIDIA driver is installed and running.\n
                        """
                )
            }
            if argv.contains(where: { $0.hasPrefix("--query-gpu") }) {
                return ToolResult(stdout: "NVIDIA GeForce RTX 4090, 550.120\n")
            }
            return ToolResult(
                stdout:
                    """
                    +-----------------------------------------------------------------------------------------+\n| \
                    NVIDIA-SMI 550.120                Driver Version: 550.120        CUDA Version: 12.4     \
                    |\n|   0  NVIDIA GeForce RTX 4090        Off |   00000000:01:00.0 Off |                  Off \
                    |\n+-----------------------------------------------------------------------------------------+\n
                    """
            )
        case "nvidia-container-runtime":
            return ToolResult(
                stdout:
                    "NVIDIA Container Runtime version 1.17.3\ncommit: 4b7fe9bb\nspec: 1.2.0\n\nrunc version 1.1.12\n")
        case "nvidia-ctk":
            let flags: Flags
            do {
                flags = try Flags.parse(
                    Array(argv.dropFirst()),
                    spec: ["runtime": true, "config": true, "set-as-default": false, "version": false],
                    short: [:], tool: "nvidia-ctk", command: "")
            } catch let e as ToolError { return e.result } catch { return .fail("\(error)") }
            if flags.bool("version") { return ToolResult(stdout: "NVIDIA Container Toolkit CLI version 1.17.3\n") }
            guard flags.positionals == ["runtime", "configure"] else {
                return .fail("aphex-sim: only `nvidia-ctk runtime configure` is simulated")
            }
            return ToolResult(
                stderr: "INFO[0000] Wrote updated config to \(flags.value("config") ?? "/etc/containerd/config.toml")\n"
            )
        default:
            return .fail("\(tool): command not found", status: 127)
        }
    }
}
