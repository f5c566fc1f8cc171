import Foundation

/// The process exit codes aphex promises (docs/exit-codes.md). Scripts and CI rely on them.
public enum ExitStatus: Int32, Sendable, CaseIterable, Codable {
    /// Converged / the command did what it was asked.
    case ok = 0
    /// Failed: an API error, a failed step, a digest mismatch, a platform not converged.
    case failed = 1
    /// Usage error or bad input (flags, files, cluster name); nothing was changed.
    case usage = 2
    /// A deadline passed before the awaited state was reached (`--timeout`).
    case timeout = 3
    /// A prerequisite is missing on this host (a tool, root, a daemon).
    case prerequisite = 4
    /// Interrupted by SIGINT / SIGTERM (Ctrl-C).
    case interrupted = 130

    public var meaning: String {
        switch self {
        case .ok: return "success; for status/wait: the platform is converged"
        case .failed: return "failed (an operation or API call failed, or the platform is not converged)"
        case .usage: return "usage error or bad input; nothing was changed"
        case .timeout: return "timed out before convergence; a diagnosis is printed"
        case .prerequisite: return "a prerequisite is missing (tool, root, daemon); see `aphex doctor`"
        case .interrupted: return "interrupted (Ctrl-C); re-run the same command to resume"
        }
    }
}

/// The one error type every aphex layer surfaces to the CLI: an exit status and a
/// one-paragraph, actionable message ("what went wrong. What to do about it.").
public struct AphexError: Error, CustomStringConvertible, Sendable, Equatable {
    public var status: ExitStatus
    public var message: String
    /// Optional multi-line detail printed after the message (a diagnosis, stderr, ...).
    public var detail: String?

    public init(_ status: ExitStatus, _ message: String, detail: String? = nil) {
        self.status = status
        self.message = message
        self.detail = detail
    }

    public static func usage(_ message: String) -> AphexError { AphexError(.usage, message) }
    public static func failed(_ message: String, detail: String? = nil) -> AphexError {
        AphexError(.failed, message, detail: detail)
    }
    public static func prerequisite(_ message: String) -> AphexError { AphexError(.prerequisite, message) }
    public static func timeout(_ message: String, detail: String? = nil) -> AphexError {
        AphexError(.timeout, message, detail: detail)
    }
    public static let interrupted = AphexError(
        .interrupted, "Interrupted. Nothing already stored was lost: re-run the same command to resume.")

    public var description: String {
        if let detail, !detail.isEmpty { return message + "\n" + detail }
        return message
    }
}

/// Maps any error to the exit status the CLI should use.
public func exitStatus(for error: any Error) -> ExitStatus {
    if let e = error as? AphexError { return e.status }
    if let e = error as? CommandError { return e.isTimeout ? .timeout : .failed }
    if error is CancellationError { return .interrupted }
    return .failed
}
