import AphexCore
import KubeClient
import Foundation

/// A scenario: what the simulated cluster looks like and how its controllers behave over time.
/// Loaded from Tests/SimCluster/Scenarios/NAME.yaml (see docs/testing.md for the format).
public struct Scenario: Sendable {
    public struct Workload: Sendable, Equatable {
        public var kind: String  // Deployment | StatefulSet | DaemonSet
        public var name: String
        public var namespace: String
        public var image: String
        public var replicas: Int
    }

    public struct App: Sendable, Equatable {
        public var name: String
        public var wave: Int
        /// Destination namespace (created by the sync, CreateNamespace=true).
        public var namespace: String
        public var path: String
        public var workloads: [Workload]
        /// Never syncs: stays OutOfSync with a failing, retrying operation.
        public var neverSyncs: Bool
        /// Becomes Degraded this many seconds after it was first Healthy (and stays so).
        public var degradeAfter: Double?
        public var degradedMessage: String
        /// Role played by the app: "cert-manager" (webhook, CRDs, caBundle), "authentik", or
        /// "cert-foundation" (its sync creates a ClusterIssuer, admitted through cert-manager's
        /// webhook: while that webhook fails, the apply fails and ArgoCD retries, then gives up).
        public var role: String?
        /// A PostSync hook Job (cert-manager's chart: `cert-manager-startupapicheck`), Running from
        /// the sync until `failsAfter` seconds later, when it fails and with it the operation.
        public var hook: Hook?
        /// The Application's `syncPolicy.retry.limit` (ArgoCD retries a failed operation this often).
        public var retryLimit: Int = 5
    }

    public struct Hook: Sendable, Equatable {
        public var name: String
        /// "PostSync" (ArgoCD's name for Helm's post-install).
        public var type: String
        /// Seconds after the sync applied the app's objects.
        public var failsAfter: Double
    }

    public struct Timings: Sendable, Equatable {
        public var crdEstablish: Double = 1
        public var workloadReady: Double = 8
        public var nodeReady: Double = 5
        public var rootSync: Double = 3
        public var appSync: Double = 4
        public var appHealthy: Double = 6
        public var webhookEndpoints: Double = 2
        public var caBundle: Double = 3
        public var refresh: Double = 1
        public var finalizer: Double = 2
        /// Per-workload overrides: "namespace/name" -> seconds.
        public var workloadOverrides: [String: Double] = [:]
    }

    public struct Faults: Sendable, Equatable {
        /// Fraction (0...1) of API calls that fail.
        public var errorRate: Double = 0
        /// Which failures to draw from: http503, http429, reset, timeout.
        public var kinds: [String] = ["http503"]
        public var seed: UInt64 = 42
        /// API server down (connection refused) between these scenario times, in seconds.
        public var downWindows: [ClosedRange<Double>] = []
        /// Added to every API request, milliseconds.
        public var latencyMs: Double = 0
        /// Seconds a "timeout" fault holds the request before failing.
        public var timeoutSeconds: Double = 5
        /// First N API requests are exempt (lets a test start cleanly).
        public var graceRequests: Int = 0
    }

    public struct Cluster: Sendable, Equatable {
        /// The cluster (and its API) exists from the start.
        public var exists: Bool = true
        public var name: String = "platform-cluster"
        /// kind | k3s | existing
        public var flavor: String = "kind"
        public var kubernetesVersion: String = "v1.32.2"
        public var k3sVersion: String = "v1.31.4+k3s1"
        /// `kind create cluster` fails half-way (after nodes are prepared).
        public var createFails: Bool = false
        /// `kind create cluster` leaves a cluster whose API never answers.
        public var broken: Bool = false
    }

    public struct Host: Sendable, Equatable {
        public var docker: Bool = true
        /// none | present | broken
        public var gpu: String = "none"
        public var k3sInstalled: Bool = false
        /// RBAC: (verb resource) pairs `auth can-i` answers "no" to, e.g. "create customresourcedefinitions".
        public var deniedVerbs: [String] = []
    }

    public var name: String
    public var description: String
    public var deployment: String
    /// Every delay is multiplied by this (black-box scenarios use small values).
    public var timeScale: Double
    public var timings: Timings
    public var faults: Faults
    public var cluster: Cluster
    public var host: Host
    public var rootName: String
    public var rootPath: String
    /// What ArgoCD's application controller does with a deleted Application's
    /// resources-finalizer: `process` (cascade to the children, then drop it; only while the
    /// controller runs) or `ignore` (never: a broken ArgoCD).
    public var argocdFinalizers: String
    public var apps: [App]
    /// Images that never pull (ImagePullBackOff forever).
    public var neverPull: [String]
    /// Namespaces present from the start (besides default, kube-system, kube-public, kube-node-lease).
    public var startNamespaces: [String]
    /// platform-root exists at t=0 (status tests on an already bootstrapped platform).
    public var startWithRoot: Bool
    /// Extra objects present at t=0 (YAML documents).
    public var startObjects: [JSON]
    /// cert-manager's cainjector: ok | rbac (runs, never injects: caBundle stays empty) |
    /// crashloop (CrashLoopBackOff; caBundle stays empty).
    public var cainjector: String
    /// The simulated controllers that run (default: all). `crds` (the apiextensions server:
    /// CRDs become Established), `namespaces` (terminating namespaces are emptied, then
    /// removed), `root-ca` (kube-root-ca.crt in every namespace), `workloads`, `argocd`,
    /// `cert-manager`. The conformance scenario runs what the recorded test bed ran.
    public var controllers: [String]
    public static let allControllers = ["crds", "namespaces", "root-ca", "workloads", "argocd", "cert-manager"]

    /// A delay in seconds, scaled.
    public func delay(_ seconds: Double) -> Duration {
        .milliseconds(Int64((seconds * timeScale * 1000).rounded()))
    }

    // MARK: loading

    /// Loads a bundled scenario by name (Tests/SimCluster/Scenarios/NAME.yaml), or a file path.
    public static func load(_ nameOrPath: String) throws -> Scenario {
        if nameOrPath.contains("/") || nameOrPath.hasSuffix(".yaml") {
            return try parse(String(contentsOfFile: nameOrPath, encoding: .utf8))
        }
        guard
            let url = Bundle.module.url(forResource: nameOrPath, withExtension: "yaml", subdirectory: "Scenarios")
                ?? Bundle.module.url(forResource: nameOrPath, withExtension: "yaml")
        else {
            throw SimError("no scenario named '\(nameOrPath)'. Available: \(available().joined(separator: ", "))")
        }
        return try parse(String(contentsOf: url, encoding: .utf8))
    }

    /// Names of the bundled scenarios.
    public static func available() -> [String] {
        guard let dir = Bundle.module.url(forResource: "Scenarios", withExtension: nil),
            let files = try? FileManager.default.contentsOfDirectory(atPath: dir.path)
        else { return [] }
        return files.filter { $0.hasSuffix(".yaml") }.map { String($0.dropLast(5)) }.sorted()
    }

    public static func parse(_ text: String) throws -> Scenario {
        guard let doc = try SimJSON.documents(text).first else {
            throw SimError("empty scenario (or a YAML error: quote values that contain \": \")")
        }
        return try Scenario(json: doc)
    }

    public init(json doc: JSON) throws {
        func d(_ v: JSON?, _ def: Double) -> Double { v?.double ?? def }
        name = doc["name"]?.string ?? "unnamed"
        description = doc["description"]?.string ?? ""
        deployment = doc["deployment"]?.string ?? "kind"
        timeScale = d(doc["timeScale"], 1)
        var t = Timings()
        if let tj = doc["timings"] {
            t.crdEstablish = d(tj["crdEstablish"], t.crdEstablish)
            t.workloadReady = d(tj["workloadReady"], t.workloadReady)
            t.nodeReady = d(tj["nodeReady"], t.nodeReady)
            t.rootSync = d(tj["rootSync"], t.rootSync)
            t.appSync = d(tj["appSync"], t.appSync)
            t.appHealthy = d(tj["appHealthy"], t.appHealthy)
            t.webhookEndpoints = d(tj["webhookEndpoints"], t.webhookEndpoints)
            t.caBundle = d(tj["caBundle"], t.caBundle)
            t.refresh = d(tj["refresh"], t.refresh)
            t.finalizer = d(tj["finalizer"], t.finalizer)
            for (k, v) in tj["workloadOverrides"]?.object ?? [:] { t.workloadOverrides[k] = v.double }
        }
        timings = t
        var f = Faults()
        if let fj = doc["faults"] {
            f.errorRate = d(fj["errorRate"], 0)
            if let k = fj["kinds"]?.array { f.kinds = k.compactMap(\.string) }
            f.seed = UInt64(fj["seed"]?.int ?? 42)
            f.latencyMs = d(fj["latencyMs"], 0)
            f.timeoutSeconds = d(fj["timeoutSeconds"], f.timeoutSeconds)
            f.graceRequests = Int(fj["graceRequests"]?.int ?? 0)
            for w in fj["downWindows"]?.array ?? [] {
                let from = d(w["from"], 0), to = d(w["to"], 0)
                if to > from { f.downWindows.append(from...to) }
            }
        }
        faults = f
        var c = Cluster()
        if let cj = doc["cluster"] {
            c.exists = cj["exists"]?.bool ?? true
            c.name = cj["name"]?.string ?? c.name
            c.flavor = cj["flavor"]?.string ?? (deployment == "k3s" ? "k3s" : "kind")
            c.kubernetesVersion = cj["kubernetesVersion"]?.string ?? c.kubernetesVersion
            c.k3sVersion = cj["k3sVersion"]?.string ?? c.k3sVersion
            c.createFails = cj["createFails"]?.bool ?? false
            c.broken = cj["broken"]?.bool ?? false
        } else {
            c.flavor = deployment == "k3s" ? "k3s" : "kind"
        }
        cluster = c
        var h = Host()
        if let hj = doc["host"] {
            h.docker = hj["docker"]?.bool ?? true
            h.gpu = hj["gpu"]?.string ?? "none"
            h.k3sInstalled = hj["k3sInstalled"]?.bool ?? false
            h.deniedVerbs = hj["deniedVerbs"]?.array?.compactMap(\.string) ?? []
        }
        host = h
        let argo = doc["argocd"] ?? [:]
        rootName = argo["root"]?.string ?? "platform-root"
        rootPath =
            argo["path"]?.string
            ?? (deployment == "k3s" ? "platform/deployments/k3s/argocd/apps" : "platform/base/argocd/apps")
        argocdFinalizers = argo["finalizers"]?.string ?? "process"
        guard ["process", "ignore"].contains(argocdFinalizers) else {
            throw SimError("argocd.finalizers must be process or ignore, not '\(argocdFinalizers)'")
        }
        var apps: [App] = []
        for a in argo["apps"]?.array ?? [] {
            guard let n = a["name"]?.string else { throw SimError("an app in the scenario has no name") }
            let ns = a["namespace"]?.string ?? n
            var wl: [Workload] = []
            for w in a["workloads"]?.array ?? [] {
                guard let wn = w["name"]?.string else { throw SimError("a workload of app \(n) has no name") }
                wl.append(
                    Workload(
                        kind: w["kind"]?.string ?? "Deployment", name: wn,
                        namespace: w["namespace"]?.string ?? ns,
                        image: w["image"]?.string ?? "registry.example/\(wn):1.0",
                        replicas: Int(w["replicas"]?.int ?? 1)))
            }
            var hook: Hook? = nil
            if let h = a["hook"] {
                guard let hn = h["name"]?.string, let fails = h["failsAfter"]?.double else {
                    throw SimError("the hook of app \(n) needs a name and failsAfter (seconds)")
                }
                hook = Hook(name: hn, type: h["type"]?.string ?? "PostSync", failsAfter: fails)
            }
            apps.append(
                App(
                    name: n, wave: Int(a["wave"]?.int ?? 0), namespace: ns,
                    path: a["path"]?.string ?? "\(rootPath.replacingOccurrences(of: "/argocd/apps", with: ""))/\(n)",
                    workloads: wl, neverSyncs: a["neverSyncs"]?.bool ?? false,
                    degradeAfter: a["degradeAfter"]?.double,
                    degradedMessage: a["degradedMessage"]?.string
                        ?? "Deployment \"\(wl.first?.name ?? n)\" exceeded its progress deadline",
                    role: a["role"]?.string, hook: hook, retryLimit: Int(a["retryLimit"]?.int ?? 5)))
        }
        self.apps = apps
        neverPull = doc["images"]?["neverPull"]?.array?.compactMap(\.string) ?? []
        let start = doc["start"] ?? [:]
        startNamespaces = start["namespaces"]?.array?.compactMap(\.string) ?? []
        startWithRoot = start["platformRoot"]?.bool ?? false
        startObjects = start["objects"]?.array ?? []
        cainjector = doc["certManager"]?["cainjector"]?.string ?? "ok"
        controllers = doc["controllers"]?.array?.compactMap(\.string) ?? Self.allControllers
        if let unknown = controllers.first(where: { !Self.allControllers.contains($0) }) {
            throw SimError(
                """
                unknown controller '\(unknown)' in the scenario (known: \
                \(Self.allControllers.joined(separator: ", ")))
                """
            )
        }
    }

    /// Waves in order, each with its apps.
    public var waves: [(wave: Int, apps: [App])] {
        Dictionary(grouping: apps, by: \.wave).sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }
}

/// A simulator setup error (bad scenario, missing binary...).
public struct SimError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ d: String) { description = d }
}
