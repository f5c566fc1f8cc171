import ArgoInstall
import AphexCore
import KubeClient
import ClusterDrivers
import Foundation

/// The namespaces the platform needs before ArgoCD syncs (PLATFORM.md). One place.
public let platformNamespaces = [
    "argocd", "auth-system", "tekton-pipelines", "platform-system",
    "external-secrets", "cert-manager"
]

/// The Namespaces to create, as YAML documents separated by `---` lines (kubectl's YAML mode:
/// the stream starts with a letter, not `{`).
func namespacesManifest(_ names: [String]) -> String {
    names.map { name in
        """
        apiVersion: v1
        kind: Namespace
        metadata:
          name: \(name)
          labels:
            \(ManagedBy.key): \(ManagedBy.value)
        """
    }.joined(separator: "\n---\n") + "\n"
}

extension BootstrapSteps {
    /// namespaces: create the platform namespaces that are missing (server-side apply).
    static let namespaces = PipelineStep("namespaces", "Creating namespaces") { state in
        // Its own field manager (FieldManager.namespaces says why).
        let kubectl = try state.kubectl()
        let existing: Set<String>
        do {
            existing = Set(try await state.api().list(.namespaces).compactMap(\.name))
        } catch  where state.dryRun {
            existing = []  // a dry run against a cluster that does not exist yet
        }
        let missing = platformNamespaces.filter { !existing.contains($0) }
        if missing.isEmpty { return StepResult(.unchanged, "all \(platformNamespaces.count) exist") }
        let yaml = namespacesManifest(missing)
        let command = Shell.quote(kubectl.applyArgv(fieldManager: FieldManager.namespaces)) + "  < namespaces.yaml"
        if state.dryRun {
            return StepResult(
                .planned, "would create \(missing.joined(separator: ", "))",
                changes: missing.map { "namespace/\($0)" }, commands: [command])
        }
        // Recorded as aphex's before they are created (a kill right after the create keeps
        // them), with their uids after. Namespaces that existed are never touched.
        let ownership = try state.ownership()
        try await ownership?.prepare(
            missing.map { ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string($0)]] },
            knownAbsent: true)
        let out = try await kubectl.apply(yaml, fieldManager: FieldManager.namespaces, outputJSON: ownership != nil)
        if let ownership {
            try await ownership.created(Kubectl.objects(fromJSONOutput: out))
            try await ownership.flush()
        }
        return StepResult(
            .done, "created \(missing.joined(separator: ", "))", changes: missing.map { "namespace/\($0)" },
            commands: [command])
    }
}
