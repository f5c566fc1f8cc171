import AphexCore
import Foundation

/// The Kubernetes API through `kubectl get --raw`, for kubeconfigs libcurl cannot
/// authenticate with (exec credential plugins, auth-providers, tls-server-name, proxies):
/// kubectl runs the plugin and talks to the server; aphex reads the JSON it prints.
/// Slower (one process per request) but correct. Writes go through `kubectl create|replace|
/// delete --raw` and PATCH through `kubectl patch` (kubectl has no `patch --raw`), the body
/// always on stdin; WATCH degrades to polling LIST. Extra request headers cannot be sent:
/// asking for one throws `KubeAPIError.unsupported`.
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

    public init(
        runner: any CommandRunner, clock: any TimeSource = SystemClock(), kubeconfigPath: String,
        context: String?, kubectl: String = "kubectl", requestTimeout: Duration = .seconds(30),
        pollInterval: Duration = .seconds(2)
    ) {
        self.runner = runner
        self.clock = clock
        self.kubeconfigPath = kubeconfigPath
        self.context = context
        self.kubectl = kubectl
        self.requestTimeout = requestTimeout
        self.pollInterval = pollInterval
    }

    /// The argv for a request (exposed for tests and `--verbose` displays). The body, when
    /// there is one, goes on stdin.
    public func argv(_ method: String, path: String, contentType: String? = nil) throws -> [String] {
        var argv = [kubectl] + Kubeconfig.kubectlFlags(kubeconfigPath)
        if let context, !context.isEmpty { argv += ["--context", context] }
        argv.append("--request-timeout=\(Int(max(1, requestTimeout.seconds.rounded(.up))))s")
        switch method.uppercased() {
        case "GET": argv += ["get", "--raw", path]
        case "POST": argv += ["create", "--raw", path, "-f", "-"]
        case "PUT": argv += ["replace", "--raw", path, "-f", "-"]
        case "DELETE": argv += ["delete", "--raw", path]
        case "PATCH": argv += try Self.patchArguments(path: path, contentType: contentType)
        default:
            throw KubeAPIError.unsupported(
                """
                \(method.uppercased()) \(path) cannot be sent through kubectl (GET, POST, PUT, DELETE and PATCH \
                can). This kubeconfig needs kubectl for authentication; use a kubeconfig with a client \
                certificate or token to enable it.
                """
            )
        }
        return argv
    }

    /// `kubectl patch RESOURCE[.VERSION.GROUP] NAME` for a PATCH by path: resource, namespace,
    /// name and subresource from the path, `--type` from the Content-Type, the patch from
    /// stdin (`--patch-file /dev/stdin`: never in argv, where a Secret's value would show),
    /// the patched object printed as JSON (the response body). Query parameters kubectl has
    /// no flag for are refused rather than dropped.
    static func patchArguments(path: String, contentType: String?) throws -> [String] {
        let parts = path.split(separator: "?", maxSplits: 1).map(String.init)
        let segments = parts[0].split(separator: "/").map { $0.removingPercentEncoding ?? String($0) }
        func unsupported(_ why: String) -> KubeAPIError {
            .unsupported(
                """
                PATCH \(parts[0]) cannot be sent through `kubectl patch`: \(why). This kubeconfig needs kubectl \
                for authentication; use a kubeconfig with a client certificate or token to enable it.
                """
            )
        }
        var rest: ArraySlice<String>
        var resourceSuffix = ""
        if segments.first == "api", segments.count >= 2 {
            rest = segments.dropFirst(2)
        } else if segments.first == "apis", segments.count >= 3 {
            resourceSuffix = ".\(segments[2]).\(segments[1])"
            rest = segments.dropFirst(3)
        } else {
            throw unsupported("not an object path (/api/... or /apis/...)")
        }
        var namespace: String?
        // namespaces/NS/RESOURCE... is a namespaced object, but namespaces/NAME/status and
        // /finalize are the Namespace's own subresources.
        if rest.first == "namespaces", rest.count >= 3,
            !(rest.count == 3 && ["status", "finalize"].contains(rest.last!))
        {
            namespace = rest[rest.startIndex + 1]
            rest = rest.dropFirst(2)
        }
        guard (2...3).contains(rest.count) else { throw unsupported("not an object path (/api/... or /apis/...)") }
        let resource = rest[rest.startIndex], name = rest[rest.startIndex + 1]
        var args = ["patch", resource + resourceSuffix, name]
        if let namespace { args += ["--namespace", namespace] }
        if rest.count == 3 { args += ["--subresource", rest[rest.startIndex + 2]] }
        let type = (contentType ?? "").lowercased()
        if type.hasPrefix("application/merge-patch+json") {
            args += ["--type", "merge"]
        } else if type.hasPrefix("application/strategic-merge-patch+json") {
            args += ["--type", "strategic"]
        } else if type.hasPrefix("application/json-patch+json") {
            args += ["--type", "json"]
        } else {
            throw unsupported(
                """
                kubectl patch sends merge, strategic-merge and JSON patches, not \
                \(contentType ?? "a body without a Content-Type")
                """
            )
        }
        for item in (parts.count > 1 ? parts[1] : "").split(separator: "&") {
            let kv = item.split(separator: "=", maxSplits: 1).map { String($0).removingPercentEncoding ?? String($0) }
            switch (kv[0], kv.count > 1 ? kv[1] : "") {
            case ("fieldManager", let v): args.append("--field-manager=\(v)")
            case ("dryRun", "All"): args.append("--dry-run=server")
            default: throw unsupported("kubectl patch has no flag for the query parameter \(kv[0])")
            }
        }
        return args + ["--patch-file", "/dev/stdin", "--output", "json"]
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

    public func list(_ ref: ResourceRef, namespace: String?, labelSelector: String?, fieldSelector: String?)
        async throws -> JSON
    {
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

    /// Extra headers cannot be sent: kubectl sends its own (and its plugin's credentials).
    /// `Accept` and `Content-Type` are what kubectl sends anyway (JSON; the patch type).
    public func request(
        _ method: String, path: String, body: [UInt8]?, contentType: String?,
        headers: [String: String]
    ) async throws -> HTTPResponse {
        let extra = headers.keys.filter { !["accept", "content-type"].contains($0.lowercased()) }.sorted()
        if !extra.isEmpty {
            throw KubeAPIError.unsupported(
                """
                \(method.uppercased()) \(path.split(separator: "?").first ?? "") needs the request header \
                \(extra.joined(separator: ", ")), which aphex cannot send through kubectl. This kubeconfig \
                authenticates through kubectl (an exec or auth-provider plugin); use a kubeconfig with a client \
                certificate or token for this request.
                """
            )
        }
        var argv = try argv(method, path: path, contentType: contentType)
        // A DELETE with options (preconditions, propagation): `kubectl delete --raw URL -f -`.
        if method.uppercased() == "DELETE", body != nil { argv += ["-f", "-"] }
        let output: CommandOutput
        do {
            output = try await runner.run(
                Command(
                    argv, stdin: body, environment: Kubeconfig.kubectlEnvironment(kubeconfigPath),
                    timeout: requestTimeout + .seconds(5), checkExit: false))
        } catch let e as CommandError {
            switch e.reason {
            case .notFound:
                throw AphexError.prerequisite(
                    """
                    kubectl was not found on PATH. The kubeconfig '\(kubeconfigPath)' authenticates through \
                    kubectl (an exec or auth-provider plugin), so aphex needs it: install kubectl \
                    (https://kubernetes.io/docs/tasks/tools/), or use a kubeconfig with a client certificate or \
                    token.
                    """
                )
            case .timedOut:
                throw KubeAPIError.transport(.timedOut("\(method.uppercased()) \(path) through kubectl"))
            default:
                throw KubeAPIError.transport(.other(e.description))
            }
        }
        if output.status == 0 {
            return HTTPResponse(
                status: method.uppercased() == "POST" ? 201 : 200,
                headers: ["content-type": "application/json"], body: output.stdout)
        }
        let (status, message) = try Self.classify(stderr: output.stderrText, path: path)
        let statusBody = JSON.object([
            "kind": "Status", "apiVersion": "v1", "status": "Failure",
            "message": .string(message), "code": .int(Int64(status))
        ])
        return HTTPResponse(
            status: status, headers: ["content-type": "application/json"],
            body: Array(statusBody.serialized().utf8))
    }

    public func watch(
        _ ref: ResourceRef, namespace: String?, labelSelector: String?, resourceVersion: String?,
        timeoutSeconds: Int?
    ) -> AsyncThrowingStream<WatchEvent, any Error> {
        let api = self
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    try await api.pollWatch(
                        ref, namespace: namespace, labelSelector: labelSelector,
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
    private func pollWatch(
        _ ref: ResourceRef, namespace: String?, labelSelector: String?, resourceVersion: String?,
        timeoutSeconds: Int?,
        continuation: AsyncThrowingStream<WatchEvent, any Error>.Continuation
    ) async throws {
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
                        if old[path: "metadata", "resourceVersion"] != obj[path: "metadata", "resourceVersion"]
                            || old != obj
                        {
                            events.append(.modified(obj))
                        }
                    } else {
                        events.append(.added(obj))
                    }
                }
                for (k, old) in previous where current[k] == nil { events.append(.deleted(old)) }
            } else if let resourceVersion, !resourceVersion.isEmpty, resourceVersion != "0" {
                if !listRV.isEmpty && listRV != resourceVersion {
                    throw KubeAPIError.gone(
                        "\(ref) changed since resourceVersion \(resourceVersion) (now \(listRV)); re-list")
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
        if let range = line.range(of: "Error from server ("), let close = line[range.upperBound...].firstIndex(of: ")")
        {
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
        if lower.contains("was refused") || lower.contains("connection refused") {
            throw KubeAPIError.transport(.connectionRefused(shown))
        }
        if lower.contains("x509") || lower.contains("tls:") || lower.contains("certificate") {
            throw KubeAPIError.transport(.tls(shown))
        }
        if lower.contains("no such host") { throw KubeAPIError.transport(.dns(shown)) }
        if lower.contains("timeout") || lower.contains("deadline exceeded") {
            throw KubeAPIError.transport(.timedOut(shown))
        }
        if lower.contains("connection reset") || lower.contains("eof") {
            throw KubeAPIError.transport(.connectionReset(shown))
        }
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
/// `requestTimeout`: per request (KubeClient's whole-request timeout, kubectl's --request-timeout).
/// `retry`: KubeClient's tries per request (`.none` for a caller that polls and is its own retry).
public func makeKubeAPI(
    host: HostContext, kubeconfigPath: String, context: String?,
    requestTimeout: Duration = .seconds(30), retry: KubeRetryPolicy = .standard
) throws -> any KubeAPI {
    let endpoint = try Kubeconfig.load(path: kubeconfigPath).resolve(context: context)
    return makeKubeAPI(host: host, endpoint: endpoint, requestTimeout: requestTimeout, retry: retry)
}

/// As above, from an already resolved context.
public func makeKubeAPI(
    host: HostContext, endpoint: KubeEndpoint,
    requestTimeout: Duration = .seconds(30), retry: KubeRetryPolicy = .standard
) -> any KubeAPI {
    if let reason = endpoint.kubectlFallbackReason {
        host.reporter.debug(
            "Reading the Kubernetes API through `kubectl get --raw` (slower): \(reason), which libcurl cannot do.")
        return KubectlRawAPI(
            runner: host.runner, clock: host.clock, kubeconfigPath: endpoint.kubeconfigPath,
            context: endpoint.contextName, requestTimeout: requestTimeout)
    }
    let reporter = host.reporter
    return KubeClient(
        server: endpoint.server, transport: host.makeTransport(endpoint.tls),
        requestTimeout: requestTimeout, retry: retry, clock: host.clock,
        onRetry: { reporter.debug("API request failed transiently: \($0)") })
}
