import AphexCore
import Foundation

/// Virtual time for in-process tests, the one fake `TimeSource`. In `.autoAdvance` mode (the
/// default) `sleep` moves time forward instantly, so a 20-minute wait costs microseconds; in
/// `.manual` mode sleepers wait until a test calls `advance(by:)`. `wallNow()` is a fixed epoch
/// plus virtual time. Every sleep asked of this clock is kept (`sleeps`), and `onAdvance` runs
/// after each advance (a fake cluster applies its timeline there).
public final class VirtualClock: TimeSource, @unchecked Sendable {
    public enum Mode: Sendable { case autoAdvance, manual }

    /// The time itself, shared by the clocks made with `init(sharing:)`.
    private final class Timeline: @unchecked Sendable {
        let lock = NSLock()
        var elapsed: Duration = .zero
        var waiters: [(deadline: Duration, continuation: CheckedContinuation<Void, Never>)] = []
        var hook: (@Sendable () -> Void)?
    }

    private let timeline: Timeline
    private let logLock = NSLock()
    private var sleepLog: [Duration] = []
    public let mode: Mode
    public let epoch: Date

    public init(mode: Mode = .autoAdvance, epoch: Date = Date(timeIntervalSince1970: 1_795_000_000)) {
        self.timeline = Timeline()
        self.mode = mode
        self.epoch = epoch
    }

    /// A clock on `other`'s time (the same now, sleepers and advances) that keeps its own
    /// `sleeps`: what one client slept while others sleep on the same clock.
    public init(sharing other: VirtualClock) {
        self.timeline = other.timeline
        self.mode = other.mode
        self.epoch = other.epoch
    }

    public func now() -> Duration {
        timeline.lock.withLock { timeline.elapsed }
    }

    public func wallNow() -> Date {
        epoch.addingTimeInterval(now().seconds)
    }

    public func sleep(for duration: Duration) async throws {
        try Task.checkCancellation()
        logLock.withLock { sleepLog.append(duration) }
        switch mode {
        case .autoAdvance:
            advance(by: duration)
            await Task.yield()
        case .manual:
            let deadline = now() + duration
            let t = timeline
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                t.lock.lock()
                if t.elapsed >= deadline {
                    t.lock.unlock()
                    c.resume()
                    return
                }
                t.waiters.append((deadline, c))
                t.lock.unlock()
            }
            try Task.checkCancellation()
        }
    }

    /// Moves virtual time forward, wakes every sleeper whose deadline has passed, then runs
    /// `onAdvance`.
    public func advance(by duration: Duration) {
        let t = timeline
        t.lock.lock()
        if duration > .zero { t.elapsed += duration }
        let now = t.elapsed
        let due = t.waiters.filter { $0.deadline <= now }
        t.waiters.removeAll { $0.deadline <= now }
        let hook = t.hook
        t.lock.unlock()
        for w in due { w.continuation.resume() }
        hook?()
    }

    /// Every sleep asked of this clock (backoffs, poll intervals), in order.
    public var sleeps: [Duration] { logLock.withLock { sleepLog } }

    /// Runs after every advance, outside the clock's lock.
    public var onAdvance: (@Sendable () -> Void)? {
        get { timeline.lock.withLock { timeline.hook } }
        set { timeline.lock.withLock { timeline.hook = newValue } }
    }
}
