import AphexCore
import KubeClient
import Foundation
import Yams

/// What a simulated tool invocation produced, plus the files it writes on the caller's side
/// (a stand-in applies them locally; the in-process runner applies them directly).
public struct ToolResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    public var writes: [FileWrite] = []
    public var removes: [String] = []

    public struct FileWrite: Sendable, Codable, Equatable {
        public var path: String
        public var content: String
        public var mode: Int
        /// Create a symlink at `path` pointing at `content` instead of a file.
        public var symlink: Bool = false
    }

    public init(status: Int32 = 0, stdout: String = "", stderr: String = "") {
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
    }

    static func fail(_ message: String, status: Int32 = 1) -> ToolResult {
        ToolResult(status: status, stdout: "", stderr: message.hasSuffix("\n") ? message : message + "\n")
    }

    var output: CommandOutput { CommandOutput(status: status, stdout: stdout, stderr: stderr) }

    /// Applies writes/removes on this machine.
    public func applyFiles() {
        let fm = FileManager.default
        for w in writes {
            let dir = (w.path as NSString).deletingLastPathComponent
            try? fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
            if w.symlink {
                try? fm.removeItem(atPath: w.path)
                try? fm.createSymbolicLink(atPath: w.path, withDestinationPath: w.content)
            } else {
                fm.createFile(atPath: w.path, contents: Data(w.content.utf8), attributes: [.posixPermissions: w.mode])
                chmod(w.path, mode_t(w.mode))
            }
        }
        for r in removes { try? fm.removeItem(atPath: r) }
    }
}

/// The environment a simulated tool runs in.
public struct ToolEnv: Sendable {
    public var environment: [String: String]
    public var uid: UInt32
    public var workingDirectory: String
    /// The API server URL written into kubeconfigs.
    public var serverURL: String
    /// Directory with the stand-in binaries (k3s install links `k3s` here); nil in-process.
    public var binDir: String?

    public var home: String { environment["HOME"] ?? NSHomeDirectory() }
    public var hostRoot: String {
        let r = environment["APHEX_HOST_ROOT"] ?? ""
        return r == "/" ? "" : (r.hasSuffix("/") ? String(r.dropLast()) : r)
    }
    public func resolve(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        if path.hasPrefix("~/") { return home + path.dropFirst(1) }
        return workingDirectory + "/" + path
    }
    /// kubectl's kubeconfig: --kubeconfig, else $KUBECONFIG's first entry, else ~/.kube/config
    /// (the file kubectl writes to; reads merge the whole list, see `kubeconfigFiles`).
    public func kubeconfigPath(_ flag: String?) -> String {
        kubeconfigFiles(flag).first ?? home + "/.kube/config"
    }
    /// The files kubectl reads, in order: --kubeconfig, else every $KUBECONFIG entry.
    public func kubeconfigFiles(_ flag: String?) -> [String] {
        if let f = flag, !f.isEmpty { return [resolve(f)] }
        if let k = environment["KUBECONFIG"] {
            let files = k.split(separator: ":").map { resolve(String($0)) }
            if !files.isEmpty { return files }
        }
        return [home + "/.kube/config"]
    }
}

/// Parsed flags of one invocation, with loud rejection of unknown flags.
struct Flags {
    var values: [String: [String]] = [:]
    var positionals: [String] = []

    func has(_ name: String) -> Bool { values[name] != nil }
    func value(_ name: String) -> String? { values[name]?.last }
    func all(_ name: String) -> [String] { values[name] ?? [] }
    func bool(_ name: String) -> Bool {
        guard let v = values[name]?.last else { return false }
        return v != "false"
    }

    /// `spec`: long name -> takes a value. `short`: one-letter alias -> long name.
    /// `boolWithValue`: bool flags that may be written `--flag=false`.
    static func parse(_ args: [String], spec: [String: Bool], short: [Character: String], tool: String, command: String)
        throws -> Flags
    {
        var f = Flags()
        var i = 0
        var onlyPositionals = false
        while i < args.count {
            let a = args[i]
            i += 1
            if onlyPositionals || a == "-" || !a.hasPrefix("-") {
                f.positionals.append(a)
                continue
            }
            if a == "--" {
                onlyPositionals = true
                continue
            }
            if a.hasPrefix("--") {
                let body = String(a.dropFirst(2))
                let parts = body.split(separator: "=", maxSplits: 1).map(String.init)
                let name = parts[0]
                guard let takes = spec[name] else {
                    throw ToolError.unknownFlag("--\(name)", tool: tool, command: command)
                }
                if takes {
                    if parts.count == 2 {
                        f.values[name, default: []].append(parts[1])
                    } else {
                        guard i < args.count else {
                            throw ToolError.usage("flag needs an argument: --\(name)", tool: tool, command: command)
                        }
                        f.values[name, default: []].append(args[i])
                        i += 1
                    }
                } else {
                    f.values[name, default: []].append(parts.count == 2 ? parts[1] : "true")
                }
                continue
            }
            // shorthand: -n ns, -nns, -n=ns, -A, -oyaml
            let chars = Array(a.dropFirst())
            var j = 0
            while j < chars.count {
                let c = chars[j]
                guard let name = short[c] else {
                    throw ToolError.usage("unknown shorthand flag: '\(c)' in \(a)", tool: tool, command: command)
                }
                if spec[name] == true {
                    var rest = String(chars[(j + 1)...])
                    if rest.hasPrefix("=") { rest.removeFirst() }
                    if rest.isEmpty {
                        guard i < args.count else {
                            throw ToolError.usage(
                                "flag needs an argument: '\(c)' in \(a)", tool: tool, command: command)
                        }
                        rest = args[i]
                        i += 1
                    }
                    f.values[name, default: []].append(rest)
                    break
                }
                f.values[name, default: []].append("true")
                j += 1
            }
        }
        return f
    }
}

enum ToolError: Error {
    case unknownFlag(String, tool: String, command: String)
    case usage(String, tool: String, command: String)
    case failed(String, Int32)

    var result: ToolResult {
        switch self {
        case .unknownFlag(let flag, let tool, let command):
            if tool == "kind" { return .fail("ERROR: unknown flag: \(flag)") }
            return .fail(
                "error: unknown flag: \(flag)\nSee '\(tool)\(command.isEmpty ? "" : " " + command) --help' for usage.")
        case .usage(let m, let tool, let command):
            if tool == "kind" { return .fail("ERROR: \(m)") }
            return .fail("error: \(m)\nSee '\(tool)\(command.isEmpty ? "" : " " + command) --help' for usage.")
        case .failed(let m, let s):
            return .fail(m, status: s)
        }
    }
}

/// JSON -> YAML text (kubectl -o yaml, kubeconfigs).
func yamlText(_ json: JSON) -> String {
    func toAny(_ j: JSON) -> Any {
        switch j {
        case .null: return NSNull()
        case .bool(let b): return b
        case .int(let i): return Int(i)
        case .double(let d): return d
        case .string(let s): return s
        case .array(let a): return a.map(toAny)
        case .object(let o): return o.mapValues(toAny)
        }
    }
    return (try? Yams.dump(object: toAny(json), sortKeys: true)) ?? json.serialized(pretty: true)
}

/// A kubeconfig for the simulated API (kind's naming: cluster/user/context `kind-NAME`).
public func simKubeconfig(server: String, contextName: String) -> JSON {
    [
        "apiVersion": "v1", "kind": "Config", "preferences": [:],
        "clusters": [["name": .string(contextName), "cluster": ["server": .string(server)]]],
        "users": [["name": .string(contextName), "user": ["token": "aphex-sim-token"]]],
        "contexts": [
            ["name": .string(contextName), "context": ["cluster": .string(contextName), "user": .string(contextName)]]
        ],
        "current-context": .string(contextName)
    ]
}

/// Merges a cluster/user/context into an existing kubeconfig (kind export kubeconfig).
func mergeKubeconfig(_ existing: JSON?, _ add: JSON, setCurrent: Bool = true) -> JSON {
    var out =
        existing ?? [
            "apiVersion": "v1", "kind": "Config", "preferences": [:], "clusters": [], "users": [], "contexts": []
        ]
    for section in ["clusters", "users", "contexts"] {
        var list = out[section]?.array ?? []
        for item in add[section]?.array ?? [] {
            list.removeAll { $0["name"] == item["name"] }
            list.append(item)
        }
        out[section] = .array(list)
    }
    if setCurrent { out["current-context"] = add["current-context"] }
    return out
}

func removeFromKubeconfig(_ existing: JSON, name: String) -> JSON {
    var out = existing
    for section in ["clusters", "users", "contexts"] {
        out[section] = .array((out[section]?.array ?? []).filter { $0["name"]?.string != name })
    }
    if out["current-context"]?.string == name { out["current-context"] = "" }
    return out
}
