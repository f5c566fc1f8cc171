import AphexCore
import KubeClient
import ClusterDrivers
import Foundation

/// Does Authentik accept the bootstrap-token aphex generated?
public struct AuthTokenCheck: Sendable, Codable, Equatable {
    public enum Result: String, Sendable, Codable {
        /// Authentik answered /api/v3/core/users/me/ with 200 for the token (or the config-sync Job,
        /// which authenticates with the same token, succeeded).
        case verified
        /// Authentik answered 401/403 to the token itself: a definite rejection.
        case rejected
        /// Not reachable from here (proxy error, 5xx, no endpoints), or the answer proves nothing.
        /// Does not block convergence: ArgoCD's health of the auth app already gates.
        case unverified
    }
    public var result: Result
    /// Why (never contains the token).
    public var detail: String
}

public enum AuthTokenVerifier {
    /// Runs the check. Never throws: every failure becomes a verdict; the token never appears
    /// in a message, log or argv (it travels only in a request header).
    public static func check(api: any KubeAPI, catalog: ConvergenceCatalog = .default) async -> AuthTokenCheck {
        let secretName = "\(catalog.authNamespace)/\(catalog.authSecret)"
        let secret: JSON?
        do {
            secret = try await api.get(.secrets, namespace: catalog.authNamespace, name: catalog.authSecret)
        } catch {
            return AuthTokenCheck(result: .unverified, detail: "could not read Secret \(secretName): \(error)")
        }
        guard let encoded = secret?[path: "data", catalog.authTokenKey]?.string,
            let data = Data(base64Encoded: encoded),
            let token = String(data: data, encoding: .utf8)?.trimmingCharacters(in: .whitespacesAndNewlines),
            !token.isEmpty
        else {
            return AuthTokenCheck(
                result: .unverified,
                detail: secret == nil
                    ? "Secret \(secretName) does not exist (run `aphex secrets repair`)"
                    : "Secret \(secretName) has no \(catalog.authTokenKey) key (run `aphex secrets repair`)")
        }
        let service = "\(catalog.authService):\(catalog.authServicePort)"
        let path = "/api/v1/namespaces/\(catalog.authNamespace)/services/\(service)/proxy/api/v3/core/users/me/"
        var direct: AuthTokenCheck
        do {
            let r = try await api.request(
                "GET", path: path, body: nil, contentType: nil,
                headers: ["Authorization": "Bearer \(token)", "Accept": "application/json"])
            direct = interpret(status: r.status, body: r.body)
        } catch KubeAPIError.unsupported(let why) {
            // The kubectl fallback (exec-plugin kubeconfigs) cannot present the token: said as such,
            // not as an unreachable Authentik.
            direct = AuthTokenCheck(
                result: .unverified, detail: "the token cannot be presented to Authentik: \(scrub(why, token))")
        } catch {
            direct = AuthTokenCheck(
                result: .unverified,
                detail:
                    """
                    Authentik is not reachable through the API server's service proxy: \
                    \(scrub(String(describing: error), token))
                    """
            )
        }
        if direct.result != .unverified { return direct }
        // Indirect proof: the config-sync Job calls Authentik's API with the same token.
        if let job = try? await api.get(.jobs, namespace: catalog.authNamespace, name: catalog.authConfigSyncJob),
            (job[path: "status", "succeeded"]?.int ?? 0) > 0
        {
            return AuthTokenCheck(
                result: .verified,
                detail:
                    """
                    Job \(catalog.authNamespace)/\(catalog.authConfigSyncJob), which authenticates with the \
                    bootstrap-token, succeeded (\(direct.detail))
                    """
            )
        }
        return direct
    }

    /// Maps Authentik's answer to a verdict (pure).
    public static func interpret(status: Int, body: [UInt8]) -> AuthTokenCheck {
        let parsed = try? JSON.parse(body)
        let detail = parsed?["detail"]?.string ?? ""
        // A Kubernetes Status object is the API server's own answer (e.g. it tried the header as
        // its credentials), not Authentik's: it proves nothing about the token.
        if parsed?["kind"]?.string == "Status" {
            return AuthTokenCheck(
                result: .unverified,
                detail:
                    """
                    the API server answered HTTP \(status) (\(parsed?["message"]?.string ?? "no message")), not \
                    Authentik
                    """
            )
        }
        switch status {
        case 200..<300:
            let user = (try? JSON.parse(body))?[path: "user", "username"]?.string
            return AuthTokenCheck(
                result: .verified,
                detail: "Authentik accepted the bootstrap-token" + (user.map { " (user \($0))" } ?? ""))
        case 401, 403:
            // Django REST framework says this when no credentials arrived at all: the API server
            // strips the Authorization header after authenticating aphex, so this proves nothing.
            if detail.contains("credentials were not provided") {
                return AuthTokenCheck(
                    result: .unverified,
                    detail: "the Authorization header did not reach Authentik through the API server's service proxy")
            }
            return AuthTokenCheck(
                result: .rejected,
                detail: "Authentik rejected the bootstrap-token with HTTP \(status)"
                    + (detail.isEmpty ? "" : " (\(detail))")
                        + """
                        : AUTHENTIK_BOOTSTRAP_TOKEN does not match Secret authentik-secrets key bootstrap-token. \
                        Authentik reads it only on first start: check the Deployment's env, then restart \
                        authentik-server or run `aphex secrets repair`.
                        """
            )
        default:
            return AuthTokenCheck(
                result: .unverified,
                detail: "Authentik is not reachable from here (HTTP \(status) through the API server's service proxy)")
        }
    }

    static func scrub(_ s: String, _ token: String) -> String {
        s.replacingOccurrences(of: token, with: "<redacted>")
    }
}
