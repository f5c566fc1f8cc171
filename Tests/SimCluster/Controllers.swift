import AphexCore
import KubeClient
import Foundation

// The simulated controllers. Each computes the state an object should have at `now` from
// logical times (when it was created / changed), writes it if different, and reports change.
// Deterministic: the same scenario and the same clock readings give the same objects.

/// SHA-256 hex of a short name, memoized: the controllers derive names, IPs and image IDs from
/// such hashes on every tick.
func nameHash(_ s: String) -> String {
    if let hit = nameHashCache.withLock({ $0[s] }) { return hit }
    let h = sha256Hex(Array(s.utf8))
    nameHashCache.withLock { $0[s] = h }
    return h
}
private let nameHashCache = LockedBox<[String: String]>([:])

func shortHash(_ s: String, _ n: Int) -> String {
    let alphabet = Array("bcdfghjklmnpqrstvwxz2456789")
    let h = nameHash(s)
    var out = ""
    var i = h.startIndex
    while out.count < n {
        let next = h.index(i, offsetBy: 2)
        out.append(alphabet[Int(h[i..<next], radix: 16)! % alphabet.count])
        i = next
    }
    return out
}

/// CRDs become Established `crdEstablish` seconds after creation; their types are then served.
final class CRDController: SimController {
    static func establishedStatus(_ crd: JSON, at time: String) -> JSON {
        let names = crd[path: "spec", "names"] ?? [:]
        return [
            "acceptedNames": names,
            "storedVersions": .array(
                (crd[path: "spec", "versions"]?.array ?? []).filter { $0["storage"]?.bool == true }.compactMap {
                    $0["name"]
                }),
            "conditions": [
                [
                    "type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found",
                    "lastTransitionTime": .string(time)
                ],
                [
                    "type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                    "message": "the initial names have been accepted", "lastTransitionTime": .string(time)
                ]
            ]
        ]
    }

    func step(_ w: SimWorld, now: Duration) -> Bool {
        var changed = false
        for (k, crd) in w.objects where k.resource == "customresourcedefinitions" && k.group == "apiextensions.k8s.io" {
            let established = (crd[path: "status", "conditions"]?.array ?? []).contains {
                $0["type"] == "Established" && $0["status"] == "True"
            }
            let group = crd[path: "spec", "group"]?.string ?? "",
                plural = crd[path: "spec", "names", "plural"]?.string ?? ""
            if established {
                // Re-register when the served versions changed (an apply of a newer CRD).
                let versions = (crd[path: "spec", "versions"]?.array ?? []).filter { $0["served"]?.bool ?? true }
                    .compactMap { $0["name"]?.string }
                if w.types[w.typeKey(group, plural)]?.versions != versions { w.registerCRD(crd, established: true) }
                continue
            }
            let due = (w.createdAt[k] ?? now) + w.scenario.delay(w.scenario.timings.crdEstablish)
            if now >= due {
                var o = crd
                var status = crd["status"] ?? [:]
                let namesAt = (status["conditions"]?.array ?? []).first { $0["type"] == "NamesAccepted" }?[
                    "lastTransitionTime"]
                for (key, value) in Self.establishedStatus(crd, at: w.wall(due)).object ?? [:]
                where key != "storedVersions" || status[key] == nil {
                    status[key] = value
                }
                if let namesAt, var conditions = status["conditions"]?.array, !conditions.isEmpty {
                    conditions[0]["lastTransitionTime"] = namesAt  // NamesAccepted did not transition again
                    status["conditions"] = .array(conditions)
                }
                o["status"] = status
                // The apiextensions server writes this through the status subresource, as
                // manager kube-apiserver (ssa/crd-applicationsets-2-reapply.json).
                let schema =
                    w.openAPI.typeSchema(group: "apiextensions.k8s.io", version: "v1", kind: "CustomResourceDefinition")
                    ?? .open
                o = SimFieldManager.update(
                    old: crd, new: o, manager: "kube-apiserver", schema: schema, apiVersion: "apiextensions.k8s.io/v1",
                    time: w.wall(due), subresource: "status")
                w.store(o, key: k, at: due)
                w.registerCRD(w.objects[k]!, established: true)
                changed = true
            } else if crd[path: "status", "conditions"]?.array == nil {
                // The naming controller accepts the names at once; Established follows
                // (conditions are null in the create response: ssa/crd-applicationsets-1-create.json).
                var o = crd
                var status = crd["status"] ?? [:]
                status["acceptedNames"] = crd[path: "spec", "names"] ?? [:]
                status["conditions"] = [
                    [
                        "type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                        "message": "no conflicts found",
                        "lastTransitionTime": .string(w.wall(now))
                    ],
                    [
                        "type": "Established", "status": "False", "reason": "Installing",
                        "message": "the initial names have been accepted", "lastTransitionTime": .string(w.wall(now))
                    ]
                ]
                o["status"] = status
                let schema =
                    w.openAPI.typeSchema(group: "apiextensions.k8s.io", version: "v1", kind: "CustomResourceDefinition")
                    ?? .open
                o = SimFieldManager.update(
                    old: crd, new: o, manager: "kube-apiserver", schema: schema, apiVersion: "apiextensions.k8s.io/v1",
                    time: w.wall(now), subresource: "status")
                w.store(o, key: k)
                changed = true
            }
        }
        return changed
    }
}

/// Namespaces being deleted: their contents go, then the namespace.
final class NamespaceController: SimController {
    func step(_ w: SimWorld, now: Duration) -> Bool {
        var changed = false
        for (k, ns) in w.objects
        where k.group == "" && k.resource == "namespaces" && ns[path: "metadata", "deletionTimestamp"] != nil {
            let contents = w.objects.filter {
                $0.key.namespace == k.name
                    && !(w.types[w.typeKey($0.key.group, $0.key.resource)]?.ref.namespaced == false)
            }
            if contents.isEmpty {
                w.remove(k, by: nil)
                changed = true
            } else {
                for (ck, c) in contents where c[path: "metadata", "deletionTimestamp"] == nil {
                    w.markDeleted(ck, by: nil)
                    changed = true
                }
            }
        }
        return changed
    }
}

/// kube-controller-manager's root-ca-cert-publisher: a ConfigMap kube-root-ca.crt with the
/// cluster CA in every namespace that is not terminating (kubectl get cm -A shows them on any
/// real cluster; the recorded LIST of ConfigMaps in default has it).
final class RootCAController: SimController {
    static let caPEM =
        """
        -----BEGIN \
        CERTIFICATE-----\n\
        MIIC/jCCAeagAwIBAgIBADANBgkqhkiG9w0BAQsFADAVMRMwEQYDVQQDEwprdWJl\n\
        cm5ldGVzMB4XDTI2MTIwMjAwMDAwMFoXDTM2MTEzMDAwMDAwMFowFTETMBEGA1UE\n\
        AxMKa3ViZXJuZXRlczCCASIwDQYJKoZIhvcNAQEBBQADggEPADCCAQoCggEBAKSIM\n\
        -----END \
        CERTIFICATE-----\n
        """

    func step(_ w: SimWorld, now: Duration) -> Bool {
        var changed = false
        for (k, ns) in w.objects
        where k.group == "" && k.resource == "namespaces" && ns[path: "metadata", "deletionTimestamp"] == nil {
            let cm = ObjectKey(ResourceRef.configMaps, namespace: k.name, name: "kube-root-ca.crt")
            guard w.objects[cm] == nil else { continue }
            w.store(
                [
                    "apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": [
                        "name": "kube-root-ca.crt", "namespace": .string(k.name),
                        "annotations": [
                            "kubernetes.io/description":
                                """
                            Contains a CA bundle that can be used to verify the kube-apiserver when using \
                            internal endpoints such as the internal service IP or kubernetes.default.svc. No \
                            other usage is guaranteed across distributions of Kubernetes clusters.
                            """
                        ]
                    ],
                    "data": ["ca.crt": .string(Self.caPEM)]
                ], key: cm)
            changed = true
        }
        return changed
    }
}

/// Deployments, StatefulSets and DaemonSets: become Available `workloadReady` seconds after
/// each spec change — or never, when an image never pulls (ImagePullBackOff pods and Warning
/// events). Keeps their pods and the EndpointSlices of Services selecting those pods.
final class WorkloadController: SimController {
    var podsOf: [ObjectKey: Set<ObjectKey>] = [:]
    var eventsMade: Set<String> = []

    func neverPulls(_ image: String, _ w: SimWorld) -> Bool {
        w.scenario.neverPull.contains { image == $0 || image.hasPrefix($0) }
    }

    func step(_ w: SimWorld, now: Duration) -> Bool {
        var changed = false
        let kinds = ["deployments", "statefulsets", "daemonsets"]
        var live: Set<ObjectKey> = []
        for (k, o) in w.objects where k.group == "apps" && kinds.contains(k.resource) {
            live.insert(k)
            if o[path: "metadata", "deletionTimestamp"] != nil { continue }
            if reconcile(w, k, o, now: now) { changed = true }
        }
        // Pods of deleted workloads go away.
        for (owner, pods) in podsOf where !live.contains(owner) {
            for p in pods where w.objects[p] != nil {
                w.remove(p, by: nil)
                changed = true
            }
            podsOf[owner] = nil
            w.workloadReadyAt[owner] = nil
        }
        if reconcileEndpoints(w) { changed = true }
        if reconcileNodes(w, now: now) { changed = true }
        return changed
    }

    /// Nodes turn Ready `nodeReady` seconds after they were registered.
    func reconcileNodes(_ w: SimWorld, now: Duration) -> Bool {
        var changed = false
        for (k, n) in w.objects where k.group == "" && k.resource == "nodes" {
            let due = (w.createdAt[k] ?? now) + w.scenario.delay(w.scenario.timings.nodeReady)
            guard now >= due, n.annotations["aphex-sim/kubelet-stopped"] == nil,
                !(n[path: "status", "conditions"]?.array ?? []).contains(where: {
                    $0["type"] == "Ready" && $0["status"] == "True"
                })
            else { continue }
            var next = n
            next.set(
                ["status", "conditions"],
                to: [
                    [
                        "type": "Ready", "status": "True", "reason": "KubeletReady",
                        "message": "kubelet is posting ready status", "lastTransitionTime": .string(w.wall(due))
                    ]
                ])
            w.store(next, key: k, at: due)
            changed = true
        }
        return changed
    }

    func reconcile(_ w: SimWorld, _ k: ObjectKey, _ o: JSON, now: Duration) -> Bool {
        var changed = false
        let gen = o[path: "metadata", "generation"]?.int ?? 1
        let replicas = k.resource == "daemonsets" ? 1 : Int(o[path: "spec", "replicas"]?.int ?? 1)
        let containers = o[path: "spec", "template", "spec", "containers"]?.array ?? []
        let images = containers.compactMap { $0["image"]?.string }
        let badImage = images.first { neverPulls($0, w) }
        let crashLoop = k.name == "cert-manager-cainjector" && w.scenario.cainjector == "crashloop"
        let changedAt = w.changedAt[k] ?? now
        let delaySeconds =
            w.scenario.timings.workloadOverrides["\(k.namespace)/\(k.name)"] ?? w.scenario.timings.workloadReady
        let readyAt: Duration? = (badImage != nil || crashLoop) ? nil : changedAt + w.scenario.delay(delaySeconds)
        if let r = readyAt { w.workloadReadyAt[k] = r } else { w.workloadReadyAt[k] = nil }
        let ready = readyAt.map { now >= $0 } ?? false
        let n = Int64(replicas)
        let uid = o[path: "metadata", "uid"]?.string ?? k.name
        let hash = shortHash("\(uid)/\(gen)", 10)
        let since = w.wall(changedAt)
        let readyTime = readyAt.map { w.wall($0) } ?? since
        var status: JSON
        switch k.resource {
        case "deployments":
            status = ["observedGeneration": .int(gen), "replicas": .int(n), "updatedReplicas": .int(n)]
            if ready {
                status["readyReplicas"] = .int(n)
                status["availableReplicas"] = .int(n)
                status["conditions"] = [
                    [
                        "type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                        "message": "Deployment has minimum availability.",
                        "lastTransitionTime": .string(readyTime), "lastUpdateTime": .string(readyTime)
                    ],
                    [
                        "type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                        "message": .string("ReplicaSet \"\(k.name)-\(hash)\" has successfully progressed."),
                        "lastTransitionTime": .string(since), "lastUpdateTime": .string(readyTime)
                    ]
                ]
            } else {
                status["unavailableReplicas"] = .int(n)
                status["conditions"] = [
                    [
                        "type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable",
                        "message": "Deployment does not have minimum availability.",
                        "lastTransitionTime": .string(since), "lastUpdateTime": .string(since)
                    ],
                    [
                        "type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
                        "message": .string("ReplicaSet \"\(k.name)-\(hash)\" is progressing."),
                        "lastTransitionTime": .string(since), "lastUpdateTime": .string(since)
                    ]
                ]
            }
        case "statefulsets":
            status = [
                "observedGeneration": .int(gen), "replicas": .int(n), "currentReplicas": .int(n),
                "updatedReplicas": .int(n),
                "currentRevision": .string("\(k.name)-\(hash)"), "updateRevision": .string("\(k.name)-\(hash)"),
                "collisionCount": 0,
                "readyReplicas": .int(ready ? n : 0), "availableReplicas": .int(ready ? n : 0)
            ]
        default:
            status = [
                "observedGeneration": .int(gen), "currentNumberScheduled": 1, "desiredNumberScheduled": 1,
                "numberMisscheduled": 0,
                "updatedNumberScheduled": 1, "numberReady": .int(ready ? 1 : 0), "numberAvailable": .int(ready ? 1 : 0)
            ]
            if !ready { status["numberUnavailable"] = 1 }
        }
        if o["status"] != status {
            var next = o
            next["status"] = status
            w.store(next, key: k)
            changed = true
        }
        // Pods
        let labels = o[path: "spec", "template", "metadata", "labels"] ?? [:]
        var want: Set<ObjectKey> = []
        for i in 0..<replicas {
            let podName: String
            switch k.resource {
            case "statefulsets": podName = "\(k.name)-\(i)"
            case "daemonsets": podName = "\(k.name)-\(shortHash("\(uid)/\(gen)/\(i)", 5))"
            default: podName = "\(k.name)-\(hash)-\(shortHash("\(uid)/\(gen)/\(i)", 5))"
            }
            let pk = ObjectKey(ResourceRef.pods, namespace: k.namespace, name: podName)
            want.insert(pk)
            let ip = "10.244.0.\(Int(nameHash(podName).prefix(2), radix: 16)! % 250 + 2)"
            var podLabels = labels
            if k.resource == "deployments" { podLabels["pod-template-hash"] = .string(hash) }
            var cstatuses: [JSON] = []
            for c in containers {
                let image = c["image"]?.string ?? ""
                var cs: JSON = [
                    "name": c["name"] ?? "main", "image": .string(image), "imageID": "", "ready": .bool(ready),
                    "restartCount": 0, "started": .bool(ready)
                ]
                if ready {
                    cs["state"] = ["running": ["startedAt": .string(readyTime)]]
                    cs["imageID"] = .string("\(image.split(separator: ":").first ?? "")@sha256:\(nameHash(image))")
                } else if let bad = badImage, bad == image {
                    cs["state"] = [
                        "waiting": [
                            "reason": "ImagePullBackOff",
                            "message": .string(
                                """
                                Back-off pulling image \"\(image)\": ErrImagePull: failed to pull and unpack \
                                image \"\(image)\": failed to resolve reference \"\(image)\": \(image): not found
                                """
                            )
                        ]
                    ]
                } else if crashLoop {
                    let restarts = Int64(max(0, (now - changedAt).seconds / 10))
                    cs["restartCount"] = .int(restarts)
                    cs["state"] = [
                        "waiting": [
                            "reason": "CrashLoopBackOff",
                            "message": .string(
                                """
                                back-off 5m0s restarting failed container=\(c["name"]?.string ?? "main") \
                                pod=\(podName)_\(k.namespace)(\(shortHash(podName, 8)))
                                """
                            )
                        ]
                    ]
                    cs["lastState"] = ["terminated": ["exitCode": 1, "reason": "Error", "finishedAt": .string(since)]]
                } else {
                    cs["state"] = ["waiting": ["reason": "ContainerCreating"]]
                }
                cstatuses.append(cs)
            }
            let pod: JSON = [
                "apiVersion": "v1", "kind": "Pod",
                "metadata": [
                    "name": .string(podName), "namespace": .string(k.namespace), "labels": podLabels,
                    "ownerReferences": [
                        [
                            "apiVersion": "apps/v1",
                            "kind": k.resource == "deployments"
                                ? "ReplicaSet" : (k.resource == "statefulsets" ? "StatefulSet" : "DaemonSet"),
                            "name": .string(k.resource == "deployments" ? "\(k.name)-\(hash)" : k.name),
                            "controller": true,
                            "uid": .string(uid)
                        ]
                    ]
                ],
                "spec": ["containers": .array(containers), "nodeName": .string(nodeName(w))],
                "status": [
                    "phase": ready || crashLoop ? "Running" : "Pending", "podIP": .string(ip), "hostIP": "172.18.0.2",
                    "startTime": .string(since), "containerStatuses": .array(cstatuses),
                    "conditions": [
                        [
                            "type": "Ready", "status": ready ? "True" : "False",
                            "lastTransitionTime": .string(ready ? readyTime : since)
                        ],
                        [
                            "type": "ContainersReady", "status": ready ? "True" : "False",
                            "lastTransitionTime": .string(ready ? readyTime : since)
                        ],
                        ["type": "PodScheduled", "status": "True", "lastTransitionTime": .string(since)]
                    ]
                ]
            ]
            if w.objects[pk] != pod.merging(w.objects[pk]) {
                if let existing = w.objects[pk] {
                    var next = existing
                    next["status"] = pod["status"]
                    next["metadata"] = SimJSON.applyMerge(existing["metadata"] ?? [:], pod["metadata"]!)
                    if next != existing {
                        w.store(next, key: pk)
                        changed = true
                    }
                } else {
                    w.store(pod, key: pk, at: changedAt)
                    changed = true
                }
            }
            if let bad = badImage { changed = makePullEvents(w, pod: pk, image: bad, at: changedAt) || changed }
        }
        for old in podsOf[k, default: []].subtracting(want) where w.objects[old] != nil {
            w.remove(old, by: nil)
            changed = true
        }
        podsOf[k] = want
        return changed
    }

    func nodeName(_ w: SimWorld) -> String {
        w.objects.first { $0.key.resource == "nodes" }?.key.name ?? "node"
    }

    func makePullEvents(_ w: SimWorld, pod: ObjectKey, image: String, at: Duration) -> Bool {
        var changed = false
        for (reason, message) in [
            (
                "Failed",
                """
                Failed to pull image \"\(image)\": rpc error: code = NotFound desc = failed to pull and unpack \
                image \"\(image)\": failed to resolve reference \"\(image)\": \(image): not found
                """
            ),
            ("Failed", "Error: ErrImagePull"),
            ("BackOff", "Back-off pulling image \"\(image)\""),
            ("Failed", "Error: ImagePullBackOff")
        ] {
            let name = "\(pod.name).\(shortHash(reason + message, 16))"
            if eventsMade.contains("\(pod.namespace)/\(name)") { continue }
            eventsMade.insert("\(pod.namespace)/\(name)")
            let ev: JSON = [
                "apiVersion": "v1", "kind": "Event",
                "metadata": ["name": .string(name), "namespace": .string(pod.namespace)],
                "type": "Warning", "reason": .string(reason), "message": .string(message),
                "involvedObject": [
                    "kind": "Pod", "namespace": .string(pod.namespace), "name": .string(pod.name),
                    "apiVersion": "v1", "fieldPath": "spec.containers{main}"
                ],
                "source": ["component": "kubelet", "host": .string(nodeName(w))],
                "firstTimestamp": .string(w.wall(at)), "lastTimestamp": .string(w.wall(at)), "count": 1
            ]
            w.store(ev, key: ObjectKey(ResourceRef.events, namespace: pod.namespace, name: name), at: at)
            changed = true
        }
        return changed
    }

    /// One EndpointSlice per Service with a selector, listing the matching pods.
    func reconcileEndpoints(_ w: SimWorld) -> Bool {
        var changed = false
        for (sk, svc) in w.objects where sk.group == "" && sk.resource == "services" {
            guard let selector = svc[path: "spec", "selector"]?.stringMap, !selector.isEmpty else { continue }
            let pods = w.objects.filter { pk, p in
                pk.group == "" && pk.resource == "pods" && pk.namespace == sk.namespace
                    && selector.allSatisfy { p.labels[$0.key] == $0.value }
            }.sorted { $0.key < $1.key }
            let endpoints: [JSON] = pods.map { _, p in
                let ready = (p[path: "status", "conditions"]?.array ?? []).contains {
                    $0["type"] == "Ready" && $0["status"] == "True"
                }
                return [
                    "addresses": [p[path: "status", "podIP"] ?? "10.244.0.9"],
                    "conditions": ["ready": .bool(ready), "serving": .bool(ready), "terminating": false],
                    "nodeName": p[path: "spec", "nodeName"] ?? "node",
                    "targetRef": [
                        "kind": "Pod", "namespace": .string(sk.namespace), "name": .string(p.name ?? ""),
                        "uid": p[path: "metadata", "uid"] ?? ""
                    ]
                ]
            }
            let ports: [JSON] = (svc[path: "spec", "ports"]?.array ?? []).map { p in
                let target = p["targetPort"]?.int ?? p["port"]?.int ?? 80
                return ["name": p["name"] ?? "", "port": .int(target), "protocol": p["protocol"] ?? "TCP"]
            }
            let name = "\(sk.name)-\(shortHash(sk.description, 5))"
            let slice: JSON = [
                "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": [
                    "name": .string(name), "namespace": .string(sk.namespace),
                    "labels": [
                        "kubernetes.io/service-name": .string(sk.name),
                        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"
                    ],
                    "ownerReferences": [
                        [
                            "apiVersion": "v1", "kind": "Service", "name": .string(sk.name),
                            "uid": svc[path: "metadata", "uid"] ?? ""
                        ]
                    ]
                ],
                "addressType": "IPv4", "endpoints": .array(endpoints), "ports": .array(ports)
            ]
            let ek = ObjectKey(ResourceRef.endpointSlices, namespace: sk.namespace, name: name)
            if let existing = w.objects[ek] {
                var next = existing
                next["endpoints"] = slice["endpoints"]
                next["ports"] = slice["ports"]
                if next != existing {
                    w.store(next, key: ek)
                    changed = true
                }
            } else {
                w.store(slice, key: ek)
                changed = true
            }
        }
        // Slices of deleted services go.
        for (ek, e) in w.objects
        where ek.resource == "endpointslices"
            && e[path: "metadata", "labels", "endpointslice.kubernetes.io/managed-by"]?.string
                == "endpointslice-controller.k8s.io"
        {
            let svcName = e.labels["kubernetes.io/service-name"] ?? ""
            if w.objects[ObjectKey(ResourceRef.services, namespace: ek.namespace, name: svcName)] == nil {
                w.remove(ek, by: nil)
                changed = true
            }
        }
        return changed
    }
}

extension JSON {
    /// `self` with the fields of `other` that `self` lacks (used to compare controller output
    /// with stored objects that carry server metadata).
    func merging(_ other: JSON?) -> JSON {
        guard let other else { return self }
        return SimJSON.applyMerge(other, self)
    }
}

/// cert-manager's cainjector: writes the caBundle into the webhook configurations
/// `caBundle` seconds after the webhook has a ready endpoint (never when cainjector is
/// broken).
final class CertManagerController: SimController {
    func step(_ w: SimWorld, now: Duration) -> Bool {
        guard w.scenario.cainjector == "ok" else { return false }
        let webhookDeploy = ObjectKey(ResourceRef.deployments, namespace: "cert-manager", name: "cert-manager-webhook")
        let cainjector = ObjectKey(ResourceRef.deployments, namespace: "cert-manager", name: "cert-manager-cainjector")
        guard let ready = w.workloadReadyAt[webhookDeploy], let injReady = w.workloadReadyAt[cainjector] else {
            return false
        }
        let due = max(ready, injReady) + w.scenario.delay(w.scenario.timings.caBundle)
        guard now >= due else { return false }
        var changed = false
        for ref in [ResourceRef.validatingWebhooks, ResourceRef.mutatingWebhooks] {
            let k = ObjectKey(ref, namespace: nil, name: "cert-manager-webhook")
            guard var o = w.objects[k] else { continue }
            var hooks = o["webhooks"]?.array ?? []
            for i in hooks.indices { hooks[i].set(["clientConfig", "caBundle"], to: .string(SimCerts.webhookCABase64)) }
            o["webhooks"] = .array(hooks)
            if o != w.objects[k] {
                w.store(o, key: k, at: due)
                changed = true
            }
        }
        return changed
    }
}

/// A value behind a lock (caches shared by threads of the loopback server).
final class LockedBox<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLock<R>(_ body: (inout Value) -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}
