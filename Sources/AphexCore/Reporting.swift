/// How a finished step ended.
public enum StepOutcome: String, Sendable, Codable {
    case done  // acted and succeeded
    case unchanged  // checked: nothing to do
    case skipped  // not applicable / disabled by a flag
    case planned  // --dry-run: would act
    case failed
}

public enum LogLevel: String, Sendable, Codable, Comparable {
    case debug, info, warning, error
    private var rank: Int { [.debug: 0, .info: 1, .warning: 2, .error: 3][self]! }
    public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rank < b.rank }
}

/// Everything aphex tells a human or a log while it works. One event stream, three faces
/// (live TTY, plain lines for CI, JSON lines) — see Bootstrap's reporters. All of it goes to
/// stderr; results (tables, JSON documents) go to stdout through `ResultWriter`.
public enum ReportEvent: Sendable, Equatable {
    case stepStarted(id: String, title: String)
    case stepFinished(id: String, title: String, outcome: StepOutcome, seconds: Double, detail: String?)
    case log(LogLevel, String)
    /// A live table (e.g. waves while waiting): a TTY redraws it in place; CI prints only rows
    /// that changed; JSON emits it as an event.
    case table(id: String, columns: [String], rows: [[String]])
}

public protocol Reporter: Sendable {
    func emit(_ event: ReportEvent)
}

extension Reporter {
    public func info(_ message: String) { emit(.log(.info, message)) }
    public func warn(_ message: String) { emit(.log(.warning, message)) }
    public func debug(_ message: String) { emit(.log(.debug, message)) }
    public func error(_ message: String) { emit(.log(.error, message)) }
}

/// A reporter that drops everything (library defaults, benchmarks).
public struct SilentReporter: Reporter {
    public init() {}
    public func emit(_ event: ReportEvent) {}
}
