import Foundation

/// The HTTP transport seam. The real one is libcurl (`CurlTransport`); tests serve the
/// simulated cluster through an in-process transport or a loopback server.
public struct HTTPRequest: Sendable, Equatable {
    public var method: String
    public var url: String
    public var headers: [String: String]
    public var body: [UInt8]?
    /// Whole-request timeout; nil = transport default.
    public var timeout: Duration?
    /// The largest response body accepted (`send`); past it the transfer stops with
    /// `TransportError.tooLarge`. nil = the transport's default cap.
    public var maxResponseBytes: Int?

    public init(
        method: String = "GET", url: String, headers: [String: String] = [:],
        body: [UInt8]? = nil, timeout: Duration? = nil, maxResponseBytes: Int? = nil
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.maxResponseBytes = maxResponseBytes
    }
}

public struct HTTPResponse: Sendable, Equatable {
    public var status: Int
    /// Header names lower-cased.
    public var headers: [String: String]
    public var body: [UInt8]

    public init(status: Int, headers: [String: String] = [:], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }
    public var text: String { String(decoding: body, as: UTF8.self) }
}

/// Transport-level failures (no HTTP status was received).
public enum TransportError: Error, Sendable, Equatable, CustomStringConvertible {
    case connectionRefused(String)
    case connectionReset(String)
    case timedOut(String)
    case tls(String)
    case dns(String)
    /// The response passed the request's size cap (the message names the URL and the cap).
    case tooLarge(String)
    case other(String)

    public var description: String {
        switch self {
        case .connectionRefused(let u): return "connection refused: \(u)"
        case .connectionReset(let u): return "connection reset: \(u)"
        case .timedOut(let u): return "timed out: \(u)"
        case .tls(let m): return "TLS error: \(m)"
        case .dns(let u): return "could not resolve host: \(u)"
        case .tooLarge(let m): return m
        case .other(let m): return m
        }
    }

    /// A failure another attempt can cure: nobody accepted the connection (a restarting API
    /// server, a load balancer between backends) or it dropped before an answer (a reset, an
    /// EOF, also during the TLS handshake, which the transport reports as a reset). Not a
    /// timeout (the whole budget is already spent), a TLS verification failure, DNS or a cap.
    public var isRetryable: Bool {
        switch self {
        case .connectionRefused, .connectionReset: return true
        default: return false
        }
    }
}

/// TLS and credentials for a transport (from a kubeconfig, or none for plain fetches).
public struct TLSOptions: Sendable, Equatable {
    public var caPEM: [UInt8]?
    public var clientCertPEM: [UInt8]?
    public var clientKeyPEM: [UInt8]?
    public var insecureSkipVerify: Bool
    public var bearerToken: String?

    public init(
        caPEM: [UInt8]? = nil, clientCertPEM: [UInt8]? = nil, clientKeyPEM: [UInt8]? = nil,
        insecureSkipVerify: Bool = false, bearerToken: String? = nil
    ) {
        self.caPEM = caPEM
        self.clientCertPEM = clientCertPEM
        self.clientKeyPEM = clientKeyPEM
        self.insecureSkipVerify = insecureSkipVerify
        self.bearerToken = bearerToken
    }
}

public protocol HTTPTransport: Sendable {
    /// One request, whole response (non-2xx is a response, not an error).
    func send(_ request: HTTPRequest) async throws -> HTTPResponse
    /// A streaming request (WATCH): `onData` gets body bytes as they arrive and returns false
    /// to stop. Returns the HTTP status. Cancellation of the task ends the stream.
    func stream(_ request: HTTPRequest, onData: @escaping @Sendable ([UInt8]) -> Bool) async throws -> Int
}

/// "32 MiB", "512 KiB", "100 bytes".
public func formatBytes(_ n: Int) -> String {
    if n >= 1 << 20 && n % (1 << 20) == 0 { return "\(n >> 20) MiB" }
    if n >= 1 << 20 { return String(format: "%.1f MiB", Double(n) / Double(1 << 20)) }
    if n >= 1 << 10 && n % (1 << 10) == 0 { return "\(n >> 10) KiB" }
    return "\(n) bytes"
}
