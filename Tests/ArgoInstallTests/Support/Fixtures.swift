import ArgoInstall
import AphexCore
import KubeClient
import ClusterDrivers
import Foundation

enum Fixtures {
    /// <repo>/../shared/manifests, found from this file's path (never copied into the repo).
    static let sharedManifests: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { url.deleteLastPathComponent() }  // Support, ArgoInstallTests, Tests, <repo>
        return url.deletingLastPathComponent().appendingPathComponent("shared/manifests").path
    }()

    static func shared(_ file: String) throws -> [UInt8] {
        let path = sharedManifests + "/" + file
        guard let d = FileManager.default.contents(atPath: path) else {
            throw AphexError.failed("test fixture missing: \(path) (shared/ must sit beside the checkout)")
        }
        return [UInt8](d)
    }

    static let argocdFile = "argocd-v3.3.0-install.yaml"
    static let sharedFiles: [String: String] = [
        "argocd": "argocd-v3.3.0-install.yaml",
        "tekton-pipelines": "tekton-pipelines-v0.65.0-assembled.yaml",
        "tekton-triggers": "tekton-triggers-v0.34.0-assembled.yaml",
        "tekton-interceptors": "tekton-interceptors-v0.34.0-assembled.yaml"
    ]

    /// A small stand-in for the dashboard release (not among the shared manifests).
    static func dashboard(version: String = "v0.64.0") -> String {
        """
        apiVersion: v1
        kind: ServiceAccount
        metadata:
          name: tekton-dashboard
          namespace: tekton-pipelines
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: ClusterRole
        metadata:
          name: tekton-dashboard-backend-view
        rules:
          - apiGroups: ["tekton.dev"]
            resources: ["pipelines", "pipelineruns", "tasks", "taskruns"]
            verbs: ["get", "list", "watch"]
        ---
        apiVersion: v1
        kind: Service
        metadata:
          name: tekton-dashboard
          namespace: tekton-pipelines
        spec:
          ports:
            - name: http
              port: 9097
              targetPort: 9097
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: tekton-dashboard
          namespace: tekton-pipelines
          labels:
            app.kubernetes.io/version: "\(version)"
        spec:
          replicas: 1
          selector:
            matchLabels: {app.kubernetes.io/name: dashboard}
          template:
            metadata:
              labels: {app.kubernetes.io/name: dashboard}
            spec:
              containers:
                - name: tekton-dashboard
                  image: gcr.io/tekton-releases/github.com/tektoncd/dashboard/cmd/dashboard:\(version)
                  args: ["--port=9097", "--read-only=true"]

        """
    }

    /// A temp directory that is removed at deinit.
    final class TempDir: @unchecked Sendable {
        let path: String
        init() {
            path = NSTemporaryDirectory() + "aphex-argo-\(UUID().uuidString)"
            try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }
        deinit { try? FileManager.default.removeItem(atPath: path) }
        func write(_ name: String, _ bytes: [UInt8]) {
            let p = path + "/" + name
            try! FileManager.default.createDirectory(
                atPath: (p as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            FileManager.default.createFile(atPath: p, contents: Data(bytes))
        }
    }

    /// A --manifests-dir holding all five components at their default versions.
    static func manifestsDir(dashboardVersion: String = "v0.64.0") throws -> TempDir {
        let dir = TempDir()
        for (name, file) in sharedFiles {
            let version = Catalog.component(named: name)!.defaultVersion
            dir.write("\(name)-\(version).yaml", try shared(file))
        }
        dir.write("tekton-dashboard-\(dashboardVersion).yaml", Array(dashboard(version: dashboardVersion).utf8))
        return dir
    }
}
