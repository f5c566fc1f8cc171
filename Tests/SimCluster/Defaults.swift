import AphexCore
import KubeClient
import Foundation

/// The server-side defaulting of a real kube-apiserver v1.36, as a pure function: the built-in
/// defaulters (`SetDefaults_*`, Go code in k8s.io/kubernetes/pkg/apis/*/v1/defaults.go, not the
/// OpenAPI schema), what Go's JSON encoding adds for fields that are structs (`resources: {}`,
/// `status: {}`), the strategies' `PrepareForCreate` / `PrepareForUpdate` (initial status,
/// Namespace finalizers, CRD status, Job selector) and, for custom resources, the CRD schema's
/// `default`s. So a stored object has the structure a real server's has.
///
/// Proven against the recordings (ValidationDefaultsTests): Deployment (ssa/4), Namespace
/// (ssa/namespace-*), ConfigMap (crud/201-create-configmap), CustomResourceDefinition
/// (ssa/crd-applicationsets-1-create). Every other kind follows Kubernetes' defaulters from
/// memory of their source, unrecorded: Secret, Service, ServiceAccount, StatefulSet, DaemonSet,
/// ReplicaSet, Job, CronJob, Pod (its defaulters only, not the admission plugins'), PVC, PV,
/// Endpoints, EndpointSlice, NetworkPolicy, HorizontalPodAutoscaler (autoscaling/v2), RBAC
/// bindings and roles, admission webhook configurations, PodDisruptionBudget, StorageClass,
/// PriorityClass, Ingress.
public enum SimDefaults {
    public enum Operation: Sendable {
        /// POST, or an apply / PUT that creates.
        case create
        /// PUT or any patch of an existing object: status (and a Namespace's finalizers) come
        /// from the stored object, as the strategies' `PrepareForUpdate` does.
        case update(old: JSON)
    }

    /// Defaults `obj` (the decoded request body, or the result of a patch) as the API server
    /// does before validation and storage: `defaults`, then `prepareForCreate` or `prepareForUpdate`.
    /// - schema: a custom resource's CRD schema (its `default`s apply; nil for built-in kinds).
    /// - statusSubresource: whether a custom resource's CRD enables `status` (create drops the
    ///   body's status, update keeps the stored one). Built-in kinds know their own.
    /// - uid: the uid the store will give the object (a Job's generated selector uses it).
    /// - clusterIP: a Service's allocated address, set when the body asks for none (the
    ///   simulator's allocator is the caller's business; NodePorts are not allocated here).
    public static func apply(
        _ obj: JSON, kind: String, group: String, operation: Operation = .create, schema: SimSchema? = nil,
        statusSubresource: Bool = false, uid: String? = nil, clusterIP: String? = nil
    ) -> JSON {
        let o = defaults(obj, kind: kind, group: group, schema: schema, clusterIP: clusterIP)
        switch operation {
        case .create:
            return prepareForCreate(
                o, kind: kind, group: group, customResource: schema != nil, statusSubresource: statusSubresource,
                uid: uid)
        case .update(let old):
            return prepareForUpdate(
                o, old: old, kind: kind, group: group, customResource: schema != nil,
                statusSubresource: statusSubresource)
        }
    }

    /// Whether the kind's strategy keeps `metadata.generation` (1 on create, +1 on a spec
    /// change): workloads, CRDs, custom resources, webhook configurations, NetworkPolicy,
    /// Ingress, PDB, HPA, Pod. Not: Namespace, ConfigMap, Secret, Service, ServiceAccount, RBAC.
    public static func tracksGeneration(kind: String, group: String, customResource: Bool = false) -> Bool {
        if customResource { return true }
        switch (group, kind) {
        case ("apps", _), ("batch", _), ("apiextensions.k8s.io", _), ("admissionregistration.k8s.io", _),
            ("networking.k8s.io", "NetworkPolicy"), ("networking.k8s.io", "Ingress"), ("policy", _), ("autoscaling", _),
            ("", "Pod"), ("", "ReplicationController"):
            return true
        default: return false
        }
    }

    /// Built-in kinds whose `status` is a subresource (the main resource's writes don't change it).
    public static func hasStatusSubresource(kind: String, group: String) -> Bool {
        switch (group, kind) {
        case ("", "Namespace"), ("", "Service"), ("", "Pod"), ("", "Node"), ("", "PersistentVolume"),
            ("", "PersistentVolumeClaim"),
            ("", "ReplicationController"), ("", "ResourceQuota"), ("apps", "Deployment"), ("apps", "StatefulSet"),
            ("apps", "DaemonSet"),
            ("apps", "ReplicaSet"), ("batch", "Job"), ("batch", "CronJob"), ("autoscaling", "HorizontalPodAutoscaler"),
            ("policy", "PodDisruptionBudget"), ("networking.k8s.io", "Ingress"),
            ("apiextensions.k8s.io", "CustomResourceDefinition"):
            return true
        default: return false
        }
    }

    // MARK: helpers

    private static func unset(_ v: JSON?) -> Bool { v == nil || v == .null }
    /// Go pointer fields: nil (absent or null) gets the default.
    private static func def(_ o: inout JSON, _ path: [String], _ v: JSON) {
        if unset(o.value(at: path)) { o.set(path, to: v) }
    }
    /// Go string fields: "" counts as unset too.
    private static func defString(_ o: inout JSON, _ path: [String], _ v: String) {
        let c = o.value(at: path)
        if unset(c) || c == .string("") { o.set(path, to: .string(v)) }
    }
    /// Edits the value at `path` when it is there (never creates it).
    private static func edit(_ o: inout JSON, _ path: [String], _ f: (inout JSON) -> Void) {
        guard var v = o.value(at: path), v != .null else { return }
        f(&v)
        o.set(path, to: v)
    }
    private static func eachItem(_ o: inout JSON, _ path: [String], _ f: (inout JSON) -> Void) {
        guard let a = o.value(at: path)?.array else { return }
        o.set(
            path,
            to: .array(
                a.map {
                    var x = $0
                    f(&x)
                    return x
                }))
    }

    // MARK: defaulters

    /// The decoding defaulters (`SetObjectDefaults_*` of the kind's external version):
    /// idempotent, run on every create and update.
    public static func defaults(
        _ obj: JSON, kind: String, group: String, schema: SimSchema? = nil, clusterIP: String? = nil
    ) -> JSON {
        guard case .object = obj else { return obj }
        if let schema { return customResource(obj, schema: schema) }
        var o = obj
        switch (group, kind) {
        case ("", "Namespace"):
            // SetDefaults_Namespace: the name label, always (it cannot be changed).
            if let name = o[path: "metadata", "name"]?.string, !name.isEmpty {
                o.set(["metadata", "labels", "kubernetes.io/metadata.name"], to: .string(name))
            }
            defString(&o, ["status", "phase"], "Active")
        case ("", "Secret"):
            defString(&o, ["type"], "Opaque")
        case ("", "Service"):
            service(&o, clusterIP: clusterIP)
        case ("", "Pod"):
            edit(&o, ["spec"]) { podSpec(&$0) }
            def(&o, ["spec", "enableServiceLinks"], true)
            // SetDefaults_Pod: limits without requests make the requests.
            for list in ["containers", "initContainers"] {
                eachItem(&o, ["spec", list]) { c in
                    guard let limits = c[path: "resources", "limits"]?.object else { return }
                    for (r, q) in limits where c[path: "resources", "requests", r] == nil {
                        c.set(["resources", "requests", r], to: q)
                    }
                }
            }
        case ("", "PersistentVolumeClaim"):
            defString(&o, ["spec", "volumeMode"], "Filesystem")
            defString(&o, ["status", "phase"], "Pending")
        case ("", "PersistentVolume"):
            defString(&o, ["spec", "persistentVolumeReclaimPolicy"], "Retain")
            defString(&o, ["spec", "volumeMode"], "Filesystem")
            defString(&o, ["status", "phase"], "Pending")
        case ("", "Endpoints"):
            eachItem(&o, ["subsets"]) { s in eachItem(&s, ["ports"]) { defString(&$0, ["protocol"], "TCP") } }
        case ("", "ReplicationController"):
            def(&o, ["spec", "replicas"], 1)
            edit(&o, ["spec", "template", "spec"]) { podSpec(&$0) }
        case ("apps", "Deployment"):
            // SetDefaults_Deployment
            def(&o, ["spec", "replicas"], 1)
            defString(&o, ["spec", "strategy", "type"], "RollingUpdate")
            if o[path: "spec", "strategy", "type"] == "RollingUpdate" {
                def(&o, ["spec", "strategy", "rollingUpdate", "maxUnavailable"], "25%")
                def(&o, ["spec", "strategy", "rollingUpdate", "maxSurge"], "25%")
            }
            def(&o, ["spec", "revisionHistoryLimit"], 10)
            def(&o, ["spec", "progressDeadlineSeconds"], 600)
            podTemplate(&o, ["spec", "template"])
        case ("apps", "StatefulSet"):
            // SetDefaults_StatefulSet (MaxUnavailableStatefulSet is off in v1.36: no rollingUpdate.maxUnavailable).
            defString(&o, ["spec", "podManagementPolicy"], "OrderedReady")
            if unset(o[path: "spec", "updateStrategy", "type"]) || o[path: "spec", "updateStrategy", "type"] == "" {
                o.set(["spec", "updateStrategy", "type"], to: "RollingUpdate")
                def(&o, ["spec", "updateStrategy", "rollingUpdate"], [:])
            }
            if o[path: "spec", "updateStrategy", "type"] == "RollingUpdate",
                o[path: "spec", "updateStrategy", "rollingUpdate"]?.object != nil
            {
                def(&o, ["spec", "updateStrategy", "rollingUpdate", "partition"], 0)
            }
            defString(&o, ["spec", "persistentVolumeClaimRetentionPolicy", "whenDeleted"], "Retain")
            defString(&o, ["spec", "persistentVolumeClaimRetentionPolicy", "whenScaled"], "Retain")
            def(&o, ["spec", "replicas"], 1)
            def(&o, ["spec", "revisionHistoryLimit"], 10)
            podTemplate(&o, ["spec", "template"])
            // Each claim template is a PersistentVolumeClaim, written out with its type meta.
            eachItem(&o, ["spec", "volumeClaimTemplates"]) { t in
                def(&t, ["apiVersion"], "v1")
                def(&t, ["kind"], "PersistentVolumeClaim")
                defString(&t, ["spec", "volumeMode"], "Filesystem")
                defString(&t, ["status", "phase"], "Pending")
            }
        case ("apps", "DaemonSet"):
            defString(&o, ["spec", "updateStrategy", "type"], "RollingUpdate")
            if o[path: "spec", "updateStrategy", "type"] == "RollingUpdate" {
                def(&o, ["spec", "updateStrategy", "rollingUpdate", "maxUnavailable"], 1)
                def(&o, ["spec", "updateStrategy", "rollingUpdate", "maxSurge"], 0)
            }
            def(&o, ["spec", "revisionHistoryLimit"], 10)
            podTemplate(&o, ["spec", "template"])
        case ("apps", "ReplicaSet"):
            def(&o, ["spec", "replicas"], 1)
            podTemplate(&o, ["spec", "template"])
        case ("batch", "Job"):
            job(&o)
        case ("batch", "CronJob"):
            defString(&o, ["spec", "concurrencyPolicy"], "Allow")
            def(&o, ["spec", "suspend"], false)
            def(&o, ["spec", "successfulJobsHistoryLimit"], 3)
            def(&o, ["spec", "failedJobsHistoryLimit"], 1)
            podTemplate(&o, ["spec", "jobTemplate", "spec", "template"])
        case ("discovery.k8s.io", "EndpointSlice"):
            eachItem(&o, ["ports"]) { p in
                def(&p, ["name"], "")
                def(&p, ["protocol"], "TCP")
            }
        case ("networking.k8s.io", "NetworkPolicy"):
            for dir in ["ingress", "egress"] {
                eachItem(&o, ["spec", dir]) { rule in eachItem(&rule, ["ports"]) { def(&$0, ["protocol"], "TCP") } }
            }
            if (o[path: "spec", "policyTypes"]?.array ?? []).isEmpty {
                var types: [JSON] = ["Ingress"]
                if !(o[path: "spec", "egress"]?.array ?? []).isEmpty { types.append("Egress") }
                o.set(["spec", "policyTypes"], to: .array(types))
            }
        case ("autoscaling", "HorizontalPodAutoscaler"):
            hpa(&o)
        case ("rbac.authorization.k8s.io", "RoleBinding"), ("rbac.authorization.k8s.io", "ClusterRoleBinding"):
            defString(&o, ["roleRef", "apiGroup"], "rbac.authorization.k8s.io")
            eachItem(&o, ["subjects"]) { s in
                if s["kind"]?.string == "User" || s["kind"]?.string == "Group" {
                    defString(&s, ["apiGroup"], "rbac.authorization.k8s.io")
                }
            }
        case ("rbac.authorization.k8s.io", "Role"), ("rbac.authorization.k8s.io", "ClusterRole"):
            // `rules` has no omitempty: a role without rules (an aggregated ClusterRole) is written `"rules": null`.
            if o["rules"] == nil { o["rules"] = .null }
        case ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
            ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"):
            let mutating = kind.hasPrefix("Mutating")
            eachItem(&o, ["webhooks"]) { w in
                defString(&w, ["failurePolicy"], "Fail")
                defString(&w, ["matchPolicy"], "Equivalent")
                def(&w, ["namespaceSelector"], [:])
                def(&w, ["objectSelector"], [:])
                def(&w, ["timeoutSeconds"], 10)
                if mutating { defString(&w, ["reinvocationPolicy"], "Never") }
                eachItem(&w, ["rules"]) { defString(&$0, ["scope"], "*") }
                edit(&w, ["clientConfig", "service"]) { def(&$0, ["port"], 443) }
            }
        case ("apiextensions.k8s.io", "CustomResourceDefinition"):
            // SetDefaults_CustomResourceDefinitionSpec
            if let k = o[path: "spec", "names", "kind"]?.string, !k.isEmpty {
                defString(&o, ["spec", "names", "singular"], k.lowercased())
                defString(&o, ["spec", "names", "listKind"], k + "List")
            }
            def(&o, ["spec", "conversion"], ["strategy": "None"])
            edit(&o, ["spec", "conversion", "webhook", "clientConfig", "service"]) { def(&$0, ["port"], 443) }
        case ("policy", "PodDisruptionBudget"), ("networking.k8s.io", "Ingress"), ("networking.k8s.io", "IngressClass"):
            break
        case ("storage.k8s.io", "StorageClass"):
            defString(&o, ["reclaimPolicy"], "Delete")
            defString(&o, ["volumeBindingMode"], "Immediate")
        case ("scheduling.k8s.io", "PriorityClass"):
            defString(&o, ["preemptionPolicy"], "PreemptLowerPriority")
        default:
            break
        }
        return o
    }

    // MARK: pods

    /// A workload's pod template: its spec, and `metadata: {}` when absent (a struct in Go).
    static func podTemplate(_ o: inout JSON, _ path: [String]) {
        guard let t = o.value(at: path), case .object = t else { return }
        def(&o, path + ["metadata"], [:])
        if unset(o.value(at: path + ["spec"])) { o.set(path + ["spec"], to: [:]) }
        edit(&o, path + ["spec"]) { podSpec(&$0) }
    }

    /// SetDefaults_PodSpec and the defaulters of what a pod spec holds.
    static func podSpec(_ s: inout JSON) {
        defString(&s, ["dnsPolicy"], "ClusterFirst")
        defString(&s, ["restartPolicy"], "Always")
        def(&s, ["terminationGracePeriodSeconds"], 30)
        def(&s, ["securityContext"], [:])
        defString(&s, ["schedulerName"], "default-scheduler")
        // The deprecated `serviceAccount` is written from serviceAccountName (conversion).
        if let sa = s["serviceAccountName"]?.string, !sa.isEmpty { defString(&s, ["serviceAccount"], sa) }
        let hostNetwork = s["hostNetwork"]?.bool == true
        for list in ["containers", "initContainers", "ephemeralContainers"] {
            eachItem(&s, [list]) { container(&$0, hostNetwork: hostNetwork) }
        }
        eachItem(&s, ["volumes"]) { volume(&$0) }
    }

    /// SetDefaults_Container and its parts. `resources: {}` because it is a struct.
    static func container(_ c: inout JSON, hostNetwork: Bool) {
        defString(&c, ["terminationMessagePath"], "/dev/termination-log")
        defString(&c, ["terminationMessagePolicy"], "File")
        defString(&c, ["imagePullPolicy"], imageTag(c["image"]?.string ?? "") == "latest" ? "Always" : "IfNotPresent")
        def(&c, ["resources"], [:])
        eachItem(&c, ["ports"]) { p in
            defString(&p, ["protocol"], "TCP")
            if hostNetwork, unset(p["hostPort"]) || p["hostPort"] == 0, let cp = p["containerPort"] {
                p["hostPort"] = cp
            }
        }
        eachItem(&c, ["env"]) { e in
            edit(&e, ["valueFrom", "fieldRef"]) { defString(&$0, ["apiVersion"], "v1") }
            edit(&e, ["valueFrom", "resourceFieldRef"]) { def(&$0, ["divisor"], "0") }
        }
        for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
            edit(&c, [probe]) { p in
                def(&p, ["timeoutSeconds"], 1)
                def(&p, ["periodSeconds"], 10)
                def(&p, ["successThreshold"], 1)
                def(&p, ["failureThreshold"], 3)
                edit(&p, ["httpGet"]) { httpGet(&$0) }
            }
        }
        for hook in ["postStart", "preStop"] { edit(&c, ["lifecycle", hook, "httpGet"]) { httpGet(&$0) } }
    }

    static func httpGet(_ h: inout JSON) {
        defString(&h, ["path"], "/")
        defString(&h, ["scheme"], "HTTP")
    }

    /// The tag `ParseImageName` finds: "latest" when there is neither a tag nor a digest, "" with
    /// only a digest. (`imagePullPolicy` is Always for "latest", else IfNotPresent.)
    static func imageTag(_ image: String) -> String {
        var ref = image
        var digest = false
        if let at = ref.firstIndex(of: "@") {
            ref = String(ref[..<at])
            digest = true
        }
        let lastSlash = ref.lastIndex(of: "/")
        let nameStart = lastSlash.map { ref.index(after: $0) } ?? ref.startIndex
        if let colon = ref[nameStart...].lastIndex(of: ":") { return String(ref[ref.index(after: colon)...]) }
        return digest ? "" : "latest"
    }

    static let volumeSources = [
        "hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "secret", "nfs",
        "iscsi", "glusterfs", "persistentVolumeClaim", "rbd", "flexVolume", "cinder", "cephfs", "flocker",
        "downwardAPI", "fc", "azureFile", "configMap", "vsphereVolume", "quobyte", "azureDisk",
        "photonPersistentDisk", "projected", "portworxVolume", "scaleIO", "storageos", "csi", "ephemeral", "image"
    ]

    /// SetDefaults_Volume (no source: emptyDir) and the sources' defaulters: file modes 0644
    /// (420), hostPath `type: ""`, projected token expiry 3600 s, downward API `apiVersion: v1`.
    static func volume(_ v: inout JSON) {
        if !volumeSources.contains(where: { !unset(v[$0]) }) { v["emptyDir"] = [:] }
        for source in ["secret", "configMap", "downwardAPI", "projected"] {
            edit(&v, [source]) { def(&$0, ["defaultMode"], 420) }
        }
        edit(&v, ["hostPath"]) { def(&$0, ["type"], "") }
        edit(&v, ["downwardAPI"]) { d in
            eachItem(&d, ["items"]) { i in edit(&i, ["fieldRef"]) { defString(&$0, ["apiVersion"], "v1") } }
        }
        eachItem(&v, ["projected", "sources"]) { s in
            edit(&s, ["serviceAccountToken"]) { def(&$0, ["expirationSeconds"], 3600) }
            edit(&s, ["downwardAPI"]) { d in
                eachItem(&d, ["items"]) { i in edit(&i, ["fieldRef"]) { defString(&$0, ["apiVersion"], "v1") } }
            }
        }
        edit(&v, ["ephemeral", "volumeClaimTemplate", "spec"]) { defString(&$0, ["volumeMode"], "Filesystem") }
    }

    // MARK: kinds

    /// SetDefaults_Service, plus what the Service REST layer sets on create in a single-stack
    /// IPv4 cluster: ipFamilyPolicy SingleStack, ipFamilies [IPv4], clusterIPs from clusterIP.
    static func service(_ o: inout JSON, clusterIP: String?) {
        defString(&o, ["spec", "sessionAffinity"], "None")
        if o[path: "spec", "sessionAffinity"] == "None" { o.set(["spec", "sessionAffinityConfig"], to: nil) }
        if o[path: "spec", "sessionAffinity"] == "ClientIP" {
            def(&o, ["spec", "sessionAffinityConfig", "clientIP", "timeoutSeconds"], 10800)
        }
        defString(&o, ["spec", "type"], "ClusterIP")
        let type = o[path: "spec", "type"]?.string ?? "ClusterIP"
        eachItem(&o, ["spec", "ports"]) { p in
            defString(&p, ["protocol"], "TCP")
            if unset(p["targetPort"]) || p["targetPort"] == 0 || p["targetPort"] == "" {
                p["targetPort"] = p["port"] ?? 0
            }
        }
        let external =
            type == "NodePort" || type == "LoadBalancer"
            || (type == "ClusterIP" && !(o[path: "spec", "externalIPs"]?.array ?? []).isEmpty)
        if external { defString(&o, ["spec", "externalTrafficPolicy"], "Cluster") }
        if ["ClusterIP", "NodePort", "LoadBalancer"].contains(type) {
            def(&o, ["spec", "internalTrafficPolicy"], "Cluster")
        }
        if type == "LoadBalancer" { def(&o, ["spec", "allocateLoadBalancerNodePorts"], true) }
        guard type != "ExternalName" else { return }
        if let ip = clusterIP, unset(o[path: "spec", "clusterIP"]) || o[path: "spec", "clusterIP"] == "" {
            o.set(["spec", "clusterIP"], to: .string(ip))
        }
        if let ip = o[path: "spec", "clusterIP"]?.string, !ip.isEmpty,
            (o[path: "spec", "clusterIPs"]?.array ?? []).isEmpty
        {
            o.set(["spec", "clusterIPs"], to: [.string(ip)])
        }
        if (o[path: "spec", "ipFamilies"]?.array ?? []).isEmpty { o.set(["spec", "ipFamilies"], to: ["IPv4"]) }
        def(&o, ["spec", "ipFamilyPolicy"], "SingleStack")
    }

    /// SetDefaults_Job (the generated selector and pod labels are `prepareForCreate`'s).
    static func job(_ o: inout JSON) {
        if unset(o[path: "spec", "completions"]), unset(o[path: "spec", "parallelism"]) {
            o.set(["spec", "completions"], to: 1)
            o.set(["spec", "parallelism"], to: 1)
        }
        def(&o, ["spec", "parallelism"], 1)
        def(&o, ["spec", "backoffLimit"], unset(o[path: "spec", "backoffLimitPerIndex"]) ? 6 : .int(Int64(Int32.max)))
        if let labels = o[path: "spec", "template", "metadata", "labels"], labels.object?.isEmpty == false,
            (o[path: "metadata", "labels"]?.object ?? [:]).isEmpty
        {
            o.set(["metadata", "labels"], to: labels)
        }
        def(&o, ["spec", "completionMode"], "NonIndexed")
        def(&o, ["spec", "suspend"], false)
        def(
            &o, ["spec", "podReplacementPolicy"],
            unset(o[path: "spec", "podFailurePolicy"]) ? "TerminatingOrFailed" : "Failed")
        podTemplate(&o, ["spec", "template"])
    }

    /// SetDefaults_HorizontalPodAutoscaler (autoscaling/v2): minReplicas 1, 80% CPU when no
    /// metric is given, and the scale-up/scale-down rules' defaults when `behavior` is given.
    static func hpa(_ o: inout JSON) {
        def(&o, ["spec", "minReplicas"], 1)
        if (o[path: "spec", "metrics"]?.array ?? []).isEmpty {
            o.set(
                ["spec", "metrics"],
                to: [
                    [
                        "type": "Resource",
                        "resource": ["name": "cpu", "target": ["type": "Utilization", "averageUtilization": 80]]
                    ]
                ])
        }
        guard o[path: "spec", "behavior"]?.object != nil else { return }
        let up: JSON = [
            "stabilizationWindowSeconds": 0, "selectPolicy": "Max",
            "policies": [
                ["type": "Pods", "value": 4, "periodSeconds": 15],
                ["type": "Percent", "value": 100, "periodSeconds": 15]
            ]
        ]
        let down: JSON = [
            "stabilizationWindowSeconds": 300, "selectPolicy": "Max",
            "policies": [["type": "Percent", "value": 100, "periodSeconds": 15]]
        ]
        for (key, rules) in [("scaleUp", up), ("scaleDown", down)] {
            var r = o[path: "spec", "behavior", key] ?? .null
            if r == .null {
                r = rules
            } else {
                for f in ["stabilizationWindowSeconds", "selectPolicy", "policies"] where unset(r[f]) {
                    r[f] = rules[f]
                }
            }
            o.set(["spec", "behavior", key], to: r)
        }
    }

    // MARK: custom resources

    /// The CRD schema's `default`s (structural defaulting), and null values dropped where the
    /// schema neither allows null nor has a default (`PruneNonNullableNullsWithoutDefaults`).
    /// The root's and embedded objects' `metadata` are left alone.
    public static func customResource(_ obj: JSON, schema: SimSchema) -> JSON {
        applySchemaDefaults(obj, schema, skipMetadata: true)
    }

    static func applySchemaDefaults(_ value: JSON, _ schema: SimSchema, skipMetadata: Bool = false) -> JSON {
        switch value {
        case .object(var o):
            let props = schema.properties ?? [:]
            for (k, p) in props {
                if skipMetadata, k == "metadata" { continue }
                let child = SimSchema(node: p, components: schema.components)
                if let d = child.defaultValue, unset(o[k]) {
                    o[k] = d
                } else if o[k] == .null, child.node["nullable"]?.bool != true {
                    o[k] = nil
                }
            }
            for (k, v) in o {
                if skipMetadata, k == "metadata" { continue }
                if let p = props[k] {
                    o[k] = applySchemaDefaults(
                        v, SimSchema(node: p, components: schema.components),
                        skipMetadata: SimSchema(node: p, components: schema.components).isEmbeddedResource)
                } else if let ap = schema.additionalProperties {
                    o[k] = applySchemaDefaults(v, ap)
                }
            }
            return .object(o)
        case .array(let a):
            guard let items = schema.node["items"].map({ SimSchema(node: $0, components: schema.components) }) else {
                return value
            }
            return .array(a.map { applySchemaDefaults($0, items, skipMetadata: items.isEmbeddedResource) })
        default:
            return value
        }
    }

    // MARK: strategies

    /// The strategies' `PrepareForCreate`: the initial status of kinds that have one (a status
    /// in the body is ignored; Go writes empty status structs as `{}` and their non-omitempty
    /// counters as 0), a Namespace's `kubernetes` finalizer, a CRD's status, a Job's generated
    /// selector and pod labels (with `uid`), a custom resource's status dropped when the CRD
    /// has a status subresource.
    public static func prepareForCreate(
        _ obj: JSON, kind: String, group: String, customResource: Bool = false,
        statusSubresource: Bool = false, uid: String? = nil
    ) -> JSON {
        var o = obj
        if customResource {
            if statusSubresource { o["status"] = nil }
            return o
        }
        switch (group, kind) {
        case ("", "Namespace"):
            o["status"] = ["phase": "Active"]
            var finalizers = o[path: "spec", "finalizers"]?.array ?? []
            if !finalizers.contains("kubernetes") { finalizers.append("kubernetes") }
            o.set(["spec", "finalizers"], to: .array(finalizers))
        case ("", "Service"), ("networking.k8s.io", "Ingress"):
            o["status"] = ["loadBalancer": [:]]
        case ("", "PersistentVolumeClaim"), ("", "PersistentVolume"):
            o["status"] = ["phase": "Pending"]
        case ("", "Pod"):
            o["status"] = ["phase": "Pending", "qosClass": .string(qosClass(o))]
        case ("apps", "Deployment"), ("batch", "CronJob"):
            o["status"] = [:]
        case ("apps", "ReplicaSet"), ("", "ReplicationController"):
            o["status"] = ["replicas": 0]
        case ("apps", "StatefulSet"):
            o["status"] = ["replicas": 0, "availableReplicas": 0]
        case ("apps", "DaemonSet"):
            o["status"] = [
                "currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0, "numberReady": 0
            ]
        case ("batch", "Job"):
            o["status"] = [:]
            if o[path: "spec", "manualSelector"]?.bool != true, let uid {
                let name = o[path: "metadata", "name"]?.string ?? ""
                o.set(["spec", "selector"], to: ["matchLabels": ["batch.kubernetes.io/controller-uid": .string(uid)]])
                for (k, v) in [
                    ("batch.kubernetes.io/controller-uid", uid), ("batch.kubernetes.io/job-name", name),
                    ("controller-uid", uid), ("job-name", name)
                ] {
                    o.set(["spec", "template", "metadata", "labels", k], to: .string(v))
                }
            }
        case ("autoscaling", "HorizontalPodAutoscaler"):
            o["status"] = ["desiredReplicas": 0]
        case ("policy", "PodDisruptionBudget"):
            o["status"] = ["disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0]
        case ("apiextensions.k8s.io", "CustomResourceDefinition"):
            // conditions and acceptedNames' plural/kind have no omitempty; storedVersions starts
            // with the storage version (the CRD controller fills the rest in later).
            let storage = (o[path: "spec", "versions"]?.array ?? []).first { $0["storage"]?.bool == true }?["name"]
            o["status"] = [
                "conditions": .null, "acceptedNames": ["plural": "", "kind": ""],
                "storedVersions": storage.map { [$0] } ?? .null
            ]
        default:
            break
        }
        return o
    }

    /// The strategies' `PrepareForUpdate`: status is the stored one for kinds with a status
    /// subresource (a Namespace keeps its finalizers too); other kinds take the body's.
    public static func prepareForUpdate(
        _ obj: JSON, old: JSON, kind: String, group: String, customResource: Bool = false,
        statusSubresource: Bool = false
    ) -> JSON {
        var o = obj
        if customResource ? statusSubresource : hasStatusSubresource(kind: kind, group: group) {
            o["status"] = old["status"]
        }
        if group.isEmpty, kind == "Namespace" { o.set(["spec", "finalizers"], to: old[path: "spec", "finalizers"]) }
        return o
    }

    /// A pod's QoS class from its containers' requests and limits.
    static func qosClass(_ pod: JSON) -> String {
        let containers =
            (pod[path: "spec", "containers"]?.array ?? []) + (pod[path: "spec", "initContainers"]?.array ?? [])
        var any = false, guaranteed = true
        for c in containers {
            let req = c[path: "resources", "requests"]?.object ?? [:],
                lim = c[path: "resources", "limits"]?.object ?? [:]
            if !req.isEmpty || !lim.isEmpty { any = true }
            for r in ["cpu", "memory"] where lim[r] == nil || (req[r] != nil && req[r] != lim[r]) { guaranteed = false }
        }
        return !any ? "BestEffort" : (guaranteed ? "Guaranteed" : "Burstable")
    }
}
