import AphexCore
import KubeClient
import Foundation

/// An injected API failure.
public enum SimFault: String, Sendable, Codable, CaseIterable {
    /// HTTP 503 ServiceUnavailable from the API server.
    case http503
    /// HTTP 429 from the API server's flow control (API Priority and Fairness, max-in-flight):
    /// `Retry-After: 1` and a plain-text body, as `tooManyRequests` in k8s.io/apiserver writes it.
    case http429
    /// The connection is reset before a response.
    case reset
    /// The request hangs until the client gives up (or `timeoutSeconds`).
    case timeout
    /// The API server is down: connection refused.
    case down
}

/// Decides, per API call, whether it fails. Deterministic (seeded) so tests are repeatable.
/// Configurable from the scenario and at run time (`configure`, env, `aphex-sim serve` flags,
/// POST /_sim/faults).
public final class FaultInjector: @unchecked Sendable {
    private let lock = NSLock()
    private var plan: Scenario.Faults
    private var rng: UInt64
    private var served = 0
    /// Extra down window set at run time (scenario seconds).
    private var manualDown: ClosedRange<Double>?

    public init(_ plan: Scenario.Faults) {
        self.plan = plan
        self.rng = plan.seed == 0 ? 0x9E3779B97F4A7C15 : plan.seed
    }

    public var current: Scenario.Faults {
        lock.lock()
        defer { lock.unlock() }
        return plan
    }

    /// Replaces the plan (e.g. `errorRate: 0.2, kinds: ["http503"]`).
    public func configure(_ update: (inout Scenario.Faults) -> Void) {
        lock.lock()
        defer { lock.unlock() }
        update(&plan)
        rng = plan.seed == 0 ? 0x9E3779B97F4A7C15 : plan.seed
    }

    /// The API server refuses connections between `from` and `to` (scenario seconds).
    public func down(from: Double, to: Double) {
        lock.lock()
        manualDown = from...to
        lock.unlock()
    }

    public func isDown(at t: Double) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if let m = manualDown, m.contains(t) { return true }
        return plan.downWindows.contains { $0.contains(t) }
    }

    public var latency: Duration {
        lock.lock()
        defer { lock.unlock() }
        return .milliseconds(Int64(plan.latencyMs.rounded()))
    }
    public var timeoutHold: Duration {
        lock.lock()
        defer { lock.unlock() }
        return .milliseconds(Int64((plan.timeoutSeconds * 1000).rounded()))
    }

    /// Draws the fate of one API call at scenario time `t`.
    public func decide(at t: Double) -> SimFault? {
        if isDown(at: t) { return .down }
        lock.lock()
        defer { lock.unlock() }
        served += 1
        guard plan.errorRate > 0, served > plan.graceRequests, !plan.kinds.isEmpty else { return nil }
        let r = next()
        guard Double(r % 1_000_000) / 1_000_000 < plan.errorRate else { return nil }
        let kind = plan.kinds[Int(next() % UInt64(plan.kinds.count))]
        return SimFault(rawValue: kind) ?? .http503
    }

    private func next() -> UInt64 {
        rng &+= 0x9E3779B97F4A7C15
        var z = rng
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }
}

/// Certificates the simulator hands out (a real PEM, so clients that decode it succeed).
public enum SimCerts {
    /// base64 of a self-signed PEM certificate (CN=cert-manager-webhook-ca): the caBundle
    /// cainjector writes.
    public static let webhookCABase64 =
        """
        LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJtekNDQVVHZ0F3SUJBZ0lVRkhKWVVTbnBJeGhoWlpTQmNLa3BFVTNYWThnd0NnWU\
        lLb1pJemowRUF3SXcKSWpFZ01CNEdBMVVFQXd3WFkyVnlkQzF0WVc1aFoyVnlMWGRsWW1odmIyc3RZMkV3SUJjTk1qWXhNVEkwTVRregpO\
        ekF5V2hnUE1qRXlOakV3TXpFeE9UTTNNREphTUNJeElEQWVCZ05WQkFNTUYyTmxjblF0YldGdVlXZGxjaTEzClpXSm9iMjlyTFdOaE1Ga3\
        dFd1lIS29aSXpqMENBUVlJS29aSXpqMERBUWNEUWdBRWlkL1pvSkczZTgyT20rdU4Kc1VRc0lXcFNjSGlhQ3Zob2xtcnRjbXhhOXQrSmZi\
        Z2M0L1NxdWRqb2NlcXl2Y1F1Um4rZExtbG1pUmdrR1NRSworcXZwY0tOVE1GRXdIUVlEVlIwT0JCWUVGTlFzcmVQOEZSQTQ5bWdkZ1VhOG\
        14YzhTVFFhTUI4R0ExVWRJd1FZCk1CYUFGTlFzcmVQOEZSQTQ5bWdkZ1VhOG14YzhTVFFhTUE4R0ExVWRFd0VCL3dRRk1BTUJBZjh3Q2dZ\
        SUtvWkkKemowRUF3SURTQUF3UlFJZ2ZvcThPRWZrNUNqNkg3WWZ6T2llOWpCclpvVTI2blpOTEtEcWJnQlhYNjhDSVFEOQp0dUJIZ0FiTX\
        B0WGsxUkpURkVXQ1BxS09seEo5Tnk5TFgyQlhWN0hxb3c9PQotLS0tLUVORCBDRVJUSUZJQ0FURS0tLS0tCg==
        """
}
