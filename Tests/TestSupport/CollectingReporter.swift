import AphexCore
import Foundation

/// The one fake `Reporter`: keeps every event, in order, with views for assertions.
public final class CollectingReporter: Reporter, @unchecked Sendable {
    private let lock = NSLock()
    private var recorded: [ReportEvent] = []

    public init() {}

    public func emit(_ event: ReportEvent) { lock.withLock { recorded.append(event) } }

    public var events: [ReportEvent] { lock.withLock { recorded } }

    /// The messages of every log event, any level.
    public var logs: [String] {
        events.compactMap { if case .log(_, let m) = $0 { return m } else { return nil } }
    }

    /// The messages logged at `level`.
    public func messages(_ level: LogLevel) -> [String] {
        events.compactMap { if case .log(let l, let m) = $0, l == level { return m } else { return nil } }
    }

    /// The log messages, one per line.
    public var text: String { logs.joined(separator: "\n") }

    /// Every event as one line: `LEVEL: message`, `start: TITLE`, `finish: TITLE OUTCOME DETAIL`,
    /// `table: COLUMNS ROWS`.
    public var lines: [String] {
        events.map { e in
            switch e {
            case .log(let level, let m): return "\(level.rawValue): \(m)"
            case .stepStarted(_, let t): return "start: \(t)"
            case .stepFinished(_, let t, let o, _, let d): return "finish: \(t) \(o.rawValue) \(d ?? "")"
            case .table(_, let c, let r): return "table: \(c) \(r)"
            }
        }
    }

    /// The `lines` of warnings.
    public var warnings: [String] { lines.filter { $0.hasPrefix("warning: ") } }
}
