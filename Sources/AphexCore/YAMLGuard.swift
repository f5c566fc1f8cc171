import CYamlEvents
import Yams

/// The gate every YAML file aphex reads passes before Yams composes it: release manifests,
/// kubeconfigs, the components file.
///
/// Yams resolves an alias while composing (the alias becomes the anchored node), and hashes
/// mapping keys to find duplicates, so nested aliases — a few hundred bytes, each level
/// repeating the one before nine times — cost exponential time and memory before any caller
/// sees a node. Nothing aphex reads needs anchors, so they are refused where they are one
/// event each: libyaml's event stream, read without building anything (linear in the input).
/// Nesting is capped at 512, as KubeJSON caps JSON (Yams composes recursively; libyaml itself
/// stops at 1000 with a parse error).
public enum YAMLGuard {
    public static let maxDepth = 512

    public struct Refusal: Error, Equatable, Sendable, CustomStringConvertible {
        public enum Kind: Sendable, Equatable { case anchor, alias, tooDeep }
        public var kind: Kind
        /// 1-based, in the text that was checked.
        public var line: Int
        public var column: Int

        public init(kind: Kind, line: Int, column: Int) {
            self.kind = kind
            self.line = line
            self.column = column
        }

        public var description: String {
            switch kind {
            case .anchor: return "a YAML anchor (&name) at line \(line), column \(column)"
            case .alias: return "a YAML alias (*name) at line \(line), column \(column)"
            case .tooDeep:
                return "collections nested more than \(YAMLGuard.maxDepth) deep at line \(line), column \(column)"
            }
        }

        /// Why aphex refuses it and what to do, for the end of a caller's message.
        public var advice: String {
            switch kind {
            case .anchor, .alias:
                return
                    """
                    aphex refuses YAML anchors and aliases: a few hundred bytes of nested aliases expand to \
                    gigabytes. Write the values out (`yq 'explode(.)' FILE` does it) and run again.
                    """
            case .tooDeep:
                return "No Kubernetes object, kubeconfig or components file nests that deep; check the file's source."
            }
        }
    }

    /// The first anchor, alias or too-deep collection in `text`; nil when there is none. A
    /// syntax error ends the check without a finding: composing meets the same error and
    /// reports it in Yams' words.
    public static func check(_ text: String) -> Refusal? {
        var copy = text
        let r = copy.withUTF8 { buffer -> aphex_yaml_scan_result in
            guard let base = buffer.baseAddress, buffer.count > 0 else {
                return aphex_yaml_scan_result(finding: APHEX_YAML_OK, line: 0, column: 0)
            }
            return aphex_yaml_scan(base, buffer.count, maxDepth)
        }
        let kind: Refusal.Kind
        switch r.finding {
        case APHEX_YAML_ANCHOR: kind = .anchor
        case APHEX_YAML_ALIAS: kind = .alias
        case APHEX_YAML_TOO_DEEP: kind = .tooDeep
        default: return nil
        }
        return Refusal(kind: kind, line: Int(r.line), column: Int(r.column))
    }

    /// `Yams.compose` after `check`: throws `Refusal` for an anchor, alias or too-deep text.
    public static func compose(_ text: String, _ resolver: Resolver = .default) throws -> Node? {
        if let refusal = check(text) { throw refusal }
        return try Yams.compose(yaml: text, resolver)
    }

    /// `Yams.load` after `check` (a plain Swift value tree, for `JSON(any:)`).
    public static func load(_ text: String) throws -> Any? {
        if let refusal = check(text) { throw refusal }
        return try Yams.load(yaml: text)
    }
}

/// Values written into YAML that aphex renders itself (kind's cluster config, Secret manifests).
public enum YAMLScalar {
    /// A YAML double-quoted scalar (JSON string syntax is valid YAML): quotes, backslashes and
    /// control characters escaped, so no value can end the scalar or start a new key.
    public static func quoted(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7f {
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
