import AphexCore
import KubeClient
import ClusterDrivers
import Foundation

/// What a run of `bootstrap`, `wait` or `status` observed, on one time axis (seconds from the
/// start of the run). `--timeline FILE.json` writes it as is; the SVG timeline and the JUnit
/// report are rendered from it (docs/ci.md).
public struct RunTimeline: Sendable, Codable, Equatable {
    public static let currentSchemaVersion = 1

    /// How a phase bar is coloured: the app phases, plus `stuck` (not converged when a timeout
    /// or Ctrl-C ended the run, in the wave that blocked it) and `waiting` (its wave has not
    /// started).
    public enum Phase: String, Sendable, Codable, Equatable, CaseIterable {
        case waiting, pending, progressing, converged, failed, stuck
    }

    public struct Step: Sendable, Codable, Equatable {
        public var id: String
        public var title: String
        public var start: Double
        /// nil while running (at the end of the run: it was interrupted or timed out).
        public var end: Double?
        /// done, unchanged, skipped, planned, failed, or running.
        public var outcome: String
    }

    public struct Segment: Sendable, Codable, Equatable {
        public var phase: Phase
        public var start: Double
        public var end: Double
    }

    public struct App: Sendable, Codable, Equatable {
        public var name: String
        /// The final verdict (`stuck` / `failed` when that ended the run).
        public var phase: Phase
        public var reason: String
        /// The diagnosis aphex printed for this Application (app, resources, pods, webhook class,
        /// what to do), when it is stuck or failed.
        public var diagnosis: String?
        /// One line of it: the JUnit failure message, the SVG tooltip's first line.
        public var summary: String?
        public var segments: [Segment]
    }

    public struct Wave: Sendable, Codable, Equatable {
        public var wave: Int
        /// When every earlier wave was converged (for a wave aphex never started: when ArgoCD
        /// first worked on one of its apps; nil: nothing happened in it).
        public var start: Double?
        /// When it converged (all its apps converged).
        public var end: Double?
        /// Converged in aphex's sense: every earlier wave too.
        public var converged: Bool
        /// The earlier wave that held it back (aphex never started it).
        public var blockedBy: Int?
        /// The wave's observed duration: start to convergence, or to the end of the run.
        public var seconds: Double
        public var apps: [App]
    }

    public var schemaVersion: Int
    /// bootstrap, wait or status.
    public var command: String
    public var clusterName: String
    public var startedAt: String
    public var seconds: Double
    /// converged, failed (exit 1), timeout (exit 3), interrupted (130), not-converged (status,
    /// or a bootstrap that ended before its wait), or running.
    public var outcome: String
    /// The wait's deadline (seconds from the start), when the run has one.
    public var timeoutAt: Double?
    /// When Ctrl-C stopped the run.
    public var interruptedAt: Double?
    public var headline: String?
    /// The whole diagnosis as printed on stderr.
    public var diagnosis: String?
    /// The error that ended a bootstrap before (or instead of) its wait.
    public var error: String?
    public var steps: [Step]
    public var waves: [Wave]
    /// When the convergence wait began (waves are observed from here on).
    public var waitStart: Double?
}

/// `--junit FILE` and `--timeline FILE.svg|FILE.json`.
public struct RunReportOptions: Sendable, Equatable {
    public var junit: String?
    public var timeline: String?
    public init(junit: String? = nil, timeline: String? = nil) {
        self.junit = junit
        self.timeline = timeline
    }
    public var isEmpty: Bool { junit == nil && timeline == nil }
}

/// Told by the convergence waiter what it sees (a hook: the waiter calls it after each
/// evaluation and once with the outcome).
public protocol ConvergenceObserver: Sendable {
    /// The wait begins, with this deadline.
    func waitStarted(at time: Duration, timeout: Duration)
    func observe(_ evaluation: PlatformEvaluation, at time: Duration)
    func finished(_ outcome: WaitOutcome, at time: Duration)
    /// A step ran at other times than its turn in the pipeline (it was started early).
    func stepRan(id: String, from start: Duration, to end: Duration)
}

extension ConvergenceObserver {
    public func stepRan(id: String, from start: Duration, to end: Duration) {}
}
