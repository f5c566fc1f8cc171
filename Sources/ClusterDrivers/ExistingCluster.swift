import AphexCore
import KubeClient
import Foundation

/// A permission aphex needs on a cluster it does not manage.
public struct RequiredPermission: Sendable, Equatable {
    public var verb: String
    /// resource[.group] as `kubectl auth can-i` takes it.
    public var resource: String
    public var allNamespaces: Bool

    public init(_ verb: String, _ resource: String, allNamespaces: Bool = false) {
        self.verb = verb
        self.resource = resource
        self.allNamespaces = allNamespaces
    }

    /// "create customresourcedefinitions.apiextensions.k8s.io"
    public var text: String { "\(verb) \(resource)" + (allNamespaces ? " (all namespaces)" : "") }

    /// What bootstrap creates: namespaces, CRDs (ArgoCD, Tekton), cluster roles and bindings
    /// (their controllers), Secrets (generated credentials) in several namespaces.
    public static let bootstrap: [RequiredPermission] = [
        RequiredPermission("create", "namespaces"),
        RequiredPermission("create", "customresourcedefinitions.apiextensions.k8s.io"),
        RequiredPermission("create", "clusterroles.rbac.authorization.k8s.io"),
        RequiredPermission("create", "clusterrolebindings.rbac.authorization.k8s.io"),
        RequiredPermission("create", "secrets", allNamespaces: true)
    ]
}

/// A cluster aphex did not create (`--use-existing`, `--kubeconfig`, `--context`). It is
/// never created, changed or deleted by the driver: ensureCluster only verifies that the API
/// server answers and that the credentials may create what bootstrap creates.
public struct ExistingClusterDriver: ClusterDriver {
    public let host: HostContext
    public let clusterName: String
    public let kubeconfigPath: String
    public let context: String?
    public let permissions: [RequiredPermission]

    public init(
        host: HostContext, clusterName: String, kubeconfig: String, context: String?,
        permissions: [RequiredPermission] = RequiredPermission.bootstrap
    ) {
        self.host = host
        self.clusterName = clusterName
        self.kubeconfigPath = kubeconfig
        self.context = context
        self.permissions = permissions
    }

    public var driverName: String { "existing" }

    // MARK: API reads

    /// Per API request (the reachability and permission checks, the node read).
    static let requestTimeout: Duration = .seconds(10)

    /// The kubeconfig's context and the API client for it: KubeClient over libcurl, or kubectl
    /// for kubeconfigs only kubectl can authenticate with (`makeKubeAPI`). A kubeconfig that
    /// cannot be used is a usage error naming the fix.
    func connect() throws -> (endpoint: KubeEndpoint, api: any KubeAPI) {
        let endpoint = try Kubeconfig.load(path: kubeconfigPath).resolve(context: context)
        return (endpoint, makeKubeAPI(host: host, endpoint: endpoint, requestTimeout: Self.requestTimeout))
    }

    /// The SelfSubjectAccessReview `kubectl auth can-i VERB RESOURCE[.GROUP] [--all-namespaces]`
    /// sends: the context's namespace (else "default"), or every namespace ("").
    public func accessReview(_ p: RequiredPermission, namespace: String?) -> JSON {
        let parts = p.resource.split(separator: ".", maxSplits: 1).map(String.init)
        let attributes: JSON = [
            "namespace": .string(p.allNamespaces ? "" : (namespace ?? "default")),
            "verb": .string(p.verb),
            "group": .string(parts.count > 1 ? parts[1] : ""),
            "resource": .string(parts[0])
        ]
        return [
            "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": ["resourceAttributes": attributes]
        ]
    }

    static let accessReviewPath = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"

    public func isAvailable() async -> DriverAvailability {
        if !Kubeconfig.isReadable(kubeconfigPath) {
            return DriverAvailability(
                available: false,
                reason:
                    "The kubeconfig \(kubeconfigPath) does not exist or is not readable. Pass one with --kubeconfig.")
        }
        return .ok
    }

    var where_: String { "\(kubeconfigPath)" + (context.map { ", context \($0)" } ?? "") }

    public func ensureCluster() async throws -> ClusterAccess {
        let start = host.clock.now()
        let a = await isAvailable()
        guard a.available else { throw AphexError.usage(a.reason!) }
        try await StepTimer(
            host, "cluster.existing.reach", "Checking the API server of the existing cluster (\(where_))"
        ).run {
            try await checkReachable()
        }
        try await StepTimer(
            host, "cluster.existing.permissions",
            "Checking permissions (\(permissions.map(\.text).joined(separator: ", ")))"
        ).run {
            try await checkPermissions()
        }
        return ClusterAccess(
            driver: driverName, clusterName: clusterName, kubeconfig: kubeconfigPath, context: context,
            outcome: .existing, seconds: (host.clock.now() - start).seconds)
    }

    func checkReachable() async throws {
        func unreachable(_ detail: String) -> AphexError {
            AphexError(
                .prerequisite,
                """
                The existing cluster's API server did not answer (\(where_)). Nothing was changed. Check the \
                kubeconfig and context \
                (`\(Shell.quote(["kubectl"] + Kubeconfig.kubectlFlags(kubeconfigPath) + ["config", "get-contexts"]))`) \
                and that the cluster is running.
                """,
                detail: detail)
        }
        // A kubeconfig or context that cannot be used is a cluster that cannot be reached (exit
        // 4), as when kubectl was asked; the detail says what is wrong with it.
        let api: any KubeAPI
        do {
            api = try connect().api
        } catch let e as AphexError where e.status == .usage {
            throw unreachable(e.message)
        }
        let response: HTTPResponse
        do {
            response = try await api.request("GET", path: "/version", body: nil, contentType: nil)
        } catch let e as KubeAPIError {
            throw unreachable(e.description)
        }
        guard (200..<300).contains(response.status) else {
            let error = KubeClient.error(status: response.status, body: response.body, context: "GET /version")
            throw unreachable(error.description)
        }
    }

    /// Every required permission through a SelfSubjectAccessReview (what `kubectl auth can-i`
    /// asks). Missing ones are reported by name, all at once: exit 4 (a prerequisite), nothing
    /// changed.
    public func missingPermissions() async throws -> [RequiredPermission] {
        let (endpoint, api) = try connect()
        let reviews = permissions.map { accessReview($0, namespace: endpoint.namespace) }
        // The checks are independent: all at once.
        typealias Answer = Result<HTTPResponse, any Error>
        let answers: [Answer] = await withTaskGroup(of: (Int, Answer).self) { group in
            for (i, review) in reviews.enumerated() {
                group.addTask {
                    do {
                        return (
                            i,
                            .success(
                                try await api.request(
                                    "POST", path: Self.accessReviewPath,
                                    body: Array(review.serialized().utf8),
                                    contentType: "application/json"))
                        )
                    } catch {
                        return (i, .failure(error))
                    }
                }
            }
            var out = [Answer?](repeating: nil, count: reviews.count)
            for await (i, r) in group { out[i] = r }
            return out.compactMap { $0 }
        }
        var missing: [RequiredPermission] = []
        for (i, p) in permissions.enumerated() {
            let failed =
                "Checking the permission to \(p.text) (a SelfSubjectAccessReview) failed; "
                + "could not check permissions."
            let response: HTTPResponse
            switch answers[i] {
            case .success(let r): response = r
            case .failure(let e as KubeAPIError): throw AphexError.failed(failed, detail: e.description)
            case .failure(let e): throw e
            }
            guard (200..<300).contains(response.status),
                let allowed = (try? JSON.parse(response.body))?[path: "status", "allowed"]?.bool
            else {
                let why =
                    (200..<300).contains(response.status)
                    ? "the answer has no status.allowed"
                    : KubeClient.error(
                        status: response.status, body: response.body,
                        context: "POST \(Self.accessReviewPath)"
                    ).description
                throw AphexError.failed(failed, detail: why)
            }
            if !allowed { missing.append(p) }
        }
        return missing
    }

    func checkPermissions() async throws {
        let missing = try await missingPermissions()
        guard missing.isEmpty else {
            throw AphexError(
                .prerequisite,
                """
                The credentials in \(where_) may not \(missing.map(\.text).joined(separator: ", ")). Nothing was \
                changed. Bootstrap creates namespaces, CRDs, cluster roles and bindings and Secrets: use a \
                cluster-admin context (--context), or ask an administrator to bind you to cluster-admin.
                """,
                detail: "missing: " + missing.map(\.text).joined(separator: "; "))
        }
    }

    @discardableResult
    public func delete() async throws -> Bool {
        throw AphexError.usage(
            """
            aphex does not delete clusters it did not create (\(where_)). `aphex destroy --use-existing` removes \
            only what aphex installed on it.
            """
        )
    }

    public func kubeconfig() async throws -> ClusterAccess {
        ClusterAccess(
            driver: driverName, clusterName: clusterName, kubeconfig: kubeconfigPath, context: context,
            outcome: .existing)
    }

    public func describe() async throws -> ClusterDescription {
        var d = ClusterDescription(
            driver: driverName, clusterName: clusterName,
            exists: Kubeconfig.isReadable(kubeconfigPath), managed: false,
            kubeconfig: kubeconfigPath, context: context)
        guard d.exists else {
            d.problem = "kubeconfig \(kubeconfigPath) not readable"
            return d
        }
        do {
            d.nodes = try await NodeWaiter.readNodes(api: connect().api)
            d.apiReachable = true
        } catch let e as KubeAPIError {
            d.problem = "the API server did not answer: " + e.description
        }
        return d
    }

    public func planEnsure() -> [PlannedAction] {
        [PlannedAction("Check that the existing cluster's API server answers (\(where_)): GET /version")]
            + permissions.map { PlannedAction("Check permission: \($0.text) (POST \(Self.accessReviewPath))") }
    }

    public func planDelete() -> [PlannedAction] {
        [PlannedAction("Nothing: aphex never deletes a cluster it did not create")]
    }
}
