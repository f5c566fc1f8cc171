import AphexCore
import KubeClient
import ClusterDrivers
import Foundation
import Testing
import TestSupport

/// An HTTP transport that serves fixed responses and records URLs.
final class FakeTransport: HTTPTransport, @unchecked Sendable {
    private let lock = NSLock()
    private var urls: [String] = []
    let respond: @Sendable (HTTPRequest) throws -> HTTPResponse
    init(_ respond: @escaping @Sendable (HTTPRequest) throws -> HTTPResponse) { self.respond = respond }
    /// Node reads (LIST /api/v1/nodes) to `nodes`, everything else to `other` (by default a
    /// test failure).
    static func serving(
        nodes: @escaping @Sendable (HTTPRequest) throws -> HTTPResponse,
        other: @escaping @Sendable (HTTPRequest) throws -> HTTPResponse = { throw UnscriptedRequest(url: $0.url) }
    ) -> FakeTransport {
        FakeTransport { r in try r.url.hasSuffix("/api/v1/nodes") ? nodes(r) : other(r) }
    }
    func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        lock.withLock { urls.append(request.url) }
        return try respond(request)
    }
    func stream(_ request: HTTPRequest, onData: @escaping @Sendable ([UInt8]) -> Bool) async throws -> Int {
        Issue.record("unexpected stream \(request.url)")
        return 500
    }
    var requested: [String] {
        lock.lock()
        defer { lock.unlock() }
        return urls
    }
    /// The requests that were not node reads (downloads).
    var downloads: [String] { requested.filter { !$0.hasSuffix("/api/v1/nodes") } }
    /// The node reads (LIST /api/v1/nodes).
    var nodeReads: [String] { requested.filter { $0.hasSuffix("/api/v1/nodes") } }
}

/// Node reads (LIST /api/v1/nodes) to a fake API server, everything else to another transport
/// (libcurl to a test server).
struct NodeRoutingTransport: HTTPTransport {
    let nodes: @Sendable (HTTPRequest) throws -> HTTPResponse
    let other: any HTTPTransport
    func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        request.url.hasSuffix("/api/v1/nodes") ? try nodes(request) : try await other.send(request)
    }
    func stream(_ request: HTTPRequest, onData: @escaping @Sendable ([UInt8]) -> Bool) async throws -> Int {
        try await other.stream(request, onData: onData)
    }
}

/// A scratch home and host root, removed at deinit.
final class Scratch: @unchecked Sendable {
    let root: String
    init() {
        var template = Array((NSTemporaryDirectory() + "/aphex-driver-test-XXXXXX").utf8CString)
        root = String(cString: mkdtemp(&template)!)
        try! FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        try! FileManager.default.createDirectory(atPath: hostRoot, withIntermediateDirectories: true)
        try! FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: root) }
    var home: String { root + "/home" }
    var hostRoot: String { root + "/host" }
    var tmp: String { root + "/tmp" }

    func write(_ path: String, _ text: String, mode: Int = 0o644) {
        try! FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(
            atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: mode])
    }
}

func makeHost(
    _ scratch: Scratch, runner: any CommandRunner, clock: VirtualClock = VirtualClock(),
    reporter: any Reporter = CollectingReporter(), uid: UInt32 = 1000,
    env extra: [String: String] = [:],
    transport: (any HTTPTransport)? = nil
) -> HostContext {
    var env = [
        "HOME": scratch.home, "PATH": "/usr/bin:/bin", "TMPDIR": scratch.tmp, "APHEX_HOST_ROOT": scratch.hostRoot
    ]
    for (k, v) in extra { env[k] = v }
    let t = transport
    return HostContext(
        runner: runner, reporter: reporter, clock: clock, environment: env,
        homeDirectory: scratch.home, effectiveUID: uid, procRoot: scratch.hostRoot + "/proc",
        makeTransport: { _ in
            if let t { return t }
            return FakeTransport { r in
                Issue.record("unmocked HTTP \(r.url)")
                throw TransportError.other("unmocked")
            }
        })
}

/// A NodeList as LIST /api/v1/nodes answers it (and `kubectl get nodes -o json` prints it).
func nodesJSON(_ nodes: [(String, Bool)]) -> String {
    let items: [JSON] = nodes.map { name, ready in
        .object([
            "apiVersion": "v1", "kind": "Node",
            "metadata": .object([
                "name": .string(name),
                "labels": .object(["node-role.kubernetes.io/control-plane": ""])
            ]),
            "status": .object([
                "conditions": .array([
                    .object(["type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory"]),
                    .object([
                        "type": "Ready", "status": ready ? "True" : "False",
                        "reason": ready ? "KubeletReady" : "KubeletNotReady",
                        "message": ready
                            ? "kubelet is posting ready status"
                            : "container runtime network not ready: cni plugin not initialized"
                    ])
                ]),
                "nodeInfo": .object(["kubeletVersion": "v1.32.0"])
            ])
        ])
    }
    return JSON.object(["apiVersion": "v1", "kind": "List", "items": .array(items)]).serialized()
}

/// LIST /api/v1/nodes's answer.
func nodesResponse(_ nodes: [(String, Bool)]) -> HTTPResponse {
    HTTPResponse(status: 200, headers: ["content-type": "application/json"], body: Array(nodesJSON(nodes).utf8))
}

/// A request a fake API server does not serve: a test failure.
struct UnscriptedRequest: Error, CustomStringConvertible {
    let url: String
    init(url: String) {
        self.url = url
        Issue.record("unscripted request: \(url)")
    }
    var description: String { "unscripted request: \(url)" }
}

/// What the transport throws for an API server that is down.
func apiServerRefused(_ request: HTTPRequest) -> TransportError {
    .connectionRefused(request.url)
}

/// The API server URL of a test kubeconfig's context.
func testServer(context: String) -> String { "https://\(context).cluster.test:6443" }

/// A kubeconfig with one context whose server is `testServer(context:)` and whose user has a token.
func kubeconfigYAML(context: String) -> String {
    """
    apiVersion: v1
    kind: Config
    clusters:
    - cluster:
        server: \(testServer(context: context))
      name: \(context)
    contexts:
    - context:
        cluster: \(context)
        user: \(context)
      name: \(context)
    current-context: \(context)
    users:
    - name: \(context)
      user:
        token: test-token
    """
}

extension Command {
    var stdinText: String? { stdin.map { String(decoding: $0, as: UTF8.self) } }
}

@Test func recordingRunnerFailsLoudlyOnUnscriptedCommands() async throws {
    let runner = RecordingRunner()
    runner.on(["kind", "get"], stdout: "x\n")
    await withKnownIssue("an unscripted command is a test failure") {
        await #expect(throws: UnscriptedCommand.self) { _ = try await runner.run(Command(["kind", "nope"])) }
    } matching: { issue in
        issue.comments.contains { $0.rawValue.contains("unscripted command: kind nope") }
    }
    #expect(runner.argvs == [["kind", "nope"]])
}

/// kubectl's arguments after the leading `--kubeconfig K [--context C]` flags.
func kubectlArgs(_ argv: [String]) -> [String] {
    var rest = Array(argv.dropFirst())
    while let f = rest.first, f == "--kubeconfig" || f == "--context" { rest.removeFirst(2) }
    return rest
}
