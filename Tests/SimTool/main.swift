import AphexCore
import KubeClient
import Foundation
import SimCluster

// aphex-sim: the simulated cluster's black-box face.
//   aphex-sim serve --scenario NAME|FILE --state-dir DIR [--port N] [--error-rate R]
//                   [--fault-kinds http503,http429,reset,timeout] [--latency-ms N] [--down FROM-TO]
//                   [--time-scale S] [--seed N]
//   (env: APHEX_SIM_ERROR_RATE, APHEX_SIM_FAULT_KINDS, APHEX_SIM_LATENCY_MS, APHEX_SIM_DOWN, APHEX_SIM_TIME_SCALE)
// Invoked as kubectl / kind / k3s / systemctl / docker / nvidia-* (symlinks in DIR/bin), it is
// a stand-in that forwards to the running simulator (found through $APHEX_SIM_STATE).

let argv = CommandLine.arguments
let invoked = (argv[0] as NSString).lastPathComponent

func usage() -> Never {
    FileHandle.standardError.write(
        Data(
            """
            usage: aphex-sim serve --scenario NAME --state-dir DIR [--port 0] [--error-rate R] [--fault-kinds K,..]
                                   [--latency-ms N] [--down FROM-TO] [--time-scale S] [--seed N]
                   aphex-sim scenarios
            Scenarios: \(Scenario.available().joined(separator: ", "))

            """.utf8))
    exit(2)
}

if invoked != "aphex-sim" {
    exit(SimServe.standIn(tool: invoked, args: Array(argv.dropFirst())))
}
guard argv.count >= 2 else { usage() }
switch argv[1] {
case "scenarios":
    for s in Scenario.available() { print(s) }
    exit(0)
case "serve":
    var opts: [String: String] = [:]
    var i = 2
    let known: Set<String> = [
        "scenario", "state-dir", "port", "error-rate", "fault-kinds", "latency-ms", "down", "time-scale", "seed"
    ]
    while i < argv.count {
        var a = argv[i]
        guard a.hasPrefix("--") else {
            FileHandle.standardError.write(Data("error: unexpected argument \(a)\n".utf8))
            exit(2)
        }
        a.removeFirst(2)
        var value: String
        if let eq = a.firstIndex(of: "=") {
            value = String(a[a.index(after: eq)...])
            a = String(a[..<eq])
        } else {
            guard i + 1 < argv.count else { usage() }
            value = argv[i + 1]
            i += 1
        }
        guard known.contains(a) else {
            FileHandle.standardError.write(Data("error: unknown flag: --\(a)\n".utf8))
            exit(2)
        }
        opts[a] = value
        i += 1
    }
    let env = ProcessInfo.processInfo.environment
    for (flag, key) in [
        ("error-rate", "APHEX_SIM_ERROR_RATE"), ("fault-kinds", "APHEX_SIM_FAULT_KINDS"),
        ("latency-ms", "APHEX_SIM_LATENCY_MS"),
        ("down", "APHEX_SIM_DOWN"), ("time-scale", "APHEX_SIM_TIME_SCALE")
    ] where opts[flag] == nil {
        if let v = env[key] { opts[flag] = v }
    }
    guard let name = opts["scenario"], let dir = opts["state-dir"] else { usage() }
    do {
        var scenario = try Scenario.load(name)
        if let s = opts["time-scale"].flatMap(Double.init) { scenario.timeScale = s }
        if let r = opts["error-rate"].flatMap(Double.init) { scenario.faults.errorRate = r }
        if let k = opts["fault-kinds"] { scenario.faults.kinds = k.split(separator: ",").map(String.init) }
        if let l = opts["latency-ms"].flatMap(Double.init) { scenario.faults.latencyMs = l }
        if let s = opts["seed"].flatMap(UInt64.init) { scenario.faults.seed = s }
        if let d = opts["down"] {
            let p = d.split(separator: "-").compactMap { Double($0) }
            if p.count == 2 { scenario.faults.downWindows.append(p[0]...p[1]) }
        }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? argv[0]
        try SimServe.serve(
            scenario: scenario, stateDir: (dir as NSString).expandingTildeInPath,
            port: UInt16(opts["port"] ?? "0") ?? 0, executable: exe)
    } catch {
        FileHandle.standardError.write(Data("aphex-sim: \(error)\n".utf8))
        exit(1)
    }
case "k3s-install", "k3s-uninstall", "k3s-agent-uninstall":
    exit(SimServe.standIn(tool: argv[1], args: Array(argv.dropFirst(2))))
default:
    usage()
}
