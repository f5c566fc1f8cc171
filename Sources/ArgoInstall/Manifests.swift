import AphexCore
import KubeClient
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
public struct ManifestBundle: Sendable {
    public var component: ResolvedComponent
    public var sha256: String
    public var namespaces: [JSON]
    public var crds: [JSON]
    public var rest: [JSON]
    public var rewrites: [ImageRewrite]
    /// Oddities met while reading the manifest (reported as warnings when applied).
    public var warnings: [String] = []

    public var name: String { component.name }
    public var objectCount: Int { namespaces.count + crds.count + rest.count }
    public var crdNames: [String] { crds.compactMap(\.name) }

    /// Parses, transforms and splits a verified manifest.
    public init(_ manifest: FetchedManifest) throws {
        var warnings: [String] = []
        var objects = try Manifests.parse(
            String(decoding: manifest.bytes, as: UTF8.self),
            origin: "the \(manifest.component.label) manifest (\(manifest.originDescription))",
            warnings: { warnings.append($0) })
        var rewrites: [ImageRewrite] = []
        if manifest.component.component.rewritesTektonImages {
            rewrites = Manifests.rewriteTektonImages(&objects)
        }
        self.init(component: manifest.component, sha256: manifest.sha256, objects: objects, rewrites: rewrites)
        self.warnings = warnings
    }

    public init(component: ResolvedComponent, sha256: String, objects: [JSON], rewrites: [ImageRewrite] = []) {
        let split = Manifests.split(objects)
        var namespaces = split.namespaces
        // ArgoCD's install.yaml has no Namespace: it is applied with -n argocd. Create it.
        if let ns = component.component.defaultNamespace, !namespaces.contains(where: { $0.name == ns }) {
            // Labelled like the namespaces aphex creates itself. Applied only when it does not
            // exist yet: one that existed before aphex is left as it is (see OwnershipRecord).
            namespaces.insert(
                [
                    "apiVersion": "v1", "kind": "Namespace",
                    "metadata": ["name": .string(ns), "labels": .object([ManagedBy.key: .string(ManagedBy.value)])]
                ], at: 0)
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
    /// Multi-document YAML -> objects. Documents are split like kubectl's YAML reader (a line
    /// starting with `---`); empty documents are dropped, `kind: List` is flattened. Scalars
    /// resolve like Kubernetes' YAML reader (YAML 1.1 core types; timestamps stay strings).
    /// A document that repeats top-level keys (two objects run together by a missing line
    /// break before `---`) is read as kubectl reads it — the last value of each key wins —
    /// and reported through `warnings`.
    public static func parse(
        _ text: String, origin: String = "manifest",
        warnings: ((String) -> Void)? = nil
    ) throws -> [JSON] {
        var out: [JSON] = []
        // kubectl's rule: a stream whose first non-blank byte is `{` is a sequence of JSON values.
        if text.first(where: { !$0.isWhitespace }) == "{" {
            let values: [JSON]
            do {
                values = try KubeJSON.parseStream(Array(text.utf8))
            } catch {
                throw AphexError.failed(
                    """
                    Could not parse \(origin) as a stream of JSON objects: \(error). JSON objects may be \
                    separated only by whitespace (a YAML '---' line between them is an error, as it is for \
                    kubectl). Fix or re-download the file and run again.
                    """
                )
            }
            for v in values { append(v, to: &out) }
            try requireObjects(out, origin: origin)
            return out
        }
        for (index, (chunk, firstLine)) in documentsWithLines(text).enumerated() {
            let value: JSON
            do {
                value = try parseDocument(chunk)
            } catch let refusal as YAMLGuard.Refusal {
                throw refused(refusal, document: index, firstLine: firstLine, origin: origin)
            } catch YamlError.duplicatedKeysInMapping(let keys, _) {
                let (merged, repeated) = lastKeyWins(chunk)
                guard !repeated.isEmpty, let v = try? parseDocument(merged) else {
                    throw AphexError.failed(
                        """
                        Could not parse document \(index + 1) of \(origin): it repeats the key(s) \
                        \(keys.joined(separator: ", ")). The file is damaged; delete it from the cache (or your \
                        --manifests-dir) and run again.
                        """
                    )
                }
                warnings?(
                    """
                    Document \(index + 1) of \(origin) repeats the top-level key(s) \
                    \(repeated.sorted().joined(separator: ", ")) (two objects run together: a missing line break \
                    before '---'?). Like kubectl, aphex keeps the last value of each, so only \
                    \(v["kind"]?.string ?? "?")/\(v.name ?? "?") is applied from it.
                    """
                )
                value = v
            } catch let e as AphexError {
                throw e
            } catch {
                throw AphexError.failed(
                    """
                    Could not parse document \(index + 1) of \(origin) as YAML: \(error). The file is damaged or \
                    not a Kubernetes manifest; delete it from the cache (or your --manifests-dir) and run again.
                    """
                )
            }
            if case .object = value {
            } else if value != .null {
                throw AphexError.failed(
                    """
                    Document \(index + 1) of \(origin) is not a Kubernetes object (a YAML \
                    \(value.array == nil ? "scalar" : "list")). The file is not a release manifest (an error \
                    page?); check its source.
                    """
                )
            }
            append(value, to: &out)
        }
        try requireObjects(out, origin: origin)
        return out
    }

    /// The YAML gate alone (no document is composed): throws the error `parse` would for an
    /// anchor, alias or runaway nesting. Cheap enough to run on --manifests-dir before anything.
    public static func checkYAML(_ text: String, origin: String) throws {
        if text.first(where: { !$0.isWhitespace }) == "{" { return }
        for (index, (chunk, firstLine)) in documentsWithLines(text).enumerated() {
            if let refusal = YAMLGuard.check(chunk) {
                throw refused(refusal, document: index, firstLine: firstLine, origin: origin)
            }
        }
    }

    private static func refused(_ refusal: YAMLGuard.Refusal, document index: Int, firstLine: Int, origin: String)
        -> AphexError
    {
        var atLine = refusal
        atLine.line += firstLine - 1
        return AphexError.usage(
            """
            Document \(index + 1) of \(origin) contains \(atLine) of the file. \(refusal.advice) Release \
            manifests do not use them; check the file's source.
            """
        )
    }

    private static func requireObjects(_ out: [JSON], origin: String) throws {
        for (i, o) in out.enumerated() where o["kind"]?.string == nil || o["apiVersion"]?.string == nil || o.name == nil
        {
            throw AphexError.failed(
                """
                Object \(i + 1) of \(origin) is not a Kubernetes object (it lacks apiVersion, kind or \
                metadata.name). The file is not a release manifest; check its source.
                """
            )
        }
    }

    /// Splits on lines that start with `---` (kubectl's YAMLReader rule); drops documents
    /// holding only comments and blank lines.
    static func documents(_ text: String) -> [String] { documentsWithLines(text).map(\.text) }

    /// The documents with the file line each starts on (for messages).
    static func documentsWithLines(_ text: String) -> [(text: String, firstLine: Int)] {
        var docs: [(String, Int)] = []
        var current: [Substring] = []
        var start = 1
        func flush(next: Int) {
            if current.contains(where: { line in
                let t = line.trimmingCharacters(in: .whitespaces)
                return !t.isEmpty && !t.hasPrefix("#")
            }) {
                docs.append((current.joined(separator: "\n") + "\n", start))
            }
            current = []
            start = next
        }
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if line.hasPrefix("---") { flush(next: i + 2) } else { current.append(line) }
        }
        flush(next: 0)
        return docs
    }

    /// Through `YAMLGuard`: anchors and aliases are refused before Yams composes (and would
    /// expand) them.
    private static func parseDocument(_ text: String) throws -> JSON {
        guard let node = try YAMLGuard.compose(text) else { return .null }
        return try json(node)
    }

    /// Keeps the last block of each repeated top-level key (go-yaml's non-strict decoding).
    static func lastKeyWins(_ chunk: String) -> (String, Set<String>) {
        var blocks: [(key: String?, lines: [Substring])] = [(nil, [])]
        for line in chunk.split(separator: "\n", omittingEmptySubsequences: false) {
            if let first = line.first, first != " ", first != "#", first != "-", let colon = line.firstIndex(of: ":") {
                blocks.append((String(line[..<colon]), [line]))
            } else {
                blocks[blocks.count - 1].lines.append(line)
            }
        }
        var lastIndex: [String: Int] = [:]
        var repeated: Set<String> = []
        for (i, b) in blocks.enumerated() {
            guard let k = b.key else { continue }
            if lastIndex[k] != nil { repeated.insert(k) }
            lastIndex[k] = i
        }
        let kept = blocks.enumerated().filter { i, b in b.key.map { lastIndex[$0] == i } ?? true }.flatMap {
            $0.element.lines
        }
        return (kept.joined(separator: "\n"), repeated)
    }

    private static func append(_ value: JSON, to out: inout [JSON]) {
        switch value {
        case .null: return
        case .object
        where value["kind"]?.string == "List"
            || (value["kind"]?.string?.hasSuffix("List") == true && value["items"]?.array != nil):
            for item in value["items"]?.array ?? [] { append(item, to: &out) }
        case .object: out.append(value)
        default: return
        }
    }

    private static func json(_ node: Node) throws -> JSON {
        switch node {
        case .scalar(let s):
            switch resolveTag(s) {
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
            // Unreachable: Yams resolves aliases while composing, and YAMLGuard refuses them first.
            throw AphexError.usage(
                """
                The manifest uses a YAML alias, which aphex does not expand. Release manifests do not use them; \
                check the file's source.
                """
            )
        }
    }

    /// Yams' default resolution, with a fast path: quoted and block scalars are strings, and
    /// so is a plain scalar whose first character cannot start a null, bool, int or float.
    private static func resolveTag(_ s: Node.Scalar) -> Tag.Name {
        let explicit = s.tag.rawValue
        if !explicit.isEmpty { return explicit == "!" ? .str : Tag.Name(rawValue: explicit) }
        guard s.style == .plain || s.style == .any else { return .str }
        guard let first = s.string.unicodeScalars.first else { return .null }
        if "yYnNtTfFoO~+-.0123456789".unicodeScalars.contains(first) {
            return Resolver.default.resolveTag(of: Node.scalar(s))
        }
        return .str
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

    private static func rewrite(_ value: JSON, path: String, object: String, into rewrites: inout [ImageRewrite])
        -> JSON
    {
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
            return .array(
                a.enumerated().map {
                    rewrite($0.element, path: "\(path)[\($0.offset)]", object: object, into: &rewrites)
                })
        default:
            return value
        }
    }

    /// The stream kubectl reads on stdin: one compact JSON object per line, nothing else between
    /// them. kubectl reads input whose first non-blank byte is `{` as a JSON stream (Go's
    /// json.Decoder); a YAML `---` between JSON objects makes the real kubectl stop after the
    /// first object (`invalid character '-' in numeric literal`, ../shared/realapi/
    /// kubectl-stdin-formats.md). Values are exact: no re-quoting or type guessing on the way out.
    public static func stream(_ objects: [JSON]) -> String {
        objects.map { $0.serialized() }.joined(separator: "\n") + "\n"
    }
}
