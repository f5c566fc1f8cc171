import AphexCore
import KubeClient
import Foundation
import TestSupport
#if canImport(Glibc)
    import Glibc
#endif

/// Black-box test harness: runs `aphex-sim serve` for a scenario and the built `aphex`
/// against its stand-ins.
///
///     let h = try await SimHarness.start(scenario: "blackbox-quick")
///     defer { h.stop() }
///     let r = try h.run(["status"])
///     #expect([0, 1].contains(r.status))
///     let rec = try h.record()
public final class SimHarness: @unchecked Sendable {
    public let stateDir: String
    public let home: String
    public let hostRoot: String
    public let binDir: String
    public let port: UInt16
    public let controlPort: UInt16
    private let server: Process
    /// The environment aphex runs with: PATH (stand-ins first: kind, k3s ..., and a kubectl that
    /// records the command and runs the real one), HOME, APHEX_SIM_STATE, APHEX_HOST_ROOT,
    /// APHEX_REAL_KUBECTL, KUBECONFIG unset (aphex finds ~/.kube/config).
    public var env: [String: String]

    public struct RunResult: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
        public var seconds: Double
        /// Whether aphex was SIGKILLed because `killWhen` matched or `killAtRequest` arrived.
        public var killed: Bool
    }

    /// Where the built binaries are: $APHEX_BIN_DIR, else PACKAGE/.build/debug.
    public static func binaryDirectory() -> String {
        if let d = ProcessInfo.processInfo.environment["APHEX_BIN_DIR"], !d.isEmpty { return d }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug").path
    }

    public static func start(scenario: String, extraArgs: [String] = [], timeout: Double = 60) async throws
        -> SimHarness
    {
        try await offThePool { try SimHarness(scenario: scenario, extraArgs: extraArgs, timeout: timeout) }
    }

    init(scenario: String, extraArgs: [String], timeout: Double) throws {
        let bins = Self.binaryDirectory()
        let sim = bins + "/aphex-sim"
        guard FileManager.default.isExecutableFile(atPath: sim) else {
            throw SimError("\(sim) is missing: run `swift build` first (or set APHEX_BIN_DIR)")
        }
        let base = NSTemporaryDirectory() + "aphex-bb-" + UUID().uuidString.prefix(8).lowercased()
        stateDir = base + "/sim"
        home = base + "/home"
        hostRoot = base + "/hostroot"
        binDir = stateDir + "/bin"
        for d in [stateDir, home + "/.kube", hostRoot] {
            try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        }
        // The simulated host boots with systemd (k3s runs as a systemd service).
        try FileManager.default.createDirectory(
            atPath: hostRoot + "/run/systemd/system", withIntermediateDirectories: true)
        // Readable by the unprivileged user used by runAsNobody.
        for d in [base, stateDir, home, home + "/.kube", hostRoot] { chmod(d, 0o777) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: sim)
        p.arguments = ["serve", "--scenario", scenario, "--state-dir", stateDir, "--port", "0"] + extraArgs
        p.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        p.standardError =
            FileHandle(forWritingAtPath: stateDir + "/../serve.log") ?? FileHandle(forWritingAtPath: "/dev/null")
        FileManager.default.createFile(atPath: base + "/serve.log", contents: nil)
        p.standardError = FileHandle(forWritingAtPath: base + "/serve.log")
        try p.run()
        server = p
        let deadline = Date().addingTimeInterval(timeout)
        var port: UInt16? = nil
        while Date() < deadline {
            if let t = try? String(contentsOfFile: stateDir + "/port", encoding: .utf8),
                let v = UInt16(t.trimmingCharacters(in: .whitespacesAndNewlines))
            {
                port = v
                break
            }
            if !p.isRunning { break }
            usleep(20_000)
        }
        guard let port,
            let cp = (try? String(contentsOfFile: stateDir + "/control-port", encoding: .utf8)).flatMap({
                UInt16($0.trimmingCharacters(in: .whitespacesAndNewlines))
            })
        else {
            p.terminate()
            let log = (try? String(contentsOfFile: base + "/serve.log", encoding: .utf8)) ?? ""
            throw SimError("aphex-sim serve did not start within \(timeout)s: \(log)")
        }
        self.port = port
        self.controlPort = cp
        // The scenario's cluster kubeconfig is the user's default one.
        if let kc = try? String(contentsOfFile: stateDir + "/kubeconfig", encoding: .utf8),
            (try? Scenario.load(scenario))?.cluster.exists ?? true
        {
            FileManager.default.createFile(
                atPath: home + "/.kube/config", contents: Data(kc.utf8), attributes: [.posixPermissions: 0o644])
        }
        env = [
            "PATH": binDir + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": home,
            "APHEX_SIM_STATE": stateDir, "APHEX_HOST_ROOT": hostRoot, "LANG": "C.UTF-8", "TERM": "dumb",
            "APHEX_K3S_INSTALL_URL": "http://127.0.0.1:\(cp)/_sim/k3s-install.sh"
        ]
        // bin/kubectl records the command and runs the REAL kubectl (never a stand-in).
        env["APHEX_REAL_KUBECTL"] = try RealKubectl.require()
    }

    public var serverURL: String { "http://127.0.0.1:\(port)" }
    public var kubeconfigPath: String { stateDir + "/kubeconfig" }

    /// Runs the built `aphex` with `args`. `asNobody` drops to uid/gid 65534 with setpriv.
    /// `killWhen` is polled every 50 ms with the record; when true, aphex gets SIGKILL.
    public func run(
        _ args: [String], asNobody: Bool = false, stdin: String? = nil, timeout: Double = 120,
        extraEnv: [String: String] = [:], killWhen: (@Sendable (SimRecordSnapshot) -> Bool)? = nil,
        killAtRequest: String? = nil, killAtNth: Int = 1
    ) async throws -> RunResult {
        let aphex = Self.binaryDirectory() + "/aphex"
        guard FileManager.default.isExecutableFile(atPath: aphex) else {
            throw SimError("\(aphex) is missing: run `swift build` first")
        }
        return try await runProgram(
            asNobody
                ? ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", aphex] + args
                : [aphex] + args,
            stdin: stdin, timeout: timeout, extraEnv: extraEnv, killWhen: killWhen,
            killAtRequest: killAtRequest, killAtNth: killAtNth)
    }

    /// Runs any program (e.g. the real /usr/bin/kubectl) in the harness environment.
    /// `killWhen` SIGKILLs it once the record matches (polled); `killAtRequest` has the simulator
    /// SIGKILL it the moment the `killAtNth` API request whose path contains the text arrives,
    /// before answering it (exact).
    ///
    /// The wait happens on a thread of its own, never on one of Swift's cooperative threads:
    /// there are as many of those as cores (2 here), and a black-box run blocking one for a
    /// whole bootstrap starved every other test running at the same time (a 0.2 s command
    /// "timed out after 1m", polls overslept aphex's own deadlines).
    public func runProgram(
        _ argv: [String], stdin: String? = nil, timeout: Double = 120, extraEnv: [String: String] = [:],
        killWhen: (@Sendable (SimRecordSnapshot) -> Bool)? = nil, killAtRequest: String? = nil,
        killAtNth: Int = 1
    ) async throws -> RunResult {
        try await offThePool {
            try self.runProgramBlocking(
                argv, stdin: stdin, timeout: timeout, extraEnv: extraEnv, killWhen: killWhen,
                killAtRequest: killAtRequest, killAtNth: killAtNth)
        }
    }

    func runProgramBlocking(
        _ argv: [String], stdin: String?, timeout: Double, extraEnv: [String: String],
        killWhen: (@Sendable (SimRecordSnapshot) -> Bool)?, killAtRequest: String?,
        killAtNth: Int
    ) throws -> RunResult {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: argv[0])
        p.arguments = Array(argv.dropFirst())
        p.environment = env.merging(extraEnv) { _, b in b }
        p.currentDirectoryURL = URL(fileURLWithPath: home)
        let out = Pipe(), err = Pipe(), inp = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = inp
        let drain = PipeDrain(stdout: out, stderr: err)
        let start = Date()
        try p.run()
        if let killAtRequest {
            let rule: JSON = [
                "pathContains": .string(killAtRequest), "pid": .int(Int64(p.processIdentifier)),
                "nth": .int(Int64(killAtNth))
            ]
            _ = try SimHTTPClient.request(
                port: controlPort, method: "POST", path: "/_sim/kill-at-request", body: rule.serializedBytes())
        }
        if let stdin { inp.fileHandleForWriting.write(Data(stdin.utf8)) }
        try? inp.fileHandleForWriting.close()
        var killed = false
        while p.isRunning {
            if Date().timeIntervalSince(start) > timeout {
                kill(p.processIdentifier, SIGKILL)
                break
            }
            if let killWhen, let rec = try? record(), killWhen(rec) {
                kill(p.processIdentifier, SIGKILL)
                killed = true
                break
            }
            usleep(killWhen == nil ? 10_000 : 50_000)
        }
        p.waitUntilExit()
        let (stdoutText, stderrText) = drain.wait()
        if killAtRequest != nil && p.terminationReason == .uncaughtSignal && p.terminationStatus == SIGKILL {
            killed = true
        }
        let status = p.terminationReason == .uncaughtSignal ? 128 + p.terminationStatus : p.terminationStatus
        return RunResult(
            status: status, stdout: stdoutText,
            stderr: stderrText,
            seconds: Date().timeIntervalSince(start), killed: killed)
    }

    /// The simulator's record (GET /_sim/record).
    public func record() throws -> SimRecordSnapshot {
        let (status, body) = try SimHTTPClient.request(port: controlPort, method: "GET", path: "/_sim/record")
        guard status == 200 else { throw SimError("GET /_sim/record: \(status)") }
        return try JSONDecoder().decode(SimRecordSnapshot.self, from: Data(body))
    }

    public func resetRecord() throws {
        _ = try SimHTTPClient.request(port: controlPort, method: "POST", path: "/_sim/record/reset")
    }

    /// Changes faults at run time: e.g. `["errorRate": 0.2, "kinds": ["http503"]]`, `["downForSeconds": 3]`.
    public func setFaults(_ faults: JSON) throws {
        _ = try SimHTTPClient.request(
            port: controlPort, method: "POST", path: "/_sim/faults", body: Array(faults.serialized().utf8))
    }

    /// All objects in the simulated world (GET /_sim/world).
    public func objects() throws -> [JSON] {
        let (_, body) = try SimHTTPClient.request(port: controlPort, method: "GET", path: "/_sim/world")
        return try JSON.parse(body)["objects"]?.array ?? []
    }

    public func stop() {
        // SIGKILL: the simulator keeps no state worth flushing, and a process spawned from a
        // test thread may inherit a mask that blocks SIGTERM.
        if server.isRunning {
            kill(server.processIdentifier, SIGKILL)
            server.waitUntilExit()
        }
        if ProcessInfo.processInfo.environment["APHEX_SIM_KEEP"] == nil {
            try? FileManager.default.removeItem(atPath: (stateDir as NSString).deletingLastPathComponent)
        }
    }

    deinit { stop() }
}
