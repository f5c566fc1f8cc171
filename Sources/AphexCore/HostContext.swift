import Foundation

/// Time, as aphex sees it. Real runs use `SystemClock`; in-process tests use the simulated
/// cluster's virtual clock so waits and timeouts are tested without sleeping.
public protocol TimeSource: Sendable {
    /// Monotonic time since an arbitrary origin.
    func now() -> Duration
    func sleep(for duration: Duration) async throws
    /// Wall-clock time (annotations, timings files).
    func wallNow() -> Date
}

public struct SystemClock: TimeSource {
    private let origin = ContinuousClock.now
    public init() {}
    public func now() -> Duration { ContinuousClock.now - origin }
    public func sleep(for duration: Duration) async throws { try await Task.sleep(for: duration) }
    public func wallNow() -> Date { Date() }
}

/// Everything a library entry point needs from the outside world, in one value that tests
/// replace piece by piece (swiftly's context pattern).
public struct HostContext: Sendable {
    public var runner: any CommandRunner
    public var reporter: any Reporter
    public var clock: any TimeSource
    /// The process environment (PATH, HOME, KUBECONFIG, CLOUDFLARE_API_TOKEN, ...).
    public var environment: [String: String]
    /// Home directory: ~/.aphex and ~/.cache/aphex live under it.
    public var homeDirectory: String
    /// Effective user id (k3s needs root).
    public var effectiveUID: UInt32
    /// Root of the host's filesystem views, swapped in tests: /proc, /etc, ...
    public var procRoot: String
    /// Makes an HTTP transport for the given TLS options (libcurl in production).
    public var makeTransport: @Sendable (TLSOptions) -> any HTTPTransport
    public var verbose: Bool
    /// This is a test build (`TestHooks.compiledIn`): the test hooks are honoured even as root.
    /// Tests set it false to check what a release build does.
    public var testBuild: Bool = TestHooks.compiledIn

    public init(
        runner: any CommandRunner, reporter: any Reporter, clock: any TimeSource = SystemClock(),
        environment: [String: String] = ProcessInfo.processInfo.environment,
        homeDirectory: String? = nil, effectiveUID: UInt32 = geteuid(), procRoot: String = "/proc",
        makeTransport: @escaping @Sendable (TLSOptions) -> any HTTPTransport,
        verbose: Bool = false
    ) {
        self.runner = runner
        self.reporter = reporter
        self.clock = clock
        self.environment = environment
        self.homeDirectory = homeDirectory ?? environment["HOME"] ?? NSHomeDirectory()
        self.effectiveUID = effectiveUID
        self.procRoot = procRoot
        self.makeTransport = makeTransport
        self.verbose = verbose
    }

    /// ~/.aphex/clusters/NAME
    public func clusterDirectory(_ name: String) -> String {
        "\(homeDirectory)/.aphex/clusters/\(name)"
    }
    /// ~/.aphex/clusters/NAME/kubeconfig — where aphex keeps each cluster's kubeconfig.
    public func kubeconfigPath(forCluster name: String) -> String {
        clusterDirectory(name) + "/kubeconfig"
    }
    /// ~/.cache/aphex
    public var cacheDirectory: String {
        if let xdg = environment["XDG_CACHE_HOME"], !xdg.isEmpty { return xdg + "/aphex" }
        return homeDirectory + "/.cache/aphex"
    }
}
