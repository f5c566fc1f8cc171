import AphexCore
import KubeClient
import Foundation

/// The in-process HTTP transport: serves the simulated API without sockets. Faults surface
/// as the real transport's errors (`TransportError.connectionRefused/Reset/timedOut`).
public struct SimTransport: HTTPTransport {
    public let api: SimAPI
    public let baseURL: String

    public init(api: SimAPI, baseURL: String = "http://sim.local") {
        self.api = api
        self.baseURL = baseURL
    }

    public func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        var headers: [String: String] = [:]
        for (k, v) in request.headers { headers[k.lowercased()] = v }
        let result = await api.handle(
            method: request.method, target: request.url, headers: headers, body: request.body ?? [],
            via: "in-process")
        switch result {
        case .response(let r): return r
        case .fault(let f): throw await Self.transportError(f, request, api.world)
        }
    }

    static func transportError(_ f: SimFault, _ request: HTTPRequest, _ world: SimWorld) async -> TransportError {
        switch f {
        case .down: return .connectionRefused(request.url)
        case .reset: return .connectionReset(request.url)
        case .timeout:
            let hold = min(request.timeout ?? world.faults.timeoutHold, world.faults.timeoutHold)
            try? await world.clock.sleep(for: hold)
            return .timedOut(request.url)
        case .http503, .http429: return .other("answered as a response, not a transport fault")
        }
    }

    public func stream(_ request: HTTPRequest, onData: @escaping @Sendable ([UInt8]) -> Bool) async throws -> Int {
        if request.url.contains("watch=true") || request.url.contains("watch=1") {
            return try await api.watch(target: request.url, via: "in-process", onData: onData)
        }
        let r = try await send(request)
        _ = onData(r.body)
        return r.status
    }
}
