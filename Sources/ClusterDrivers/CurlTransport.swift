import CCurl
import Foundation

/// The real HTTP transport, over libcurl. (Full implementation: keep-alive handle reuse,
/// TLS from in-memory PEM blobs, streaming for WATCH.)
public final class CurlTransport: HTTPTransport, @unchecked Sendable {
    public let tls: TLSOptions

    public init(tls: TLSOptions = TLSOptions()) {
        self.tls = tls
    }

    public func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        throw TransportError.other("CurlTransport not implemented yet")
    }

    public func stream(_ request: HTTPRequest, onData: @escaping @Sendable ([UInt8]) -> Bool) async throws -> Int {
        throw TransportError.other("CurlTransport not implemented yet")
    }
}
