import ClusterDrivers
import Foundation

/// kubectl (v1.32) against the world: the argument forms aphex uses, with the real tool's
/// output and error texts. Unknown flags and commands fail loudly.
struct KubectlEmulator {
    let world: SimWorld
    let api: SimAPI
    let env: ToolEnv
    /// "kubectl" or "k3s kubectl" (for messages).
    var toolName = "kubectl"

    static let clientVersion = "v1.32.2"

    static let global: [String: Bool] = ["kubeconfig": true, "context": true, "namespace": true, "request-timeout": true,
                                         "v": true, "cluster": true, "user": true, "insecure-skip-tls-verify": false,
                                         "server": true, "token": true]
    static let globalShort: [Character: String] = ["n": "namespace", "v": "v", "s": "server"]

    func spec(_ command: String) -> ([String: Bool], [Character: String]) {
        var s = Self.global
        var short = Self.globalShort
        func add(_ m: [String: Bool], _ sh: [Character: String] = [:]) { s.merge(m) { a, _ in a }; short.merge(sh) { a, _ in a } }
        switch command {
        case "apply":
            add(["server-side": false, "force-conflicts": false, "field-manager": true, "filename": true, "dry-run": true,
                 "output": true, "validate": true, "wait": false, "overwrite": false, "recursive": false],
                ["f": "filename", "o": "output", "R": "recursive"])
        case "create":
            add(["filename": true, "dry-run": true, "output": true, "save-config": false, "validate": true, "field-manager": true,
                 "from-literal": true, "from-file": true, "from-env-file": true, "type": true],
                ["f": "filename", "o": "output"])
        case "get":
            add(["output": true, "selector": true, "all-namespaces": false, "field-selector": true, "ignore-not-found": false,
                 "raw": true, "show-labels": false, "no-headers": false, "chunk-size": true, "show-managed-fields": false,
                 "label-columns": true, "sort-by": true, "watch": false, "output-watch-events": false],
                ["o": "output", "l": "selector", "A": "all-namespaces", "L": "label-columns", "w": "watch"])
        case "patch":
            add(["type": true, "patch": true, "patch-file": true, "dry-run": true, "output": true, "subresource": true,
                 "field-manager": true, "filename": true],
                ["p": "patch", "o": "output", "f": "filename"])
        case "annotate", "label":
            add(["overwrite": false, "all": false, "selector": true, "dry-run": true, "output": true, "field-manager": true,
                 "resource-version": true, "all-namespaces": false],
                ["l": "selector", "o": "output", "A": "all-namespaces"])
        case "delete":
            add(["ignore-not-found": false, "wait": false, "timeout": true, "filename": true, "selector": true, "all": false,
                 "cascade": true, "grace-period": true, "force": false, "now": false, "dry-run": true, "output": true],
                ["f": "filename", "l": "selector", "o": "output"])
        case "wait":
            add(["for": true, "timeout": true, "selector": true, "all": false, "all-namespaces": false, "filename": true],
                ["l": "selector", "A": "all-namespaces", "f": "filename"])
        case "rollout":
            add(["timeout": true, "watch": false, "revision": true, "selector": true], ["w": "watch", "l": "selector"])
        case "version":
            add(["client": false, "output": true], ["o": "output"])
        case "auth":
            add(["all-namespaces": false, "quiet": false, "list": false], ["A": "all-namespaces", "q": "quiet"])
        case "config":
            add(["raw": false, "minify": false, "flatten": false, "output": true, "merge": false], ["o": "output"])
        case "cluster-info":
            break
        default:
            break
        }
        return (s, short)
    }

    // MARK: entry

    func run(_ argv: [String], stdin: [UInt8]?) async -> ToolResult {
        let args = Array(argv.dropFirst())
        // The command is the first positional not consumed by a global flag.
        var command: String? = nil
        var i = 0
        while i < args.count {
            let a = args[i]
            if a.hasPrefix("-") {
                let name = a.hasPrefix("--") ? String(a.dropFirst(2).split(separator: "=")[0]) : (a.count == 2 ? Self.globalShort[a.last!] ?? "" : "")
                if Self.global[name] == true && !a.contains("=") && (a.hasPrefix("--") || a.count == 2) { i += 2 } else { i += 1 }
                continue
            }
            command = a
            break
        }
        guard let cmd = command else {
            return .fail("kubectl controls the Kubernetes cluster manager.\n\nerror: a command is required (aphex-sim kubectl)")
        }
        var rest = args
        rest.remove(at: i)
        let (s, short) = spec(cmd)
        let known = ["apply", "create", "get", "patch", "annotate", "label", "delete", "wait", "rollout", "version", "auth",
                     "config", "cluster-info", "describe", "logs", "exec", "port-forward", "replace", "edit", "scale", "api-resources"]
        guard known.contains(cmd) else {
            return .fail("error: unknown command \"\(cmd)\" for \"kubectl\"\n\nDid you mean this?\n\tget\n\nRun 'kubectl --help' for usage.")
        }
        if ["describe", "logs", "exec", "port-forward", "replace", "edit", "scale"].contains(cmd) {
            return .fail("error: aphex-sim: `kubectl \(cmd)` is a real kubectl command that the simulator does not implement; extend Tests/SimCluster/Kubectl.swift if aphex needs it")
        }
        let flags: Flags
        do { flags = try Flags.parse(rest, spec: s, short: short, tool: "kubectl", command: cmd) } catch let e as ToolError { return e.result } catch { return .fail("\(error)") }
        // kubeconfig / context checks, as kubectl does before talking to the server.
        if cmd != "version" || !flags.bool("client") {
            if let r = checkKubeconfig(flags, command: cmd) { return r }
        }
        do {
            switch cmd {
            case "version": return try await version(flags)
            case "config": return try config(flags)
            default: break
            }
            if let r = await connectionFault(flags) { return r }
            switch cmd {
            case "apply": return try apply(flags, stdin: stdin, create: false)
            case "create": return try create(flags, stdin: stdin)
            case "get": return try await get(flags)
            case "patch": return try patch(flags)
            case "annotate": return try annotateOrLabel(flags, field: "annotations", verb: "annotated")
            case "label": return try annotateOrLabel(flags, field: "labels", verb: "labeled")
            case "delete": return try await delete(flags, stdin: stdin)
            case "wait": return try await wait(flags)
            case "rollout": return try await rollout(flags)
            case "auth": return try auth(flags)
            case "cluster-info":
                return ToolResult(stdout: "Kubernetes control plane is running at \(serverURL(flags))\nCoreDNS is running at \(serverURL(flags))/api/v1/namespaces/kube-system/services/kube-dns:dns/proxy\n\nTo further debug and diagnose cluster problems, use 'kubectl cluster-info dump'.\n")
            case "api-resources":
                var out = "NAME\tSHORTNAMES\tAPIVERSION\tNAMESPACED\tKIND\n"
                for t in world.allTypes() { out += "\(t.ref.resource)\t\(t.shortNames.joined(separator: ","))\t\(t.ref.apiVersion)\t\(t.ref.namespaced)\t\(t.ref.kind)\n" }
                return ToolResult(stdout: out)
            default: return .fail("error: unknown command \"\(cmd)\"")
            }
        } catch let e as SimAPIError {
            return .fail(Self.serverError(e))
        } catch let e as ToolError {
            return e.result
        } catch {
            return .fail("error: \(error)")
        }
    }

    static func serverError(_ e: SimAPIError, context: String? = nil) -> String {
        if e.noKindMatch { return "error: the server doesn't have a resource type \"\(e.message)\"" }
        return "Error from server (\(e.reason)): \(context.map { $0 + ": " } ?? "")\(e.message)"
    }

    // MARK: connection

    /// The kubeconfig kubectl sees: one file, or a KUBECONFIG list merged as client-go merges it
    /// (missing files skipped; the first to name a cluster, user or context wins; the first
    /// current-context wins).
    func kubeconfig(_ flags: Flags) -> JSON? {
        let docs = env.kubeconfigFiles(flags.value("kubeconfig")).compactMap { path -> JSON? in
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
            return (try? SimJSON.documents(text))?.first
        }
        guard var merged = docs.first else { return nil }
        for doc in docs.dropFirst() {
            for field in ["clusters", "users", "contexts"] {
                var entries = merged[field]?.array ?? []
                let names = Set(entries.compactMap { $0["name"]?.string })
                entries += (doc[field]?.array ?? []).filter { !names.contains($0["name"]?.string ?? "") }
                merged[field] = .array(entries)
            }
            if (merged["current-context"]?.string ?? "").isEmpty, let c = doc["current-context"] { merged["current-context"] = c }
        }
        return merged
    }

    func serverURL(_ flags: Flags) -> String {
        if let s = flags.value("server") { return s }
        guard let kc = kubeconfig(flags) else { return "http://localhost:8080" }
        let ctxName = flags.value("context") ?? kc["current-context"]?.string ?? ""
        let ctx = (kc["contexts"]?.array ?? []).first { $0["name"]?.string == ctxName }
        let clusterName = flags.value("cluster") ?? ctx?[path: "context", "cluster"]?.string ?? ""
        let cluster = (kc["clusters"]?.array ?? []).first { $0["name"]?.string == clusterName }
        return cluster?[path: "cluster", "server"]?.string ?? "http://localhost:8080"
    }

    func checkKubeconfig(_ flags: Flags, command: String) -> ToolResult? {
        if let explicit = flags.value("kubeconfig") {
            let path = env.resolve(explicit)
            if !FileManager.default.fileExists(atPath: path) {
                return .fail("error: stat \(explicit): no such file or directory")
            }
        }
        if let ctx = flags.value("context"), let kc = kubeconfig(flags) {
            if !(kc["contexts"]?.array ?? []).contains(where: { $0["name"]?.string == ctx }) {
                return .fail("error: context \"\(ctx)\" does not exist")
            }
        }
        return nil
    }

    /// One fault draw per command (kubectl's first request), with kubectl's error texts.
    func connectionFault(_ flags: Flags) async -> ToolResult? {
        let host = serverURL(flags).replacingOccurrences(of: "http://", with: "").replacingOccurrences(of: "https://", with: "")
        if !world.clusterUpLocked || world.faults.isDown(at: world.nowSeconds) {
            return .fail("The connection to the server \(host) was refused - did you specify the right host or port?")
        }
        let latency = world.faults.latency
        if latency > .zero { try? await world.clock.sleep(for: latency) }
        guard let f = world.faults.decide(at: world.nowSeconds) else { return nil }
        switch f {
        case .down: return .fail("The connection to the server \(host) was refused - did you specify the right host or port?")
        case .http503: return .fail("Error from server (ServiceUnavailable): the server is currently unable to handle the request")
        case .reset: return .fail("Unable to connect to the server: read tcp 127.0.0.1:41872->\(host): read: connection reset by peer")
        case .timeout:
            var hold = world.faults.timeoutHold
            if let rt = flags.value("request-timeout"), let d = parseDuration(rt) { hold = min(hold, d) }
            try? await world.clock.sleep(for: hold)
            return .fail("Unable to connect to the server: net/http: request canceled (Client.Timeout exceeded while awaiting headers)")
        }
    }

    var defaultNamespace: String { "default" }
    func namespace(_ flags: Flags) -> String {
        if let n = flags.value("namespace") { return n }
        if let kc = kubeconfig(flags) {
            let ctxName = flags.value("context") ?? kc["current-context"]?.string ?? ""
            if let ns = (kc["contexts"]?.array ?? []).first(where: { $0["name"]?.string == ctxName })?[path: "context", "namespace"]?.string { return ns }
        }
        return "default"
    }

    // MARK: manifests

    func readManifests(_ flags: Flags, stdin: [UInt8]?) throws -> [(source: String, docs: [JSON])] {
        let files = flags.all("filename")
        guard !files.isEmpty else { throw ToolError.failed("error: must specify one of -f and -k", 1) }
        var out: [(String, [JSON])] = []
        for f in files {
            let text: String
            let source: String
            if f == "-" {
                text = String(decoding: stdin ?? [], as: UTF8.self)
                source = "STDIN"
            } else {
                let path = env.resolve(f)
                guard let t = try? String(contentsOfFile: path, encoding: .utf8) else {
                    throw ToolError.failed("error: the path \"\(f)\" does not exist", 1)
                }
                text = t
                source = f
            }
            do { out.append((source, try SimJSON.documents(text))) } catch {
                throw ToolError.failed("error: error parsing \(source): error converting YAML to JSON: \(error)", 1)
            }
        }
        let total = out.reduce(0) { $0 + $1.1.count }
        if total == 0 { throw ToolError.failed("error: no objects passed to \(flags.has("server-side") ? "apply" : "apply")", 1) }
        return out
    }

    func dryRunMode(_ flags: Flags) throws -> String? {
        guard let d = flags.value("dry-run") else { return nil }
        switch d {
        case "server", "client": return d
        case "none", "false": return nil
        case "true": return "client"
        default: throw ToolError.failed("error: Invalid dry-run value (\(d)). Must be \"none\", \"server\", or \"client\".", 1)
        }
    }

    func typeName(_ obj: JSON) -> String {
        if let t = try? world.type(apiVersion: obj.apiVersion ?? "", kind: obj.kind ?? "") { return t.kubectlName }
        return (obj.kind ?? "object").lowercased()
    }

    // MARK: apply / create

    func apply(_ flags: Flags, stdin: [UInt8]?, create: Bool) throws -> ToolResult {
        let serverSide = flags.bool("server-side")
        if flags.has("force-conflicts") && !serverSide {
            throw ToolError.failed("error: --force-conflicts only works with --server-side", 1)
        }
        if flags.has("field-manager"), let fm = flags.value("field-manager"), fm.isEmpty {
            throw ToolError.failed("error: --field-manager must not be empty", 1)
        }
        let dry = try dryRunMode(flags)
        let ns = flags.value("namespace")
        var out = "", err = ""
        var failed = false
        let output = flags.value("output")
        if let o = output, !["name", "json", "yaml"].contains(o) {
            throw ToolError.failed("error: unable to match a printer suitable for the output format \"\(o)\", allowed formats are: json,name,yaml", 1)
        }
        var printed: [JSON] = []
        for (source, docs) in try readManifests(flags, stdin: stdin) {
            for doc in docs {
                guard doc.apiVersion != nil, doc.kind != nil else {
                    err += "error: error validating \"\(source)\": error validating data: [apiVersion not set, kind not set]; if you choose to ignore these errors, turn validation off with --validate=false\n"
                    failed = true
                    continue
                }
                let name = doc.name ?? ""
                var nsForDoc = ns
                if let t = try? world.type(apiVersion: doc.apiVersion!, kind: doc.kind!), t.ref.namespaced {
                    if let docNS = doc.namespace, let n = ns, docNS != n {
                        err += "error: the namespace from the provided object \"\(docNS)\" does not match the namespace \"\(n)\". You must pass '--namespace=\(docNS)' to perform this operation.\n"
                        failed = true
                        continue
                    }
                    nsForDoc = doc.namespace ?? ns ?? namespace(flags)
                }
                do {
                    var input = doc
                    if !serverSide && !create {
                        var copy = doc
                        copy.set(["metadata", "annotations", "kubectl.kubernetes.io/last-applied-configuration"], to: nil)
                        let last = copy.serialized() + "\n"
                        let annTotal = last.utf8.count + doc.annotations.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count }
                        if annTotal > 262_144 {
                            throw SimAPIError.invalid("\(doc.kind!) \"\(name)\" is invalid: metadata.annotations: Too long: must have at most 262144 bytes")
                        }
                        input.set(["metadata", "annotations", "kubectl.kubernetes.io/last-applied-configuration"], to: .string(last))
                    }
                    if dry == "client" {
                        printed.append(input)
                        out += "\(typeName(doc))/\(name) \(create ? "created" : (serverSide ? "serverside-applied" : "configured")) (dry run)\n"
                        continue
                    }
                    let verb: String
                    let result: JSON
                    if create {
                        result = try world.create(input, namespace: nsForDoc, dryRun: dry == "server", by: "kubectl")
                        verb = "created"
                    } else {
                        let (o, outcome) = try world.apply(input, namespace: nsForDoc, fieldManager: flags.value("field-manager") ?? (serverSide ? "kubectl" : "kubectl-client-side-apply"),
                                                           force: flags.bool("force-conflicts"), dryRun: dry == "server", by: "kubectl")
                        result = o
                        verb = serverSide ? "serverside-applied" : (outcome == .created ? "created" : (outcome == .unchanged ? "unchanged" : "configured"))
                    }
                    printed.append(result)
                    if output == nil || output == "name" {
                        out += output == "name" ? "\(typeName(doc))/\(name)\n" : "\(typeName(doc))/\(name) \(verb)\(dry == "server" ? " (server dry run)" : "")\n"
                    }
                } catch let e as SimAPIError {
                    failed = true
                    if e.noKindMatch {
                        err += "error: resource mapping not found for name: \"\(name)\" namespace: \"\(doc.namespace ?? ns ?? "")\" from \"\(source)\": \(e.message)\nensure CRDs are installed first\n"
                    } else if create {
                        err += "Error from server (\(e.reason)): error when creating \"\(source)\": \(e.message)\n"
                    } else if serverSide {
                        err += "Error from server (\(e.reason)): \(e.message)\n"
                    } else {
                        err += e.reason == "Invalid" ? "The \(e.message)\n" : "Error from server (\(e.reason)): error when creating \"\(source)\": \(e.message)\n"
                    }
                }
            }
        }
        if output == "json" {
            out = printed.count == 1 ? printed[0].serialized(pretty: true) + "\n"
                : JSON.object(["apiVersion": "v1", "kind": "List", "items": .array(printed), "metadata": ["resourceVersion": ""]]).serialized(pretty: true) + "\n"
        } else if output == "yaml" {
            out = printed.map(yamlText).joined(separator: "---\n")
        }
        return ToolResult(status: failed ? 1 : 0, stdout: out, stderr: err)
    }

    func create(_ flags: Flags, stdin: [UInt8]?) throws -> ToolResult {
        let pos = flags.positionals
        if pos.isEmpty { return try apply(flags, stdin: stdin, create: true) }
        let dry = try dryRunMode(flags)
        switch pos[0] {
        case "namespace", "ns":
            guard pos.count == 2 else { throw ToolError.usage("exactly one NAME is required, got \(pos.count - 1)", tool: "kubectl", command: "create namespace") }
            let obj: JSON = ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string(pos[1])]]
            if dry == "client" { return ToolResult(stdout: "namespace/\(pos[1]) created (dry run)\n") }
            _ = try world.create(obj, dryRun: dry == "server", by: "kubectl")
            return ToolResult(stdout: "namespace/\(pos[1]) created\(dry == "server" ? " (server dry run)" : "")\n")
        case "secret":
            guard pos.count == 3, pos[1] == "generic" else { throw ToolError.usage("aphex-sim supports `create secret generic NAME`", tool: "kubectl", command: "create secret") }
            var data: [String: JSON] = [:]
            for lit in flags.all("from-literal") {
                let kv = lit.split(separator: "=", maxSplits: 1).map(String.init)
                guard kv.count == 2 else { throw ToolError.failed("error: invalid literal source \(lit), expected key=value", 1) }
                data[kv[0]] = .string(Data(kv[1].utf8).base64EncodedString())
            }
            for file in flags.all("from-file") {
                let kv = file.split(separator: "=", maxSplits: 1).map(String.init)
                let path = env.resolve(kv.last!)
                guard let d = FileManager.default.contents(atPath: path) else { throw ToolError.failed("error: error reading \(path): no such file or directory", 1) }
                data[kv.count == 2 ? kv[0] : (path as NSString).lastPathComponent] = .string(d.base64EncodedString())
            }
            let obj: JSON = ["apiVersion": "v1", "kind": "Secret", "type": .string(flags.value("type") ?? "Opaque"),
                             "metadata": ["name": .string(pos[2]), "namespace": .string(namespace(flags))], "data": .object(data)]
            if flags.value("output") == "yaml" && dry == "client" { return ToolResult(stdout: yamlText(obj)) }
            if flags.value("output") == "json" && dry == "client" { return ToolResult(stdout: obj.serialized(pretty: true) + "\n") }
            _ = try world.create(obj, namespace: namespace(flags), dryRun: dry == "server", by: "kubectl")
            return ToolResult(stdout: "secret/\(pos[2]) created\n")
        default:
            throw ToolError.failed("error: aphex-sim: `kubectl create \(pos[0])` is not simulated; use `create -f -`", 1)
        }
    }

    // MARK: get

    struct Target { var type: SimType; var names: [String] }

    func resolveType(_ name: String) throws -> SimType {
        guard let t = world.resolve(name) else {
            throw ToolError.failed("error: the server doesn't have a resource type \"\(name)\"", 1)
        }
        return t
    }

    /// TYPE[,TYPE] [NAME...] or TYPE/NAME...
    func targets(_ pos: [String]) throws -> [Target] {
        guard let first = pos.first else { return [] }
        if first.contains("/") {
            var out: [Target] = []
            for p in pos {
                let parts = p.split(separator: "/", maxSplits: 1).map(String.init)
                guard parts.count == 2 else {
                    throw ToolError.failed("error: there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'kubectl get resource/<resource_name>' instead of 'kubectl get resource resource/<resource_name>'", 1)
                }
                out.append(Target(type: try resolveType(parts[0]), names: [parts[1]]))
            }
            return out
        }
        let types = try first.split(separator: ",").map { try resolveType(String($0)) }
        let names = Array(pos.dropFirst())
        if names.contains(where: { $0.contains("/") }) {
            throw ToolError.failed("error: there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'kubectl get resource/<resource_name>' instead of 'kubectl get resource resource/<resource_name>'", 1)
        }
        return types.map { Target(type: $0, names: names) }
    }

    func get(_ flags: Flags) async throws -> ToolResult {
        if let raw = flags.value("raw") {
            if !flags.positionals.isEmpty { throw ToolError.failed("error: arguments may not be passed when --raw is specified", 1) }
            let r = await api.handle(method: "GET", target: raw, headers: ["accept": "application/json"], body: [], via: "kubectl")
            switch r {
            case .response(let resp):
                if resp.status >= 200 && resp.status < 300 { return ToolResult(stdout: resp.text) }
                if let st = try? JSON.parse(resp.body), let m = st["message"]?.string {
                    return .fail("Error from server (\(st["reason"]?.string ?? "InternalError")): \(m)")
                }
                return .fail("Error from server (NotFound): the server could not find the requested resource")
            case .fault:
                return .fail("The connection to the server was refused - did you specify the right host or port?")
            }
        }
        if flags.bool("watch") { throw ToolError.failed("error: aphex-sim: `kubectl get --watch` is not simulated", 1) }
        guard !flags.positionals.isEmpty else {
            throw ToolError.failed("You must specify the type of resource to get. Use \"kubectl api-resources\" for a complete list of supported resources.\n\nerror: Required resource not specified.\nUse \"kubectl explain <resource>\" for a detailed description of that resource (e.g. kubectl explain pods).\nSee 'kubectl get -h' for help and examples", 1)
        }
        let all = flags.bool("all-namespaces")
        let ns = namespace(flags)
        let output = flags.value("output")
        var objects: [(SimType, JSON)] = []
        var err = ""
        var failed = false
        var singleRequested = false
        let ts = try targets(flags.positionals)
        for t in ts {
            if t.names.isEmpty {
                let items = try world.list(t.type.ref, namespace: all || !t.type.ref.namespaced ? nil : ns,
                                           labelSelector: flags.value("selector"), fieldSelector: flags.value("field-selector"))
                objects += items.map { (t.type, $0) }
            } else {
                if ts.count == 1 && t.names.count == 1 { singleRequested = true }
                for n in t.names {
                    if let o = world.get(t.type.ref, namespace: t.type.ref.namespaced ? ns : nil, name: n) {
                        objects.append((t.type, o))
                    } else if !flags.bool("ignore-not-found") {
                        err += "Error from server (NotFound): \(t.type.qualifiedName) \"\(n)\" not found\n"
                        failed = true
                    }
                }
            }
        }
        var out = ""
        switch output {
        case "json"?:
            if singleRequested, let one = objects.first { out = one.1.serialized(pretty: true) + "\n" }
            else if !(singleRequested && objects.isEmpty) {
                out = JSON.object(["apiVersion": "v1", "kind": "List", "items": .array(objects.map(\.1)),
                                   "metadata": ["resourceVersion": ""]]).serialized(pretty: true) + "\n"
            }
        case "yaml"?:
            if singleRequested, let one = objects.first { out = yamlText(one.1) }
            else if !(singleRequested && objects.isEmpty) {
                out = yamlText(["apiVersion": "v1", "kind": "List", "items": .array(objects.map(\.1)), "metadata": ["resourceVersion": ""]])
            }
        case "name"?:
            out = objects.map { "\($0.0.kubectlName)/\($0.1.name ?? "")\n" }.joined()
        case let o? where o.hasPrefix("jsonpath=") || o.hasPrefix("jsonpath-as-json=") || o.hasPrefix("go-template=") == false && o.hasPrefix("custom-columns="):
            if o.hasPrefix("custom-columns=") {
                out = try customColumns(String(o.dropFirst("custom-columns=".count)), objects.map(\.1), headers: !flags.bool("no-headers"))
            } else {
                let template = String(o.drop(while: { $0 != "=" }).dropFirst())
                let root: JSON = singleRequested && objects.count == 1 ? objects[0].1
                    : ["apiVersion": "v1", "kind": "List", "items": .array(objects.map(\.1)), "metadata": ["resourceVersion": ""]]
                do { out = try JSONPathTemplate.render(template, root) } catch {
                    throw ToolError.failed("error: error parsing jsonpath \(template), \(error)", 1)
                }
            }
        case nil, "wide"?:
            if objects.isEmpty && !failed {
                if !flags.bool("ignore-not-found") {
                    err += all ? "No resources found\n" : "No resources found in \(ns) namespace.\n"
                }
            } else if !objects.isEmpty {
                out = table(objects, allNamespaces: all, headers: !flags.bool("no-headers"), showLabels: flags.bool("show-labels"))
            }
        case let o?:
            throw ToolError.failed("error: unable to match a printer suitable for the output format \"\(o)\", allowed formats are: custom-columns,custom-columns-file,go-template,go-template-file,json,jsonpath,jsonpath-as-json,jsonpath-file,name,template,templatefile,wide,yaml", 1)
        }
        return ToolResult(status: failed ? 1 : 0, stdout: out, stderr: err)
    }

    func customColumns(_ spec: String, _ objects: [JSON], headers: Bool) throws -> String {
        let cols = spec.split(separator: ",").map { c -> (String, String) in
            let p = c.split(separator: ":", maxSplits: 1).map(String.init)
            return (p[0], p.count > 1 ? p[1] : "")
        }
        var rows: [[String]] = headers ? [cols.map(\.0)] : []
        for o in objects {
            rows.append(try cols.map { col in
                let v = try JSONPathTemplate.select(col.1, root: o, current: o)
                return v.isEmpty ? "<none>" : v.map(JSONPathTemplate.text).joined(separator: ",")
            })
        }
        return columnize(rows)
    }

    func columnize(_ rows: [[String]]) -> String {
        guard let n = rows.first?.count else { return "" }
        var widths = [Int](repeating: 0, count: n)
        for r in rows { for (i, c) in r.enumerated() where i < n { widths[i] = max(widths[i], c.count) } }
        return rows.map { r in
            r.enumerated().map { i, c in i == r.count - 1 ? c : c.padding(toLength: widths[i] + 3, withPad: " ", startingAt: 0) }.joined()
        }.joined(separator: "\n") + "\n"
    }

    func table(_ objects: [(SimType, JSON)], allNamespaces: Bool, headers: Bool, showLabels: Bool) -> String {
        var out = ""
        var byType: [(SimType, [JSON])] = []
        for (t, o) in objects {
            if let i = byType.firstIndex(where: { $0.0 == t }) { byType[i].1.append(o) } else { byType.append((t, [o])) }
        }
        for (idx, (t, objs)) in byType.enumerated() {
            var cols = Tables.columns(t).map { $0.uppercased() }
            if allNamespaces && t.ref.namespaced { cols.insert("NAMESPACE", at: 0) }
            if showLabels { cols.append("LABELS") }
            var rows: [[String]] = headers ? [cols] : []
            for o in objs {
                var cells = Tables.cells(o, t, now: world.clock.wallNow())
                if byType.count > 1 { cells[0] = "\(t.kubectlName)/\(cells[0])" }
                if allNamespaces && t.ref.namespaced { cells.insert(o.namespace ?? "", at: 0) }
                if showLabels { cells.append(o.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")) }
                rows.append(cells)
            }
            if idx > 0 { out += "\n" }
            out += columnize(rows)
        }
        return out
    }

    // MARK: patch / annotate / label

    func onePositionalTarget(_ flags: Flags, command: String) throws -> (SimType, String) {
        let ts = try targets(flags.positionals)
        guard ts.count == 1, ts[0].names.count == 1 else {
            throw ToolError.usage("\(command) requires exactly one TYPE NAME or TYPE/NAME", tool: "kubectl", command: command)
        }
        return (ts[0].type, ts[0].names[0])
    }

    func patch(_ flags: Flags) throws -> ToolResult {
        let (t, name) = try onePositionalTarget(flags, command: "patch")
        let text: String
        if let p = flags.value("patch") { text = p }
        else if let f = flags.value("patch-file") {
            guard let s = try? String(contentsOfFile: env.resolve(f), encoding: .utf8) else { throw ToolError.failed("error: unable to read patch file: open \(f): no such file or directory", 1) }
            text = s
        } else { throw ToolError.failed("error: must specify --patch or --patch-file containing the contents of the patch", 1) }
        let type = flags.value("type") ?? "strategic"
        guard ["merge", "json", "strategic"].contains(type) else {
            throw ToolError.failed("error: --type must be one of [json merge strategic], not \"\(type)\"", 1)
        }
        let patchJSON: JSON
        do { patchJSON = try JSON.parse(text) } catch {
            guard let y = try? SimJSON.documents(text).first else { throw ToolError.failed("error: unable to parse \"\(text)\": yaml: did not find expected node content", 1) }
            patchJSON = y
        }
        if type == "strategic" && t.crdName != nil {
            throw ToolError.failed("error: application/strategic-merge-patch+json is not supported by \(t.qualifiedName): the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml", 1)
        }
        let dry = try dryRunMode(flags)
        let ns = t.ref.namespaced ? namespace(flags) : nil
        let before = world.get(t.ref, namespace: ns, name: name)
        let after = try world.patch(t, namespace: ns, name: name, patch: patchJSON, type: type == "json" ? "json" : "merge",
                                    subresource: flags.value("subresource"), dryRun: dry != nil, by: "kubectl")
        if flags.value("output") == "json" { return ToolResult(stdout: after.serialized(pretty: true) + "\n") }
        if flags.value("output") == "name" { return ToolResult(stdout: "\(t.kubectlName)/\(name)\n") }
        let same = before.map { stripRV($0) == stripRV(after) } ?? false
        return ToolResult(stdout: "\(t.kubectlName)/\(name) patched\(same ? " (no change)" : "")\(dry == "server" ? " (server dry run)" : (dry == "client" ? " (dry run)" : ""))\n")
    }

    func stripRV(_ o: JSON) -> JSON { var x = o; x.set(["metadata", "resourceVersion"], to: nil); x.set(["metadata", "generation"], to: nil); return x }

    func annotateOrLabel(_ flags: Flags, field: String, verb: String) throws -> ToolResult {
        var pos = flags.positionals
        var changes: [(String, String?)] = []
        while let last = pos.last, last.contains("=") || (last.hasSuffix("-") && !last.contains("/")) && pos.count > 1 {
            if last.hasSuffix("-") && !last.contains("=") { changes.insert((String(last.dropLast()), nil), at: 0) }
            else {
                let kv = last.split(separator: "=", maxSplits: 1).map(String.init)
                changes.insert((kv[0], kv.count > 1 ? kv[1] : ""), at: 0)
            }
            pos.removeLast()
        }
        guard !changes.isEmpty else { throw ToolError.usage("at least one \(field == "labels" ? "label" : "annotation") update is required", tool: "kubectl", command: field == "labels" ? "label" : "annotate") }
        var f2 = flags
        f2.positionals = pos
        let (t, name) = try onePositionalTarget(f2, command: field == "labels" ? "label" : "annotate")
        let ns = t.ref.namespaced ? namespace(flags) : nil
        guard let obj = world.get(t.ref, namespace: ns, name: name) else { throw SimAPIError.notFound(t.qualifiedName, name) }
        let current = field == "labels" ? obj.labels : obj.annotations
        var patch: [String: JSON] = [:]
        for (k, v) in changes {
            if let v {
                if let old = current[k], old != v, !flags.bool("overwrite") {
                    throw ToolError.failed("error: --overwrite is false but found the following declared \(field == "labels" ? "label" : "annotation")(s): '\(k)' already has a value (\(old))", 1)
                }
                patch[k] = .string(v)
            } else {
                patch[k] = .null
            }
        }
        let dry = try dryRunMode(flags)
        _ = try world.patch(t, namespace: ns, name: name, patch: ["metadata": [field: .object(patch)]], type: "merge", dryRun: dry != nil, by: "kubectl")
        if flags.value("output") == "name" { return ToolResult(stdout: "\(t.kubectlName)/\(name)\n") }
        return ToolResult(stdout: "\(t.kubectlName)/\(name) \(verb)\n")
    }

    // MARK: delete

    func delete(_ flags: Flags, stdin: [UInt8]?) async throws -> ToolResult {
        var items: [(SimType, String?, String)] = []
        if flags.has("filename") {
            for (_, docs) in try readManifests(flags, stdin: stdin) {
                for d in docs {
                    let t = try world.type(apiVersion: d.apiVersion ?? "", kind: d.kind ?? "")
                    items.append((t, t.ref.namespaced ? (d.namespace ?? namespace(flags)) : nil, d.name ?? ""))
                }
            }
        } else if let sel = flags.value("selector") {
            guard let first = flags.positionals.first else { throw ToolError.usage("resource(s) were provided, but no name was specified", tool: "kubectl", command: "delete") }
            let t = try resolveType(first)
            let ns = t.ref.namespaced ? namespace(flags) : nil
            for o in try world.list(t.ref, namespace: ns, labelSelector: sel) { items.append((t, ns, o.name ?? "")) }
        } else {
            let ts = try targets(flags.positionals)
            guard !ts.isEmpty, ts.allSatisfy({ !$0.names.isEmpty }) else {
                throw ToolError.failed("error: resource(s) were provided, but no name was specified", 1)
            }
            for t in ts { for n in t.names { items.append((t.type, t.type.ref.namespaced ? namespace(flags) : nil, n)) } }
        }
        let dry = try dryRunMode(flags)
        let wait = flags.has("wait") ? flags.bool("wait") : true
        var out = "", err = ""
        var failed = false
        var pending: [(SimType, String?, String)] = []
        for (t, ns, name) in items {
            do {
                _ = try world.delete(t, namespace: ns, name: name, dryRun: dry != nil, by: "kubectl")
                out += "\(t.kubectlName) \"\(name)\" deleted\(dry == "server" ? " (server dry run)" : "")\n"
                pending.append((t, ns, name))
            } catch let e as SimAPIError where e.code == 404 {
                if !flags.bool("ignore-not-found") { err += Self.serverError(e) + "\n"; failed = true }
            }
        }
        if wait && dry == nil && !pending.isEmpty {
            let timeout = flags.value("timeout").flatMap(parseDuration) ?? .seconds(300)
            let deadline = world.now + timeout
            while pending.contains(where: { world.get($0.0.ref, namespace: $0.1, name: $0.2) != nil }) {
                if world.now >= deadline {
                    err += "error: timed out waiting for the condition on \(pending[0].0.qualifiedName)/\(pending[0].2)\n"
                    return ToolResult(status: 1, stdout: out, stderr: err)
                }
                try await world.clock.sleep(for: .milliseconds(250))
            }
        }
        return ToolResult(status: failed ? 1 : 0, stdout: out, stderr: err)
    }

    // MARK: wait / rollout

    func wait(_ flags: Flags) async throws -> ToolResult {
        guard let cond = flags.value("for") else { throw ToolError.failed("error: --for must be specified (condition=NAME, delete, jsonpath=...)", 1) }
        var items: [(SimType, String?, String)] = []
        let ts = try targets(flags.positionals)
        for t in ts {
            let ns = t.type.ref.namespaced ? namespace(flags) : nil
            if t.names.isEmpty {
                guard flags.bool("all") || flags.has("selector") else {
                    throw ToolError.failed("error: resource name may not be empty", 1)
                }
                for o in try world.list(t.type.ref, namespace: flags.bool("all-namespaces") ? nil : ns, labelSelector: flags.value("selector")) {
                    items.append((t.type, o.namespace, o.name ?? ""))
                }
            } else {
                for n in t.names { items.append((t.type, ns, n)) }
            }
        }
        guard !items.isEmpty else { throw ToolError.failed("error: no matching resources found", 1) }
        let timeout = flags.value("timeout").map { $0 == "0" || $0 == "0s" ? Duration.zero : (parseDuration($0) ?? .seconds(30)) } ?? .seconds(30)
        let deadline = world.now + timeout
        var out = ""
        for (t, ns, name) in items {
            while true {
                let obj = world.get(t.ref, namespace: ns, name: name)
                if cond == "delete" {
                    if obj == nil { out += "\(t.kubectlName)/\(name) condition met\n"; break }
                } else {
                    guard let obj else {
                        if world.now >= deadline { return .fail("Error from server (NotFound): \(t.qualifiedName) \"\(name)\" not found") }
                        try await world.clock.sleep(for: .seconds(1))
                        continue
                    }
                    if try conditionMet(cond, obj) { out += "\(t.kubectlName)/\(name) condition met\n"; break }
                }
                if world.now >= deadline {
                    return ToolResult(status: 1, stdout: out, stderr: "error: timed out waiting for the condition on \(t.ref.resource)/\(name)\n")
                }
                try await world.clock.sleep(for: .seconds(1))
            }
        }
        return ToolResult(stdout: out)
    }

    func conditionMet(_ cond: String, _ obj: JSON) throws -> Bool {
        if cond.hasPrefix("condition=") {
            let spec = String(cond.dropFirst("condition=".count))
            let parts = spec.split(separator: "=", maxSplits: 1).map(String.init)
            let want = parts.count > 1 ? parts[1] : "True"
            return (obj[path: "status", "conditions"]?.array ?? []).contains {
                $0["type"]?.string?.lowercased() == parts[0].lowercased() && $0["status"]?.string?.lowercased() == want.lowercased()
            }
        }
        if cond.hasPrefix("jsonpath=") {
            let spec = String(cond.dropFirst("jsonpath=".count))
            guard let eq = spec.range(of: "}=") ?? spec.range(of: "=", options: .backwards) else {
                return !(try JSONPathTemplate.render(spec, obj)).isEmpty
            }
            let path = spec[..<eq.lowerBound] + (spec[eq].hasPrefix("}") ? "}" : "")
            var want = String(spec[eq.upperBound...])
            if (want.hasPrefix("'") && want.hasSuffix("'")) || (want.hasPrefix("\"") && want.hasSuffix("\"")) { want = String(want.dropFirst().dropLast()) }
            var p = String(path)
            if !p.hasPrefix("{") { p = "{" + p + "}" }
            return try JSONPathTemplate.render(p, obj) == want
        }
        throw ToolError.failed("error: unrecognized condition: \"\(cond)\"", 1)
    }

    func rollout(_ flags: Flags) async throws -> ToolResult {
        guard let sub = flags.positionals.first else { throw ToolError.usage("rollout needs a subcommand: status, restart, history, undo", tool: "kubectl", command: "rollout") }
        var f2 = flags
        f2.positionals = Array(flags.positionals.dropFirst())
        let (t, name) = try onePositionalTarget(f2, command: "rollout \(sub)")
        guard ["deployments", "statefulsets", "daemonsets"].contains(t.ref.resource) else {
            throw ToolError.failed("error: no status viewer has been implemented for \(t.ref.kind)", 1)
        }
        let ns = namespace(flags)
        switch sub {
        case "restart":
            let stamp = rfc3339(world.clock.wallNow())
            _ = try world.patch(t, namespace: ns, name: name,
                                patch: ["spec": ["template": ["metadata": ["annotations": ["kubectl.kubernetes.io/restartedAt": .string(stamp)]]]]],
                                by: "kubectl")
            return ToolResult(stdout: "\(t.kubectlName)/\(name) restarted\n")
        case "status":
            let timeout = flags.value("timeout").flatMap(parseDuration) ?? .seconds(600)
            let deadline = world.now + timeout
            let watch = flags.has("watch") ? flags.bool("watch") : true
            var out = ""
            while true {
                guard let o = world.get(t.ref, namespace: ns, name: name) else { throw SimAPIError.notFound(t.qualifiedName, name) }
                let gen = o[path: "metadata", "generation"]?.int ?? 1
                let observed = o[path: "status", "observedGeneration"]?.int ?? 0
                let want = t.ref.resource == "daemonsets" ? (o[path: "status", "desiredNumberScheduled"]?.int ?? 1) : (o[path: "spec", "replicas"]?.int ?? 1)
                let avail = t.ref.resource == "daemonsets" ? (o[path: "status", "numberAvailable"]?.int ?? 0)
                    : (t.ref.resource == "statefulsets" ? (o[path: "status", "readyReplicas"]?.int ?? 0) : (o[path: "status", "availableReplicas"]?.int ?? 0))
                if observed >= gen && avail >= want {
                    switch t.ref.resource {
                    case "statefulsets": out += "statefulset rolling update complete \(want) pods at revision \(o[path: "status", "updateRevision"]?.string ?? name)...\n"
                    case "daemonsets": out += "daemon set \"\(name)\" successfully rolled out\n"
                    default: out += "deployment \"\(name)\" successfully rolled out\n"
                    }
                    return ToolResult(stdout: out)
                }
                let line = t.ref.resource == "deployments"
                    ? "Waiting for deployment \"\(name)\" rollout to finish: \(avail) of \(want) updated replicas are available...\n"
                    : "Waiting for \(want - avail) pods to be ready...\n"
                if !out.hasSuffix(line) { out += line }
                if !watch { return ToolResult(stdout: out) }
                if world.now >= deadline { return ToolResult(status: 1, stdout: out, stderr: "error: timed out waiting for the condition\n") }
                try await world.clock.sleep(for: .seconds(1))
            }
        default:
            throw ToolError.failed("error: aphex-sim: `kubectl rollout \(sub)` is not simulated", 1)
        }
    }

    // MARK: version / auth / config

    func version(_ flags: Flags) async throws -> ToolResult {
        let client: JSON = ["major": "1", "minor": "32", "gitVersion": .string(Self.clientVersion), "gitCommit": "67a30c0adcf52bd3f56ff0893ce19966be12991f",
                            "gitTreeState": "clean", "buildDate": "2025-02-12T21:26:09Z", "goVersion": "go1.23.6", "compiler": "gc", "platform": "linux/amd64"]
        var out: JSON = ["clientVersion": client, "kustomizeVersion": "v5.5.0"]
        var err = ""
        var status: Int32 = 0
        if !flags.bool("client") {
            if let r = await connectionFault(flags) { err = r.stderr; status = 1 } else { out["serverVersion"] = api.versionInfo() }
        }
        if let o = flags.value("output") {
            guard o == "json" || o == "yaml" else { throw ToolError.failed("error: --output must be 'yaml' or 'json'", 1) }
            return ToolResult(status: status, stdout: o == "json" ? out.serialized(pretty: true) + "\n" : yamlText(out), stderr: err)
        }
        var text = "Client Version: \(Self.clientVersion)\nKustomize Version: v5.5.0\n"
        if let s = out["serverVersion"]?["gitVersion"]?.string { text += "Server Version: \(s)\n" }
        return ToolResult(status: status, stdout: text, stderr: err)
    }

    func auth(_ flags: Flags) throws -> ToolResult {
        let pos = flags.positionals
        guard pos.first == "can-i" else { throw ToolError.failed("error: aphex-sim: only `kubectl auth can-i` is simulated", 1) }
        guard pos.count >= 3 else { throw ToolError.usage("you must specify two arguments: verb resource or verb resource/resourceName.", tool: "kubectl", command: "auth can-i") }
        let verb = pos[1]
        var resource = pos[2].split(separator: "/").first.map(String.init) ?? pos[2]
        if let t = world.resolve(resource) { resource = t.ref.resource }
        let denied = world.scenario.host.deniedVerbs.contains("\(verb) \(resource)") || world.scenario.host.deniedVerbs.contains("\(verb) *")
        if flags.bool("quiet") { return ToolResult(status: denied ? 1 : 0) }
        return ToolResult(status: denied ? 1 : 0, stdout: denied ? "no\n" : "yes\n")
    }

    func config(_ flags: Flags) throws -> ToolResult {
        let pos = flags.positionals
        guard let sub = pos.first else { throw ToolError.usage("config needs a subcommand", tool: "kubectl", command: "config") }
        let path = env.kubeconfigPath(flags.value("kubeconfig"))
        let kc = kubeconfig(flags)
        switch sub {
        case "view":
            var k = kc ?? ["apiVersion": "v1", "kind": "Config", "clusters": .null, "contexts": .null, "users": .null,
                           "current-context": "", "preferences": [:]]
            if flags.bool("minify") {
                let cur = flags.value("context") ?? k["current-context"]?.string ?? ""
                guard let ctx = (k["contexts"]?.array ?? []).first(where: { $0["name"]?.string == cur }) else {
                    throw ToolError.failed("error: current-context must exist in order to minify", 1)
                }
                k["contexts"] = [ctx]
                k["clusters"] = .array((k["clusters"]?.array ?? []).filter { $0["name"] == ctx[path: "context", "cluster"] })
                k["users"] = .array((k["users"]?.array ?? []).filter { $0["name"] == ctx[path: "context", "user"] })
                k["current-context"] = .string(cur)
            }
            if !flags.bool("raw") {
                k["users"] = .array((k["users"]?.array ?? []).map { u in
                    var x = u
                    for f in ["token", "client-key-data", "client-certificate-data"] where x[path: "user", f] != nil {
                        x.set(["user", f], to: f == "token" ? "REDACTED" : "DATA+OMITTED")
                    }
                    return x
                })
            }
            if flags.value("output") == "json" { return ToolResult(stdout: k.serialized(pretty: true) + "\n") }
            if let o = flags.value("output"), o.hasPrefix("jsonpath=") {
                return ToolResult(stdout: try JSONPathTemplate.render(String(o.dropFirst(9)), k))
            }
            return ToolResult(stdout: yamlText(k))
        case "current-context":
            guard let cur = kc?["current-context"]?.string, !cur.isEmpty else { return .fail("error: current-context is not set") }
            return ToolResult(stdout: cur + "\n")
        case "get-contexts":
            let names = (kc?["contexts"]?.array ?? []).compactMap { $0["name"]?.string }
            if flags.value("output") == "name" { return ToolResult(stdout: names.map { $0 + "\n" }.joined()) }
            var rows = [["CURRENT", "NAME", "CLUSTER", "AUTHINFO", "NAMESPACE"]]
            for c in kc?["contexts"]?.array ?? [] {
                rows.append([c["name"] == kc?["current-context"] ? "*" : "", c["name"]?.string ?? "", c[path: "context", "cluster"]?.string ?? "",
                             c[path: "context", "user"]?.string ?? "", c[path: "context", "namespace"]?.string ?? ""])
            }
            return ToolResult(stdout: columnize(rows))
        case "use-context":
            guard pos.count == 2 else { throw ToolError.usage("use-context needs exactly one context name", tool: "kubectl", command: "config use-context") }
            guard var k = kc, (k["contexts"]?.array ?? []).contains(where: { $0["name"]?.string == pos[1] }) else {
                return .fail("error: no context exists with the name: \"\(pos[1])\"")
            }
            k["current-context"] = .string(pos[1])
            var r = ToolResult(stdout: "Switched to context \"\(pos[1])\".\n")
            r.writes = [.init(path: path, content: yamlText(k), mode: 0o600)]
            return r
        default:
            throw ToolError.failed("error: aphex-sim: `kubectl config \(sub)` is not simulated", 1)
        }
    }
}
