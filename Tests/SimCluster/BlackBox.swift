import AphexCore
import KubeClient
import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// `aphex-sim serve` and the stand-in executables (the binary dispatches on argv[0]).
public enum SimServe {
    public static let standIns = [
        "kubectl", "kind", "systemctl", "docker", "nvidia-smi", "nvidia-container-runtime", "nvidia-ctk"
    ]

    /// Starts the world and the loopback server, writes DIR/port, DIR/control-port,
    /// DIR/kubeconfig and DIR/bin/*, then blocks forever.
    public static func serve(scenario: Scenario, stateDir: String, port: UInt16, executable: String) throws -> Never {
        // A parent (a test runner thread) may have blocked signals: make SIGTERM/SIGINT work.
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGHUP)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        signal(SIGTERM, SIG_DFL)
        signal(SIGINT, SIG_DFL)
        signal(SIGPIPE, SIG_IGN)
        let fm = FileManager.default
        try fm.createDirectory(atPath: stateDir + "/bin", withIntermediateDirectories: true)
        let world = SimWorld(scenario: scenario, clock: SystemClock())
        world.readCoalescing = .milliseconds(5)
        let api = SimAPI(world: world)
        let server = SimAPIServer(api: api)
        // A cluster that does not exist yet still needs its port reserved: bind first.
        try server.start(port: port)
        let serverURL = "http://127.0.0.1:\(server.port)"
        let binDir = stateDir + "/bin"
        api.execHandler = { body in
            await exec(world: world, api: api, body: body, serverURL: serverURL, binDir: binDir)
        }
        // bin/: the binary itself plus stand-in links.
        let selfLink = binDir + "/aphex-sim"
        try? fm.removeItem(atPath: selfLink)
        try fm.createSymbolicLink(atPath: selfLink, withDestinationPath: executable)
        var tools = standIns
        if scenario.host.gpu == "none" { tools.removeAll { $0.hasPrefix("nvidia") } }
        if scenario.host.k3sInstalled || (scenario.cluster.exists && scenario.cluster.flavor == "k3s") {
            tools.append("k3s")
        }
        for t in tools {
            try? fm.removeItem(atPath: binDir + "/" + t)
            try fm.createSymbolicLink(atPath: binDir + "/" + t, withDestinationPath: selfLink)
        }
        let contextName = scenario.cluster.flavor == "k3s" ? "default" : "kind-\(scenario.cluster.name)"
        let kc = yamlText(simKubeconfig(server: serverURL, contextName: contextName))
        fm.createFile(atPath: stateDir + "/kubeconfig", contents: Data(kc.utf8), attributes: [.posixPermissions: 0o644])
        fm.createFile(atPath: stateDir + "/control-port", contents: Data("\(server.controlPort)\n".utf8))
        fm.createFile(atPath: stateDir + "/pid", contents: Data("\(getpid())\n".utf8))
        // Written last: its presence means "ready".
        fm.createFile(atPath: stateDir + "/port.tmp", contents: Data("\(server.port)\n".utf8))
        rename(stateDir + "/port.tmp", stateDir + "/port")
        FileHandle.standardError.write(
            Data(
                """
                aphex-sim: scenario \(scenario.name) serving \(serverURL) (control port \(server.controlPort)), \
                state \(stateDir)\n
                """
                .utf8))
        while true { sleep(3600) }
    }

    static func exec(world: SimWorld, api: SimAPI, body: [UInt8], serverURL: String, binDir: String) async
        -> HTTPResponse
    {
        guard let req = try? JSON.parse(body), let argv = req["argv"]?.array?.compactMap(\.string), !argv.isEmpty else {
            return SimAPI.json(400, ["error": "exec needs {argv: [...]}"])
        }
        let stdin = req["stdin"]?.string.flatMap { Data(base64Encoded: $0) }.map { [UInt8]($0) }
        let env = ToolEnv(
            environment: req["env"]?.stringMap ?? [:], uid: UInt32(req["uid"]?.int ?? 0),
            workingDirectory: req["cwd"]?.string ?? "/", serverURL: serverURL, binDir: binDir)
        let result = await SimTools.dispatch(world: world, api: api, env: env, argv: argv, stdin: stdin)
        world.record.addCommand(
            time: world.nowSeconds, argv: argv, stdin: stdin, output: result.output, via: "stand-in",
            mutating: SimTools.isMutating(argv))
        let writes = (try? JSON.parse(JSONEncoder().encode(result.writes))) ?? []
        return SimAPI.json(
            200,
            [
                "status": .int(Int64(result.status)), "stdout": .string(result.stdout),
                "stderr": .string(result.stderr),
                "writes": writes, "removes": .array(result.removes.map { .string($0) })
            ])
    }

    /// Stand-in mode: forwards argv (+ stdin when it is read) to the simulator, applies the
    /// file writes locally, prints the output, exits with the tool's status.
    public static func standIn(tool: String, args: [String]) -> Int32 {
        let env = ProcessInfo.processInfo.environment
        guard let state = env["APHEX_SIM_STATE"],
            let portText = try? String(contentsOfFile: state + "/control-port", encoding: .utf8),
            let port = UInt16(portText.trimmingCharacters(in: .whitespacesAndNewlines))
        else {
            FileHandle.standardError.write(
                Data(
                    """
                    aphex-sim \(tool): APHEX_SIM_STATE is not set or the simulator is not running (no \
                    control-port file)\n
                    """
                    .utf8))
            return 1
        }
        let readsStdin = !tool.hasPrefix("k3s-") && KubectlPassthrough.readsStdin(args)
        var stdin: Data? = nil
        if readsStdin { stdin = FileHandle.standardInput.readDataToEndOfFile() }
        let toolEnv = ToolEnv(
            environment: env, uid: getuid(), workingDirectory: FileManager.default.currentDirectoryPath,
            serverURL: "", binDir: nil)
        if let kubectlArgs = SimTools.kubectlArguments([tool] + args, env: toolEnv) {
            // The real kubectl, here on the caller's side (its HOME, KUBECONFIG, exec plugins);
            // the simulator only records the command.
            let result = KubectlPassthrough.run(
                args: kubectlArgs, stdin: stdin.map { [UInt8]($0) }, environment: env,
                workingDirectory: nil, timeout: nil)
            var rec: JSON = [
                "argv": .array(([tool] + args).map { .string($0) }), "status": .int(Int64(result.status)),
                "stdout": .string(result.stdout), "stderr": .string(result.stderr)
            ]
            if let stdin { rec["stdin"] = .string(stdin.base64EncodedString()) }
            _ = try? SimHTTPClient.request(
                port: port, method: "POST", path: "/_sim/record/command", body: Array(rec.serialized().utf8))
            FileHandle.standardOutput.write(Data(result.stdout.utf8))
            FileHandle.standardError.write(Data(result.stderr.utf8))
            return result.status
        }
        var sendEnv: [String: JSON] = [:]
        for (k, v) in env
        where ["HOME", "KUBECONFIG", "APHEX_HOST_ROOT", "PATH", "USER"].contains(k) || k.hasPrefix("INSTALL_K3S_")
            || k.hasPrefix("K3S_")
        {
            sendEnv[k] = .string(v)
        }
        var req: JSON = [
            "argv": .array(([tool] + args).map { .string($0) }), "env": .object(sendEnv), "uid": .int(Int64(getuid())),
            "cwd": .string(FileManager.default.currentDirectoryPath)
        ]
        if let stdin { req["stdin"] = .string(stdin.base64EncodedString()) }
        do {
            let (status, body) = try SimHTTPClient.request(
                port: port, method: "POST", path: "/_sim/exec", body: Array(req.serialized().utf8))
            guard status == 200, let r = try? JSON.parse(body) else {
                FileHandle.standardError.write(
                    Data(
                        "aphex-sim \(tool): simulator error \(status): \(String(decoding: body, as: UTF8.self))\n".utf8)
                )
                return 1
            }
            var result = ToolResult(
                status: Int32(r["status"]?.int ?? 1), stdout: r["stdout"]?.string ?? "",
                stderr: r["stderr"]?.string ?? "")
            if let w = r["writes"],
                let d = try? JSONDecoder().decode([ToolResult.FileWrite].self, from: Data(w.serialized().utf8))
            {
                result.writes = d
            }
            result.removes = r["removes"]?.array?.compactMap(\.string) ?? []
            result.applyFiles()
            FileHandle.standardOutput.write(Data(result.stdout.utf8))
            FileHandle.standardError.write(Data(result.stderr.utf8))
            return result.status
        } catch {
            FileHandle.standardError.write(Data("aphex-sim \(tool): \(error)\n".utf8))
            return 1
        }
    }
}
