import ArgoInstall
import AphexCore
import KubeClient
import ClusterDrivers
import Foundation
import SimCluster
import Testing
import TestSupport
@testable import Bootstrap

/// `destroy --use-existing`'s teardown on the in-process simulated cluster (virtual clock: a
/// 5-minute wait costs nothing). The black-box suite (DestroyExistingBlackBoxTests) covers the
/// built binary; these cover what it cannot reach cheaply.
@Suite struct DestroyTeardownSimTests {
    static let controllerYAML = """
        apiVersion: apps/v1
        kind: StatefulSet
        metadata: {name: argocd-application-controller, namespace: argocd}
        spec:
          replicas: REPLICAS
          selector: {matchLabels: {app.kubernetes.io/name: argocd-application-controller}}
          template:
            metadata: {labels: {app.kubernetes.io/name: argocd-application-controller}}
            spec: {containers: [{name: c, image: "quay.io/argoproj/argocd:v3.3.0"}]}
        """

    static let rootYAML = """
        apiVersion: argoproj.io/v1alpha1
        kind: Application
        metadata:
          name: platform-root
          namespace: argocd
          finalizers: [resources-finalizer.argocd.argoproj.io]
        spec:
          project: default
          source: {repoURL: "https://github.com/bdchatham/AphexPlatformInfrastructure.git", targetRevision: HEAD, \
        path: platform/base/argocd/apps}
          destination: {server: "https://kubernetes.default.svc", namespace: argocd}
        """

    /// A cluster where aphex created platform-root and ArgoCD's controller (recorded with their
    /// uids), on top of what blackbox-existing has (argocd namespace, team-app).
    static func bootstrapped() async throws -> SimCluster {
        let sim = try SimCluster(scenario: "blackbox-existing")
        _ = try sim.apply(controllerYAML.replacingOccurrences(of: "REPLICAS", with: "1"))
        _ = try sim.apply(rootYAML)
        #expect(sim.run { w in w.get(ResourceRef.applications, namespace: "argocd", name: "catalog") != nil })
        let owned: [JSON] = [
            ("argoproj.io/v1alpha1", "Application", "applications", "platform-root"),
            ("apps/v1", "StatefulSet", "statefulsets", "argocd-application-controller")
        ].map { api, kind, resource, name in
            let ref = kind == "Application" ? ResourceRef.applications : ResourceRef.statefulSets
            let uid = sim.world.get(ref, namespace: "argocd", name: name)?[path: "metadata", "uid"] ?? .null
            return [
                "apiVersion": .string(api), "kind": .string(kind), "resource": .string(resource), "namespace": "argocd",
                "name": .string(name), "uid": uid
            ]
        }
        _ = try sim.world.create([
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": ["name": "aphex-ownership", "namespace": "kube-system"],
            "data": ["objects.json": .string(JSON.array(owned).serialized())]
        ])
        return sim
    }

    static func destroy(_ sim: SimCluster, _ configure: (inout DestroyOptions) -> Void = { _ in }) async throws -> (
        AphexCore.ExitStatus?, AphexError?, CollectingReporter
    ) {
        let reporter = CollectingReporter()
        let host = HostContext(
            runner: sim.runner, reporter: reporter, clock: sim.clock, environment: sim.environment,
            homeDirectory: sim.home, makeTransport: { _ in sim.transport })
        let ctx = AppContext(
            host: host, output: BufferWriter(), target: ClusterTarget(clusterName: "platform-cluster"),
            makeKubeAPI: { h, endpoint in makeKubeAPI(host: h, endpoint: endpoint) })
        var o = DestroyOptions()
        o.useExisting = true
        o.yes = true
        configure(&o)
        do {
            let status = try await ClusterTeardown.destroy(ctx, o, readLine: { nil })
            return (status, nil, reporter)
        } catch let e as AphexError {
            return (nil, e, reporter)
        }
    }

    /// Issue 17: ArgoCD scaled to 0. Destroy gives up after --timeout (virtual time) with exit 3,
    /// says the controller is not ready and how to bring it back, and deletes nothing else.
    @Test func controllerScaledToZeroIsDiagnosedNotReady() async throws {
        let sim = try await Self.bootstrapped()
        _ = try sim.apply(Self.controllerYAML.replacingOccurrences(of: "REPLICAS", with: "0"))
        let (status, error, reporter) = try await Self.destroy(sim) { $0.timeout = .seconds(300) }
        #expect(status == nil)
        let e = try #require(error)
        #expect(e.status == .timeout)
        #expect(e.message.contains("Application argocd/platform-root is still there after 5m"), "\(e.message)")
        let detail = e.detail ?? ""
        #expect(
            detail.contains(
                """
                ArgoCD's application controller (StatefulSet argocd/argocd-application-controller): not ready \
                (0/0 replicas ready)
                """
            ), "\(detail)")
        #expect(detail.contains("kubectl -n argocd scale statefulset argocd-application-controller --replicas=1"))
        #expect(detail.contains("3 child Applications remain: catalog, controllers, ingress-controller"))
        // Progress while waiting: about every 5 s of the 5 minutes.
        #expect(reporter.logs.filter { $0.hasPrefix("Waiting (") }.count >= 50)
        // Never delete ArgoCD while it still has a finalizer to process.
        #expect(
            sim.world.get(ResourceRef.statefulSets, namespace: "argocd", name: "argocd-application-controller") != nil)
        #expect(!sim.record.requests.contains { $0.method == "DELETE" && $0.path.contains("statefulsets") })

        // Scaled back up: the same command finishes the job, the controller last.
        _ = try sim.apply(Self.controllerYAML.replacingOccurrences(of: "REPLICAS", with: "1"))
        let (again, againError, _) = try await Self.destroy(sim)
        #expect(againError == nil && again == .ok, "\(againError?.description ?? "")")
        #expect(sim.world.get(ResourceRef.applications, namespace: "argocd", name: "platform-root") == nil)
        #expect(
            sim.world.get(ResourceRef.statefulSets, namespace: "argocd", name: "argocd-application-controller") == nil)
        #expect(sim.world.get(ResourceRef.applications, namespace: "argocd", name: "team-app") != nil)
        #expect(sim.world.get(ResourceRef.configMaps, namespace: "kube-system", name: "aphex-ownership") == nil)
    }

    /// A same-named object that is not the one aphex created (its uid differs) is left alone.
    @Test func aReplacedObjectIsNotDeleted() async throws {
        let sim = try await Self.bootstrapped()
        _ = try await sim.runner.run(
            Command([
                "kubectl", "--kubeconfig", sim.kubeconfigPath, "-n", "argocd", "delete", "statefulset",
                "argocd-application-controller"
            ]))
        // someone else's, new uid
        _ = try sim.apply(Self.controllerYAML.replacingOccurrences(of: "REPLICAS", with: "1"))
        let (status, error, _) = try await Self.destroy(sim) { $0.removeFinalizers = true }
        #expect(error == nil && status == .ok, "\(error?.description ?? "")")
        #expect(
            sim.world.get(ResourceRef.statefulSets, namespace: "argocd", name: "argocd-application-controller") != nil)
        #expect(sim.world.get(ResourceRef.applications, namespace: "argocd", name: "platform-root") == nil)
    }

    @Test func orderPutsApplicationsFirstAndTheControllerAfterTheRest() {
        func o(_ apiVersion: String, _ kind: String, _ ns: String?, _ name: String) -> OwnedObject {
            OwnedObject(apiVersion: apiVersion, kind: kind, resource: nil, namespace: ns, name: name, uid: "u")
        }
        let objects = [
            o("apiextensions.k8s.io/v1", "CustomResourceDefinition", nil, "appprojects.argoproj.io"),
            o("v1", "Namespace", nil, "tekton-pipelines"),
            o("apps/v1", "Deployment", "tekton-pipelines", "tekton-pipelines-controller"),
            o("apps/v1", "StatefulSet", "argocd", "argocd-application-controller"),
            o("apps/v1", "Deployment", "argocd", "argocd-server"),
            o(
                "admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", nil,
                "validation.webhook.pipeline.tekton.dev"),
            o("argoproj.io/v1alpha1", "Application", "argocd", "platform-root"),
            o("rbac.authorization.k8s.io/v1", "ClusterRole", nil, "argocd-server")
        ]
        let plan = ExistingTeardown.order(objects).map { $0.map(\.display) }
        #expect(
            plan == [
                ["Application argocd/platform-root"],
                ["ValidatingWebhookConfiguration validation.webhook.pipeline.tekton.dev"],
                ["Deployment argocd/argocd-server", "ClusterRole argocd-server"],
                ["StatefulSet argocd/argocd-application-controller"],
                ["Namespace tekton-pipelines"],
                ["CustomResourceDefinition appprojects.argoproj.io"]
            ])
    }
}
