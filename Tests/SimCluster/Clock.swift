import AphexCore
import KubeClient
import Foundation

/// Virtual time for in-process tests. In `.autoAdvance` mode (the default) `sleep` moves time
/// forward instantly, so a 20-minute wait costs microseconds; in `.manual` mode sleepers wait
/// until a test calls `advance(by:)`. `wallNow()` is a fixed epoch plus virtual time.
public final class VirtualClock: TimeSource, @unchecked Sendable {
    public enum Mode: Sendable { case autoAdvance, manual }

    private let lock = NSLock()
    private var elapsed: Duration = .zero
    private var waiters: [(deadline: Duration, continuation: CheckedContinuation<Void, Never>)] = []
    public let mode: Mode
    public let epoch: Date

    public init(mode: Mode = .autoAdvance, epoch: Date = Date(timeIntervalSince1970: 1_795_000_000)) {
        self.mode = mode
        self.epoch = epoch
    }

    public func now() -> Duration {
        lock.lock(); defer { lock.unlock() }
        return elapsed
    }

    public func wallNow() -> Date {
        epoch.addingTimeInterval(now().seconds)
    }

    public func sleep(for duration: Duration) async throws {
        try Task.checkCancellation()
        switch mode {
        case .autoAdvance:
            advance(by: duration)
            await Task.yield()
        case .manual:
            let deadline = now() + duration
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                lock.lock()
                if elapsed >= deadline { lock.unlock(); c.resume(); return }
                waiters.append((deadline, c))
                lock.unlock()
            }
            try Task.checkCancellation()
        }
    }

    /// Moves virtual time forward and wakes every sleeper whose deadline has passed.
    public func advance(by duration: Duration) {
        lock.lock()
        if duration > .zero { elapsed += duration }
        let now = elapsed
        let due = waiters.filter { $0.deadline <= now }
        waiters.removeAll { $0.deadline <= now }
        lock.unlock()
        for w in due { w.continuation.resume() }
    }

    /// Number of tasks sleeping in `.manual` mode.
    public var sleepers: Int { lock.lock(); defer { lock.unlock() }; return waiters.count }
}
