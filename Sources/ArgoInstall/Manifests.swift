import ClusterDrivers
import Foundation
import Yams

/// One image reference aphex rewrote (reported with --verbose).
public struct ImageRewrite: Sendable, Equatable {
    /// "Deployment/tekton-pipelines-controller"
    public var object: String
    /// "spec.template.spec.containers[0].image"
    public var path: String
    public var from: String
    public var to: String
}

/// A release manifest split the way it is applied: namespaces, then CRDs (waited for until
/// Established), then everything else.
public struct Bundle: Sendable {
    public var component: ResolvedComponent
    public var sha256: String
    public var namespaces: [JSON]
    public var crds: [JSON]
    public var rest: [JSON]
    public var rewrites: [ImageRewrite]

    public var name: String { component.name }
    public var objectCount: Int { namespaces.count + crds.count + rest.count }
    public var crdNames: [String] { crds.compactMap(\.name) }

    /// Parses, transforms and splits a verified manifest.
    public init(_ manifest: FetchedManifest) throws {
        var objects = try Manifests.parse(String(decoding: manifest.bytes, as: UTF8.self),
                                          origin: "the \(manifest.component.label) manifest (\(manifest.originDescription))")
        var rewrites: [ImageRewrite] = []
        if manifest.component.component.rewritesTektonImages {
            rewrites = Manifests.rewriteTektonImages(&objects)
        }
        self.init(component: manifest.component, sha256: manifest.sha256, objects: objects, rewrites: rewrites)
    }

    public init(component: ResolvedComponent, sha256: String, objects: [JSON], rewrites: [ImageRewrite] = []) {
        let split = Manifests.split(objects)
        var namespaces = split.namespaces
        // ArgoCD's install.yaml has no Namespace: it is applied with -n argocd. Create it.
        if let ns = component.component.defaultNamespace, !namespaces.contains(where: { $0.name == ns }) {
            namespaces.insert(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string(ns)]], at: 0)
        }
        self.component = component
        self.sha256 = sha256
        self.namespaces = namespaces
        self.crds = split.crds
        self.rest = split.rest
        self.rewrites = rewrites
    }
}

public enum Manifests {
    /// Multi-document YAML -> objects. Empty documents are dropped, `kind: List` is flattened.
    /// Scalars resolve like Kubernetes' YAML reader (YAML 1.1 core types; timestamps stay strings).
    public static func parse(_ text: String, origin: String = "manifest") throws -> [JSON] {
        var out: [JSON] = []
        do {
            for node in try Yams.compose_all(yaml: text) {
                let value = try json(node)
                append(value, to: &out)
            }
        } catch let e as AphexError {
            throw e
        } catch {
            throw AphexError.failed("Could not parse \(origin) as YAML: \(error). The file is damaged or not a Kubernetes manifest; delete it from the cache (or your --manifests-dir) and run again.")
        }
        for (i, o) in out.enumerated() where o["kind"]?.string == nil || o["apiVersion"]?.string == nil || o.name == nil {
            throw AphexError.failed("Document \(i + 1) of \(origin) is not a Kubernetes object (it lacks apiVersion, kind or metadata.name). The file is not a release manifest; check its source.")
        }
        return out
    }

    private static func append(_ value: JSON, to out: inout [JSON]) {
        switch value {
        case .null: return
        case .object where value["kind"]?.string == "List" || (value["kind"]?.string?.hasSuffix("List") == true && value["items"]?.array != nil):
            for item in value["items"]?.array ?? [] { append(item, to: &out) }
        case .object: out.append(value)
        default: return
        }
    }

    private static func json(_ node: Node) throws -> JSON {
        switch node {
        case .scalar(let s):
            switch Tag.Name(rawValue: s.tag.rawValue) {
            case .null: return .null
            case .bool: return Bool.construct(from: s).map(JSON.bool) ?? .string(s.string)
            case .int:
                if let i = Int.construct(from: s) { return .int(Int64(i)) }
                return .string(s.string)
            case .float:
                if let d = Double.construct(from: s) { return .double(d) }
                return .string(s.string)
            default: return .string(s.string)
            }
        case .mapping(let m):
            var o: [String: JSON] = [:]
            for (k, v) in m {
                guard case .scalar(let ks) = k else { continue }
                if ks.tag.rawValue == Tag.Name.merge.rawValue, case .mapping = v {
                    for (mk, mv) in (try json(v)).object ?? [:] where o[mk] == nil { o[mk] = mv }
                    continue
                }
                o[ks.string] = try json(v)
            }
            return .object(o)
        case .sequence(let seq):
            return .array(try seq.map { try json($0) })
        case .alias:
            throw AphexError.failed("The manifest uses a YAML alias, which aphex does not expand. Release manifests do not use them; check the file's source.")
        }
    }

    /// Namespaces, CRDs, and the rest (manifest order kept inside each group).
    public static func split(_ objects: [JSON]) -> (namespaces: [JSON], crds: [JSON], rest: [JSON]) {
        var namespaces: [JSON] = [], crds: [JSON] = [], rest: [JSON] = []
        for o in objects {
            switch (o["apiVersion"]?.string ?? "", o["kind"]?.string ?? "") {
            case ("v1", "Namespace"): namespaces.append(o)
            case (let api, "CustomResourceDefinition") where api.hasPrefix("apiextensions.k8s.io/"): crds.append(o)
            default: rest.append(o)
            }
        }
        return (namespaces, crds, rest)
    }

    public static let tektonOldRegistry = "gcr.io/tekton-releases/"
    public static let tektonNewRegistry = "ghcr.io/tektoncd/"

    /// Rewrites every gcr.io/tekton-releases/ image reference (container images and the image
    /// flags the controllers take as args) to ghcr.io/tektoncd/. Nothing else is touched.
    public static func rewriteTektonImages(_ objects: inout [JSON]) -> [ImageRewrite] {
        var rewrites: [ImageRewrite] = []
        for i in objects.indices {
            let label = "\(objects[i]["kind"]?.string ?? "?")/\(objects[i].name ?? "?")"
            objects[i] = rewrite(objects[i], path: "", object: label, into: &rewrites)
        }
        return rewrites
    }

    private static func rewrite(_ value: JSON, path: String, object: String, into rewrites: inout [ImageRewrite]) -> JSON {
        switch value {
        case .string(let s) where s.contains(tektonOldRegistry):
            let new = s.replacingOccurrences(of: tektonOldRegistry, with: tektonNewRegistry)
            rewrites.append(ImageRewrite(object: object, path: path, from: s, to: new))
            return .string(new)
        case .object(let o):
            var out: [String: JSON] = [:]
            for k in o.keys.sorted() {
                out[k] = rewrite(o[k]!, path: path.isEmpty ? k : "\(path).\(k)", object: object, into: &rewrites)
            }
            return .object(out)
        case .array(let a):
            return .array(a.enumerated().map { rewrite($0.element, path: "\(path)[\($0.offset)]", object: object, into: &rewrites) })
        default:
            return value
        }
    }

    /// The YAML stream kubectl reads on stdin: one JSON document per object (JSON is YAML),
    /// separated by `---`. Values are exact: no re-quoting or type guessing on the way out.
    public static func stream(_ objects: [JSON]) -> String {
        objects.map { $0.serialized() }.joined(separator: "\n---\n") + "\n"
    }
}
