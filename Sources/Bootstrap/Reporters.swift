import AphexCore
import KubeClient
import ClusterDrivers
import Foundation

/// Writes to stderr. All reporters share it, so lines never interleave mid-line.
final class StderrSink: @unchecked Sendable {
    static let shared = StderrSink()
    private let lock = NSLock()
    func write(_ s: String) {
        lock.lock()
        defer { lock.unlock() }
        FileHandle.standardError.write(Data(s.utf8))
    }
}

/// Terminal capabilities, decided once.
public struct Terminal: Sendable {
    public var isTTY: Bool
    public var color: Bool

    /// Colour only on a TTY, never with NO_COLOR set (any value), TERM=dumb or --no-color.
    public static func detect(fd: Int32 = 2, environment: [String: String], noColorFlag: Bool) -> Terminal {
        let tty = isatty(fd) == 1
        let color = tty && !noColorFlag && environment["NO_COLOR"] == nil && environment["TERM"] != "dumb"
        return Terminal(isTTY: tty, color: color)
    }
}

/// Picks the reporter face: JSON lines for --output json, live for a TTY, plain lines otherwise.
public func makeReporter(format: OutputFormat, terminal: Terminal, verbose: Bool) -> any Reporter {
    if format == .json { return JSONLinesReporter(verbose: verbose, sink: { StderrSink.shared.write($0) }) }
    if terminal.isTTY {
        return LiveReporter(color: terminal.color, verbose: verbose, sink: { StderrSink.shared.write($0) })
    }
    return PlainReporter(verbose: verbose, sink: { StderrSink.shared.write($0) })
}

/// CI face: one plain line per event, no escape codes; tables print only changed rows.
public final class PlainReporter: Reporter, @unchecked Sendable {
    let verbose: Bool
    let sink: @Sendable (String) -> Void
    private let lock = NSLock()
    private var lastRows: [String: [String: String]] = [:]

    public init(verbose: Bool, sink: @escaping @Sendable (String) -> Void) {
        self.verbose = verbose
        self.sink = sink
    }

    public func emit(_ event: ReportEvent) {
        switch event {
        case .stepStarted(_, let title):
            sink(" • \(title) ...\n")
        case .stepFinished(_, let title, let outcome, let seconds, let detail):
            let mark: String
            switch outcome {
            case .done: mark = "✓"
            case .unchanged: mark = "✓"
            case .skipped: mark = "-"
            case .planned: mark = "~"
            case .failed: mark = "✗"
            }
            var line = " \(mark) \(title)"
            if outcome == .unchanged { line += " (unchanged)" }
            if outcome == .skipped { line += " (skipped)" }
            if outcome == .planned { line += " (plan)" }
            if seconds >= 0.05 { line += " [\(formatDuration(.milliseconds(Int64(seconds * 1000))))]" }
            if let detail, !detail.isEmpty { line += ": \(detail)" }
            sink(line + "\n")
        case .log(let level, let message):
            if level == .debug && !verbose { return }
            let prefix: String
            switch level {
            case .debug: prefix = "debug: "
            case .info: prefix = ""
            case .warning: prefix = "warning: "
            case .error: prefix = "error: "
            }
            sink(prefix + message + "\n")
        case .table(let id, let columns, let rows):
            lock.lock()
            var previous = lastRows[id] ?? [:]
            var changed: [String] = []
            for row in rows {
                let key = row.first ?? ""
                let text = zip(columns, row).map { "\($0.0.lowercased())=\($0.1)" }.joined(separator: " ")
                if previous[key] != text {
                    changed.append(text)
                    previous[key] = text
                }
            }
            lastRows[id] = previous
            lock.unlock()
            for line in changed { sink("   \(line)\n") }
        }
    }
}

/// Human face on a TTY: step lines with ✓/✗, colour, and live tables redrawn in place.
public final class LiveReporter: Reporter, @unchecked Sendable {
    let color: Bool
    let verbose: Bool
    let sink: @Sendable (String) -> Void
    private let lock = NSLock()
    private var tableLines = 0

    public init(color: Bool, verbose: Bool, sink: @escaping @Sendable (String) -> Void) {
        self.color = color
        self.verbose = verbose
        self.sink = sink
    }

    private func paint(_ s: String, _ code: String) -> String { color ? "\u{1B}[\(code)m\(s)\u{1B}[0m" : s }

    /// Erase a live table before printing a normal line under it.
    private func clearTable() -> String {
        guard tableLines > 0 else { return "" }
        let s = String(repeating: "\u{1B}[1A\u{1B}[2K", count: tableLines)
        tableLines = 0
        return s
    }

    public func emit(_ event: ReportEvent) {
        lock.lock()
        defer { lock.unlock() }
        var out = ""
        switch event {
        case .stepStarted(_, let title):
            out = clearTable() + " \(paint("•", "2")) \(title) ...\n"
        case .stepFinished(_, let title, let outcome, let seconds, let detail):
            let mark: String
            switch outcome {
            case .done, .unchanged: mark = paint("✓", "32")
            case .skipped: mark = paint("-", "2")
            case .planned: mark = paint("~", "36")
            case .failed: mark = paint("✗", "31")
            }
            var line = " \(mark) \(title)"
            if outcome == .unchanged { line += paint(" (unchanged)", "2") }
            if outcome == .skipped { line += paint(" (skipped)", "2") }
            if seconds >= 0.05 { line += paint(" \(formatDuration(.milliseconds(Int64(seconds * 1000))))", "2") }
            if let detail, !detail.isEmpty { line += ": \(detail)" }
            out = clearTable() + line + "\n"
        case .log(let level, let message):
            if level == .debug && !verbose { return }
            switch level {
            case .debug: out = clearTable() + paint(message, "2") + "\n"
            case .info: out = clearTable() + message + "\n"
            case .warning: out = clearTable() + paint("warning: ", "33") + message + "\n"
            case .error: out = clearTable() + paint("error: ", "31") + message + "\n"
            }
        case .table(_, let columns, let rows):
            out = clearTable()
            let table = renderTable(columns: columns, rows: rows)
            out += table
            tableLines = table.filter { $0 == "\n" }.count
        }
        sink(out)
    }
}

/// Tool face: one JSON object per line on stderr (results stay on stdout).
public struct JSONLinesReporter: Reporter {
    let verbose: Bool
    let sink: @Sendable (String) -> Void

    public init(verbose: Bool, sink: @escaping @Sendable (String) -> Void) {
        self.verbose = verbose
        self.sink = sink
    }

    public func emit(_ event: ReportEvent) {
        if case .log(.debug, _) = event, !verbose { return }
        sink(AppContext.json(Line(event), pretty: false) + "\n")
    }

    /// One event as a JSON line: `event` and the event's own fields (`detail` absent when nil).
    struct Line: Encodable {
        let event: ReportEvent
        init(_ event: ReportEvent) { self.event = event }

        enum CodingKeys: String, CodingKey {
            case event, step, title, outcome, seconds, detail, level, message, table, columns, rows
        }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            switch event {
            case .stepStarted(let id, let title):
                try c.encode("stepStarted", forKey: .event)
                try c.encode(id, forKey: .step)
                try c.encode(title, forKey: .title)
            case .stepFinished(let id, let title, let outcome, let seconds, let detail):
                try c.encode("stepFinished", forKey: .event)
                try c.encode(id, forKey: .step)
                try c.encode(title, forKey: .title)
                try c.encode(outcome.rawValue, forKey: .outcome)
                try c.encode((seconds * 1000).rounded() / 1000, forKey: .seconds)
                try c.encodeIfPresent(detail, forKey: .detail)
            case .log(let level, let message):
                try c.encode("log", forKey: .event)
                try c.encode(level.rawValue, forKey: .level)
                try c.encode(message, forKey: .message)
            case .table(let id, let columns, let rows):
                try c.encode("table", forKey: .event)
                try c.encode(id, forKey: .table)
                try c.encode(columns, forKey: .columns)
                try c.encode(rows, forKey: .rows)
            }
        }
    }
}

/// Left-aligned columns separated by two spaces (kubectl's table style).
public func renderTable(columns: [String], rows: [[String]]) -> String {
    var widths = columns.map { $0.count }
    for row in rows {
        for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) }
    }
    func line(_ cells: [String]) -> String {
        var parts: [String] = []
        for (i, cell) in cells.enumerated() {
            let w = i < widths.count ? widths[i] : cell.count
            parts.append(i == cells.count - 1 ? cell : cell.padding(toLength: w, withPad: " ", startingAt: 0))
        }
        return parts.joined(separator: "  ")
    }
    var out = line(columns) + "\n"
    for row in rows { out += line(row) + "\n" }
    return out
}
