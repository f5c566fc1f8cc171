import AphexCore
import Foundation

/// How `KubeClient` tries a request again after a transient failure: a few tries, a
/// jittered exponential backoff between them, the server's `Retry-After` when it sends one.
/// What is retried, and why it is safe, is in docs/kube-client.md ("Retries").
public struct KubeRetryPolicy: Sendable {
    /// Tries per request, the first included.
    public var attempts: Int
    /// The wait after the first failed try; doubled after each further one, capped at
    /// `maxDelay`, then jittered to 50-150 % so that concurrent requests do not retry in step.
    public var baseDelay: Duration
    public var maxDelay: Duration
    /// A `Retry-After` longer than this is not waited for: the answer is returned as it is
    /// (a command that reports status must not hang on a server asking for minutes).
    public var maxRetryAfter: Duration
    /// Uniform in [0, 1): the jitter's source (tests fix it).
    public var random: @Sendable () -> Double

    public init(
        attempts: Int, baseDelay: Duration = .milliseconds(200), maxDelay: Duration = .seconds(2),
        maxRetryAfter: Duration = .seconds(10), random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }
    ) {
        self.attempts = max(1, attempts)
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.maxRetryAfter = maxRetryAfter
        self.random = random
    }

    /// What every API client of aphex uses.
    public static let standard = KubeRetryPolicy(attempts: 3)
    /// One try (tests of what a single failure does).
    public static let none = KubeRetryPolicy(attempts: 1)

    /// The wait after failed try number `attempt` (1-based), jittered.
    public func backoff(attempt: Int) -> Duration {
        var d = baseDelay
        for _ in 1..<max(1, attempt) where d < maxDelay { d = d * 2 }
        return min(d, maxDelay) * (0.5 + min(max(random(), 0), 1))
    }

    /// How long to wait before trying `response`'s request again, or nil to return it as it
    /// is. 429: any request (the API server's flow control turns it away before any handler
    /// ran). 502/503/504: a request safe to send twice. Any other 5xx only when it carries
    /// `Retry-After` (the server says it did not act): a 500 is usually deterministic (a
    /// failing admission webhook, a rejected field), and the cert-manager proof counts on it.
    public func delay(after response: HTTPResponse, attempt: Int, replayable: Bool, now: Date) -> Duration? {
        let retryAfter = response.headers["retry-after"].flatMap { Self.parseRetryAfter($0, now: now) }
        let status = response.status
        let retryable =
            status == 429
            || (replayable && [502, 503, 504].contains(status))
            || (replayable && (500...599).contains(status) && retryAfter != nil)
        guard retryable else { return nil }
        if let retryAfter {
            return retryAfter <= maxRetryAfter ? retryAfter : nil
        }
        return backoff(attempt: attempt)
    }

    /// `Retry-After: 3` or an HTTP date (RFC 9110 10.2.3); nil when unreadable.
    public static func parseRetryAfter(_ value: String, now: Date) -> Duration? {
        let text = value.trimmingCharacters(in: .whitespaces)
        if let seconds = Int(text) { return .seconds(max(0, seconds)) }
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = f.date(from: text) else { return nil }
        return .milliseconds(Int64(max(0, date.timeIntervalSince(now)) * 1000))
    }

    /// Whether a request may be sent again after it may have reached the server (a reset
    /// after the request went out, a 503 from a proxy in front of it): reads (GET, HEAD),
    /// dry runs (`dryRun=All`: the server changes nothing), and patches whose second
    /// application changes nothing more (JSON merge, strategic merge, server-side apply).
    /// Not a create (POST: a second one answers 409 AlreadyExists for the object the first
    /// made), a replace (PUT: its resourceVersion conflicts with the first), a DELETE (404 for
    /// what the first deleted) or a JSON Patch (`add` to a list applies twice).
    public static func isReplayable(method: String, path: String, contentType: String?) -> Bool {
        let m = method.uppercased()
        if m == "GET" || m == "HEAD" { return true }
        if let query = path.split(separator: "?", maxSplits: 1).dropFirst().first,
            query.split(separator: "&").contains(where: { $0.hasPrefix("dryRun=") })
        {
            return true
        }
        if m == "PATCH", let type = contentType?.lowercased() {
            return type.hasPrefix("application/merge-patch+json")
                || type.hasPrefix("application/strategic-merge-patch+json")
                || type.hasPrefix("application/apply-patch")
        }
        return false
    }
}
