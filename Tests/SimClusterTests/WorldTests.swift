import AphexCore
import KubeClient
import Foundation
import Testing
import TestSupport
@testable import SimCluster

/// A scenario with a cluster and nothing else (fast, deterministic).
func emptyScenario(_ extra: String = "") throws -> Scenario {
    try Scenario.parse(
        """
        name: empty
        deployment: kind
        timings: {crdEstablish: 2, workloadReady: 5}
        \(extra)
        """)
}

/// A namespaced CRD (Established `crdEstablish` seconds after creation).
let widgetCRD = """
    apiVersion: apiextensions.k8s.io/v1
    kind: CustomResourceDefinition
    metadata: {name: widgets.example.com}
    spec:
      group: example.com
      scope: Namespaced
      names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
      versions: [{name: v1, served: true, storage: true}]
    """

@Suite struct ApplySemantics {
    /// Server-side apply as the API server does it (ssa/, ssa-conflict/ in ../shared/realapi):
    /// fields merge by ownership, an associative list merges by key, a manager's dropped field
    /// is removed, an identical apply writes nothing.
    @Test func serverSideApplyMergesByOwnership() throws {
        let w = SimWorld(scenario: try emptyScenario(), clock: VirtualClock())
        let cm1 = try SimJSON.documents(
            """
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: cfg, namespace: default, labels: {a: "1"}}
            data: {x: "1", y: "2"}
            """)[0]
        let (created, o1) = try w.apply(cm1)
        #expect(o1 == .created)
        #expect(created[path: "metadata", "uid"]?.string?.count == 36)
        #expect(created[path: "metadata", "generation"] == nil)  // ConfigMaps keep no generation
        let rv1 = Int(created[path: "metadata", "resourceVersion"]!.string!)!

        // Same content again: unchanged, no resourceVersion bump.
        let (again, o2) = try w.apply(cm1)
        #expect(o2 == .unchanged)
        #expect(again[path: "metadata", "resourceVersion"] == created[path: "metadata", "resourceVersion"])

        let dep1 = try SimJSON.documents(
            """
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: web, namespace: default, annotations: {keep: "me"}}
            spec:
              replicas: 1
              selector: {matchLabels: {app: web}}
              template:
                metadata: {labels: {app: web}}
                spec: {containers: [{name: a, image: a:1}, {name: b, image: b:1}]}
            """)[0]
        let (d1, _) = try w.apply(dep1, fieldManager: "one")
        #expect(d1[path: "metadata", "generation"] == 1)
        // Another manager: its fields are added; the containers list merges by name.
        let dep2 = try SimJSON.documents(
            """
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: web, namespace: default, annotations: {added: "yes"}}
            spec:
              template:
                spec: {containers: [{name: c, image: c:2}]}
            """)[0]
        let (merged, o3) = try w.apply(dep2, fieldManager: "two")
        #expect(o3 == .configured)
        #expect(merged.annotations == ["keep": "me", "added": "yes"])
        #expect(merged[path: "spec", "replicas"] == 1)
        #expect(
            merged[path: "spec", "template", "spec", "containers"]?.array?.compactMap { $0["name"]?.string } == [
                "a", "b", "c"
            ])
        #expect(merged[path: "metadata", "generation"] == 2)
        #expect(Int(merged[path: "metadata", "resourceVersion"]!.string!)! > rv1)
        // The first manager drops container b: removed (it alone owned it); c (the other's) stays.
        var dep1b = dep1
        dep1b.set(["spec", "template", "spec", "containers"], to: [["name": "a", "image": "a:1"]])
        let (pruned, _) = try w.apply(dep1b, fieldManager: "one")
        #expect(
            pruned[path: "spec", "template", "spec", "containers"]?.array?.compactMap { $0["name"]?.string } == [
                "a", "c"
            ])
        #expect(pruned[path: "metadata", "generation"] == 3)

        // Metadata-only change: no generation bump.
        let (m2, _) = try w.apply(
            [
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": ["name": "web", "namespace": "default", "labels": ["tier": "front"]]
            ], fieldManager: "three")
        #expect(m2[path: "metadata", "generation"] == 3)
    }

    @Test func serverDryRunChangesNothing() throws {
        let w = SimWorld(scenario: try emptyScenario(), clock: VirtualClock())
        w.tick()
        let rv = w.resourceVersion
        let (o, outcome) = try w.apply(
            ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "x", "namespace": "default"]], dryRun: true)
        #expect(outcome == .created)
        #expect(o.name == "x")
        #expect(w.get(ResourceRef.configMaps, namespace: "default", name: "x") == nil)
        #expect(w.resourceVersion == rv)
    }

    @Test func missingNamespaceIsNotFound() throws {
        let w = SimWorld(scenario: try emptyScenario(), clock: VirtualClock())
        #expect(throws: SimAPIError.notFound("namespaces", "nope")) {
            try w.apply(["apiVersion": "v1", "kind": "Secret", "metadata": ["name": "s", "namespace": "nope"]])
        }
    }

    @Test func customResourceNeedsAnEstablishedCRD() throws {
        let clock = VirtualClock()
        let w = SimWorld(scenario: try emptyScenario(), clock: clock)
        let widget: JSON = [
            "apiVersion": "example.com/v1", "kind": "Widget", "metadata": ["name": "w1", "namespace": "default"]
        ]
        #expect(throws: SimAPIError.noMatch(kind: "Widget", apiVersion: "example.com/v1")) { try w.apply(widget) }
        _ = try w.apply(try SimJSON.documents(widgetCRD)[0])
        // Not yet Established: still no match.
        #expect(throws: SimAPIError.self) { try w.apply(widget) }
        // The naming controller has accepted the names; Established is still False (Installing).
        // (The create response itself had no conditions: ssa/crd-applicationsets-1-create.json.)
        let crd = w.get(ResourceRef.crds, namespace: nil, name: "widgets.example.com")!
        #expect(
            crd[path: "status", "conditions"]?.array?.contains {
                $0["type"] == "Established" && $0["status"] == "False"
            } == true)
        #expect(crd[path: "status", "acceptedNames", "kind"] == "Widget")
        clock.advance(by: .seconds(2))
        _ = try w.apply(widget)
        let est = w.get(ResourceRef.crds, namespace: nil, name: "widgets.example.com")!
        #expect(
            est[path: "status", "conditions"]?.array?.contains { $0["type"] == "Established" && $0["status"] == "True" }
                == true)
        #expect(w.resolve("wd")?.ref.kind == "Widget")
    }

    @Test func secretStringDataBecomesBase64Data() throws {
        let w = SimWorld(scenario: try emptyScenario(), clock: VirtualClock())
        let (s, _) = try w.apply([
            "apiVersion": "v1", "kind": "Secret", "metadata": ["name": "s", "namespace": "default"],
            "stringData": ["k": "value"]
        ])
        #expect(s[path: "data", "k"] == "dmFsdWU=")
        #expect(s["stringData"] == nil)
    }

    @Test func mergePatchFollowsRFC7386() throws {
        let base: JSON = ["a": "b", "c": ["d": "e", "f": "g"], "l": [1, 2]]
        let patched = SimJSON.mergePatch(base, ["a": "z", "c": ["f": nil], "l": [3]])
        #expect(patched == ["a": "z", "c": ["d": "e"], "l": [3]])
    }

    @Test func finalizersHoldDeletion() throws {
        let w = SimWorld(scenario: try emptyScenario(), clock: VirtualClock())
        _ = try w.apply([
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": ["name": "held", "namespace": "default", "finalizers": ["example.com/hold"]]
        ])
        let t = w.resolve("configmaps")!
        try w.delete(t, namespace: "default", name: "held")
        let held = w.get(ResourceRef.configMaps, namespace: "default", name: "held")
        #expect(held?[path: "metadata", "deletionTimestamp"] != nil)
        _ = try w.patch(t, namespace: "default", name: "held", patch: ["metadata": ["finalizers": nil]])
        #expect(w.get(ResourceRef.configMaps, namespace: "default", name: "held") == nil)
    }
}

@Suite struct Selectors {
    @Test func labelSelectorOperators() throws {
        let labels = ["app": "web", "tier": "front"]
        #expect(try LabelSelector("app=web").matches(labels))
        #expect(try LabelSelector("app==web,tier!=back").matches(labels))
        #expect(try LabelSelector("tier in (front, middle)").matches(labels))
        #expect(try !LabelSelector("tier notin (front)").matches(labels))
        #expect(try LabelSelector("app").matches(labels))
        #expect(try !LabelSelector("!app").matches(labels))
        #expect(try LabelSelector("!missing,app in (web)").matches(labels))
        #expect(try !LabelSelector("app=api").matches(labels))
    }

    @Test func listFiltersByLabelsAndFields() throws {
        let w = SimWorld(scenario: try emptyScenario(), clock: VirtualClock())
        for (n, tier) in [("a", "front"), ("b", "back"), ("c", "front")] {
            _ = try w.apply([
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": ["name": .string(n), "namespace": "default", "labels": ["tier": .string(tier)]]
            ])
        }
        #expect(
            try w.list(ResourceRef.configMaps, namespace: "default", labelSelector: "tier=front").compactMap(\.name)
                == ["a", "c"])
        #expect(try w.list(ResourceRef.configMaps, labelSelector: "tier in (back)").compactMap(\.name) == ["b"])
        #expect(try w.list(ResourceRef.configMaps, fieldSelector: "metadata.name=c").compactMap(\.name) == ["c"])
        // Only the root-CA publisher's ConfigMap, as in every namespace of a real cluster.
        #expect(
            try w.list(ResourceRef.configMaps, fieldSelector: "metadata.namespace=kube-system").compactMap(\.name) == [
                "kube-root-ca.crt"
            ])
        #expect(throws: SimAPIError.self) { try w.list(ResourceRef.configMaps, fieldSelector: "spec.bogus=1") }
    }
}
