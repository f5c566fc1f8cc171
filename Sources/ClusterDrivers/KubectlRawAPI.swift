import Foundation

/// The Kubernetes API through `kubectl get --raw`, for kubeconfigs libcurl cannot
/// authenticate with (exec credential plugins, auth-providers, tls-server-name, proxies):
/// kubectl runs the plugin and talks to the server; aphex reads the JSON it prints.
/// Slower (one process per request) but correct. Writes go through `kubectl create|replace|
/// delete --raw` with the body on stdin; WATCH degrades to polling LIST.
public struct KubectlRawAPI: KubeAPI {
    public let runner: any CommandRunner
    public let clock: any TimeSource
    public let kubeconfigPath: String
    public let context: String?
    public var kubectl: String
    /// Per-request timeout (kubectl --request-timeout and the process timeout).
    public var requestTimeout: Duration
    /// How often the polling "watch" lists.
    public var pollInterval: Duration

    public init(runner: any CommandRunner, clock: any TimeSource = SystemClock(), kubeconfigPath: String,
                context: String?, kubectl: String = "kubectl", requestTimeout: Duration = .seconds(30),
                pollInterval: Duration = .seconds(2)) {
        self.runner = runner
        self.clock = clock
        self.kubeconfigPath = kubeconfigPath
        self.context = context
        self.kubectl = kubectl
        self.requestTimeout = requestTimeout
        self.pollInterval = pollInterval
    }

    /// The argv for a raw request (exposed for tests and `--verbose` displays).
    public func argv(_ method: String, path: String) throws -> [String] {
        var argv = [kubectl] + Kubeconfig.kubectlFlags(kubeconfigPath)
        if let context, !context.isEmpty { argv += ["--context", context] }
        argv.append("--request-timeout=\(Int(max(1, requestTimeout.seconds.rounded(.up))))s")
        switch method.uppercased() {
        case "GET": argv += ["get", "--raw", path]
        case "POST": argv += ["create", "--raw", path, "-f", "-"]
        case "PUT": argv += ["replace", "--raw", path, "-f", "-"]
        case "DELETE": argv += ["delete", "--raw", path]
        default:
            throw KubeAPIError.invalid("\(method.uppercased()) \(path) cannot be sent through `kubectl --raw` (only GET, POST, PUT, DELETE). This kubeconfig needs kubectl for authentication; use a kubeconfig with a client certificate or token to enable it.")
        }
        return argv
    }

    // MARK: KubeAPI

    public func get(_ ref: ResourceRef, namespace: String?, name: String) async throws -> JSON? {
        let path = ref.path(namespace: namespace, name: KubeClient.escapePathSegment(name))
        let response = try await request("GET", path: path, body: nil, contentType: nil)
        if response.status == 404 { return nil }
        guard (200..<300).contains(response.status) else {
            throw KubeClient.error(status: response.status, body: response.body, context: "GET \(path)")
        }
        return try KubeClient.decode(response.body, context: "GET \(path)")
    }

    public func list(_ ref: ResourceRef, namespace: String?, labelSelector: String?, fieldSelector: String?) async throws -> JSON {
        var query: [(String, String)] = []
        if let labelSelector, !labelSelector.isEmpty { query.append(("labelSelector", labelSelector)) }
        if let fieldSelector, !fieldSelector.isEmpty { query.append(("fieldSelector", fieldSelector)) }
        let path = ref.path(namespace: namespace) + KubeClient.queryString(query)
        let response = try await request("GET", path: path, body: nil, contentType: nil)
        guard (200..<300).contains(response.status) else {
            throw KubeClient.error(status: response.status, body: response.body, context: "LIST \(ref)")
        }
        return ref.typedItems(try KubeClient.decode(response.body, context: "LIST \(ref)"))
    }

    public func request(_ method: String, path: String, body: [UInt8]?, contentType: String?) async throws -> HTTPResponse {
        var argv = try argv(method, path: path)
        // A DELETE with options (preconditions, propagation): `kubectl delete --raw URL -f -`.
        if method.uppercased() == "DELETE", body != nil { argv += ["-f", "-"] }
        let output: CommandOutput
        do {
            output = try await runner.run(Command(argv, stdin: body, environment: Kubeconfig.kubectlEnvironment(kubeconfigPath),
                                                  timeout: requestTimeout + .seconds(5), checkExit: false))
        } catch let e as CommandError {
            switch e.reason {
            case .notFound:
                throw AphexError.prerequisite("kubectl was not found on PATH. The kubeconfig '\(kubeconfigPath)' authenticates through kubectl (an exec or auth-provider plugin), so aphex needs it: install kubectl (https://kubernetes.io/docs/tasks/tools/), or use a kubeconfig with a client certificate or token.")
            case .timedOut:
                throw KubeAPIError.transport(.timedOut("\(method.uppercased()) \(path) through kubectl"))
            default:
                throw KubeAPIError.transport(.other(e.description))
            }
        }
        if output.status == 0 {
            return HTTPResponse(status: method.uppercased() == "POST" ? 201 : 200,
                                headers: ["content-type": "application/json"], body: output.stdout)
        }
        let (status, message) = try Self.classify(stderr: output.stderrText, path: path)
        let statusBody = JSON.object(["kind": "Status", "apiVersion": "v1", "status": "Failure",
                                      "message": .string(message), "code": .int(Int64(status))])
        return HTTPResponse(status: status, headers: ["content-type": "application/json"],
                            body: Array(statusBody.serialized().utf8))
    }

    public func watch(_ ref: ResourceRef, namespace: String?, labelSelector: String?, resourceVersion: String?,
                      timeoutSeconds: Int?) -> AsyncThrowingStream<WatchEvent, any Error> {
        let api = self
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    try await api.pollWatch(ref, namespace: namespace, labelSelector: labelSelector,
                                            resourceVersion: resourceVersion, timeoutSeconds: timeoutSeconds,
                                            continuation: continuation)
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// Polling stand-in for WATCH: list, diff against the previous list, emit ADDED/MODIFIED/
    /// DELETED and a BOOKMARK with the list's resourceVersion. Starting from a resourceVersion
    /// that is no longer current ends with `.gone` — the caller re-lists, as after a 410.
    private func pollWatch(_ ref: ResourceRef, namespace: String?, labelSelector: String?, resourceVersion: String?,
                           timeoutSeconds: Int?,
                           continuation: AsyncThrowingStream<WatchEvent, any Error>.Continuation) async throws {
        let deadline = timeoutSeconds.map { clock.now() + .seconds($0) }
        var previous: [String: JSON]? = nil
        func key(_ o: JSON) -> String {
            o[path: "metadata", "uid"]?.string ?? "\(o.namespace ?? "")/\(o.name ?? "")"
        }
        // Resuming from a list the caller just made: nothing can be new yet.
        if let resourceVersion, !resourceVersion.isEmpty, resourceVersion != "0" {
            try await clock.sleep(for: pollInterval)
        }
        while true {
            try Task.checkCancellation()
            let listed = try await list(ref, namespace: namespace, labelSelector: labelSelector, fieldSelector: nil)
            let listRV = listed[path: "metadata", "resourceVersion"]?.string ?? ""
            var current: [String: JSON] = [:]
            for item in listed.items { current[key(item)] = item }
            var events: [WatchEvent] = []
            if let previous {
                for (k, obj) in current {
                    if let old = previous[k] {
                        if old[path: "metadata", "resourceVersion"] != obj[path: "metadata", "resourceVersion"] || old != obj {
                            events.append(.modified(obj))
                        }
                    } else {
                        events.append(.added(obj))
                    }
                }
                for (k, old) in previous where current[k] == nil { events.append(.deleted(old)) }
            } else if let resourceVersion, !resourceVersion.isEmpty, resourceVersion != "0" {
                if !listRV.isEmpty && listRV != resourceVersion {
                    throw KubeAPIError.gone("\(ref) changed since resourceVersion \(resourceVersion) (now \(listRV)); re-list")
                }
            } else {
                events = current.values.sorted { key($0) < key($1) }.map { .added($0) }
            }
            previous = current
            events.append(.bookmark(resourceVersion: listRV))
            for event in events {
                if case .terminated = continuation.yield(event) { return }
            }
            if let deadline, clock.now() >= deadline { return }
            try await clock.sleep(for: pollInterval)
            if let deadline, clock.now() >= deadline { return }
        }
    }

    /// kubectl's stderr -> (HTTP status, message), or a thrown transport error when no HTTP
    /// answer was received.
    static func classify(stderr: String, path: String) throws -> (Int, String) {
        let text = stderr.trimmingCharacters(in: .whitespacesAndNewlines)
        let line = text.split(separator: "\n").last.map(String.init) ?? text
        if let range = line.range(of: "Error from server ("), let close = line[range.upperBound...].firstIndex(of: ")") {
            let reason = String(line[range.upperBound..<close])
            var message = String(line[line.index(after: close)...])
            if message.hasPrefix(":") { message.removeFirst() }
            message = message.trimmingCharacters(in: .whitespaces)
            let status: Int
            switch reason {
            case "NotFound": status = 404
            case "Forbidden": status = 403
            case "Unauthorized": status = 401
            case "AlreadyExists", "Conflict": status = 409
            case "Expired", "Gone": status = 410
            case "BadRequest": status = 400
            case "Invalid": status = 422
            case "TooManyRequests": status = 429
            case "ServiceUnavailable": status = 503
            case "Timeout", "ServerTimeout": status = 504
            case "MethodNotAllowed": status = 405
            default: status = 500
            }
            return (status, message.isEmpty ? reason : message)
        }
        if line.contains("You must be logged in to the server") {
            return (401, Self.parenthesized(line) ?? line)
        }
        if line.hasPrefix("The request is invalid") {
            return (422, line.replacingOccurrences(of: "The request is invalid: ", with: ""))
        }
        let lower = text.lowercased()
        let shown = "\(path) through kubectl: \(line)"
        if lower.contains("getting credentials") || lower.contains("exec plugin") {
            return (401, "kubectl could not get credentials: \(line)")
        }
        if lower.contains("was refused") || lower.contains("connection refused") { throw KubeAPIError.transport(.connectionRefused(shown)) }
        if lower.contains("x509") || lower.contains("tls:") || lower.contains("certificate") { throw KubeAPIError.transport(.tls(shown)) }
        if lower.contains("no such host") { throw KubeAPIError.transport(.dns(shown)) }
        if lower.contains("timeout") || lower.contains("deadline exceeded") { throw KubeAPIError.transport(.timedOut(shown)) }
        if lower.contains("connection reset") || lower.contains("eof") { throw KubeAPIError.transport(.connectionReset(shown)) }
        throw KubeAPIError.transport(.other("kubectl failed for \(path): \(text.isEmpty ? "no error output" : text)"))
    }

    private static func parenthesized(_ s: String) -> String? {
        guard let open = s.firstIndex(of: "("), let close = s.lastIndex(of: ")"), open < close else { return nil }
        return String(s[s.index(after: open)..<close])
    }
}

/// Builds the API client for a kubeconfig: the libcurl `KubeClient` over
/// `host.makeTransport(tls)` when the kubeconfig's credentials are certificates or tokens,
/// else `KubectlRawAPI` through `host.runner`. Throws `AphexError(.usage)` for a missing file,
/// an unknown context, or a broken kubeconfig (the message names the fix).
public func makeKubeAPI(host: HostContext, kubeconfigPath: String, context: String?) throws -> any KubeAPI {
    let endpoint = try Kubeconfig.load(path: kubeconfigPath).resolve(context: context)
    return makeKubeAPI(host: host, endpoint: endpoint)
}

/// As above, from an already resolved context.
public func makeKubeAPI(host: HostContext, endpoint: KubeEndpoint) -> any KubeAPI {
    if let reason = endpoint.kubectlFallbackReason {
        host.reporter.debug("Reading the Kubernetes API through `kubectl get --raw` (slower): \(reason), which libcurl cannot do.")
        return KubectlRawAPI(runner: host.runner, clock: host.clock, kubeconfigPath: endpoint.kubeconfigPath,
                             context: endpoint.contextName)
    }
    return KubeClient(server: endpoint.server, transport: host.makeTransport(endpoint.tls))
}
