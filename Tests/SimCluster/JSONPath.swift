import ClusterDrivers
import Foundation

/// kubectl's JSONPath templates: `{.a.b}`, `{.items[*].metadata.name}`, `{.x[0]}`,
/// `{.metadata.annotations.argocd\.argoproj\.io/sync-wave}`, filters `[?(@.type=="Ready")]`,
/// `{range .items[*]}...{end}`, string literals `{"\n"}`, and plain text between.
enum JSONPathTemplate {
    indirect enum Node {
        case text(String)
        case expr(String)
        case range(String, [Node])
    }

    static func render(_ template: String, _ root: JSON) throws -> String {
        var t = template.trimmingCharacters(in: .whitespaces)
        if (t.hasPrefix("'") && t.hasSuffix("'")) || (t.hasPrefix("\"") && t.hasSuffix("\"")), t.count >= 2 { t = String(t.dropFirst().dropLast()) }
        let tokens = try tokenize(t)
        var i = 0
        let nodes = try parse(tokens, &i, inRange: false)
        var out = ""
        try eval(nodes, root: root, current: root, into: &out)
        return out
    }

    enum Token { case text(String), action(String) }

    static func tokenize(_ s: String) throws -> [Token] {
        var out: [Token] = []
        var text = ""
        var i = s.startIndex
        while i < s.endIndex {
            if s[i] == "{" {
                if !text.isEmpty { out.append(.text(text)); text = "" }
                var j = s.index(after: i)
                var inQuote = false
                var action = ""
                while j < s.endIndex {
                    let c = s[j]
                    if c == "\"" { inQuote.toggle() }
                    if c == "}" && !inQuote { break }
                    action.append(c)
                    j = s.index(after: j)
                }
                guard j < s.endIndex else { throw SimError("error parsing jsonpath \(s), unclosed action") }
                out.append(.action(action.trimmingCharacters(in: .whitespaces)))
                i = s.index(after: j)
            } else {
                text.append(s[i])
                i = s.index(after: i)
            }
        }
        if !text.isEmpty { out.append(.text(text)) }
        return out
    }

    static func parse(_ tokens: [Token], _ i: inout Int, inRange: Bool) throws -> [Node] {
        var nodes: [Node] = []
        while i < tokens.count {
            let tok = tokens[i]
            i += 1
            switch tok {
            case .text(let t): nodes.append(.text(t))
            case .action(let a):
                if a == "end" {
                    guard inRange else { throw SimError("error parsing jsonpath: not in range, nothing to end") }
                    return nodes
                }
                if a.hasPrefix("range ") {
                    let body = try parse(tokens, &i, inRange: true)
                    nodes.append(.range(String(a.dropFirst(6)).trimmingCharacters(in: .whitespaces), body))
                } else {
                    nodes.append(.expr(a))
                }
            }
        }
        if inRange { throw SimError("error parsing jsonpath: unclosed range") }
        return nodes
    }

    static func eval(_ nodes: [Node], root: JSON, current: JSON, into out: inout String) throws {
        for n in nodes {
            switch n {
            case .text(let t): out += t
            case .expr(let e):
                if e.hasPrefix("\"") && e.hasSuffix("\"") && e.count >= 2 {
                    out += String(e.dropFirst().dropLast()).replacingOccurrences(of: "\\n", with: "\n").replacingOccurrences(of: "\\t", with: "\t")
                    continue
                }
                let values = try select(e, root: root, current: current)
                out += values.map(text).joined(separator: " ")
            case .range(let e, let body):
                for v in try select(e, root: root, current: current) {
                    try eval(body, root: root, current: v, into: &out)
                }
            }
        }
    }

    static func text(_ v: JSON) -> String {
        switch v {
        case .string(let s): return s
        case .null: return ""
        case .object, .array: return v.serialized()
        default: return v.serialized()
        }
    }

    /// Evaluates a path like `.items[*].metadata.name` or `$.a` or `@.b`.
    static func select(_ expr: String, root: JSON, current: JSON) throws -> [JSON] {
        var e = expr
        var start = current
        if e.hasPrefix("$") { e.removeFirst(); start = root }
        if e.hasPrefix("@") { e.removeFirst() }
        var nodes: [JSON] = [start]
        var i = e.startIndex
        while i < e.endIndex {
            let c = e[i]
            if c == "." {
                i = e.index(after: i)
                var key = ""
                while i < e.endIndex {
                    let ch = e[i]
                    if ch == "\\", e.index(after: i) < e.endIndex { key.append(e[e.index(after: i)]); i = e.index(i, offsetBy: 2); continue }
                    if ch == "." || ch == "[" { break }
                    key.append(ch)
                    i = e.index(after: i)
                }
                if key.isEmpty { continue }
                nodes = nodes.compactMap { $0[key] }
            } else if c == "[" {
                guard let close = matchingBracket(e, i) else { throw SimError("error parsing jsonpath \(expr): unterminated [") }
                let inner = String(e[e.index(after: i)..<close])
                i = e.index(after: close)
                if inner == "*" {
                    nodes = nodes.flatMap { n -> [JSON] in
                        if let a = n.array { return a }
                        if let o = n.object { return o.keys.sorted().map { o[$0]! } }
                        return []
                    }
                } else if inner.hasPrefix("?(") && inner.hasSuffix(")") {
                    let cond = String(inner.dropFirst(2).dropLast())
                    nodes = try nodes.flatMap { n -> [JSON] in try (n.array ?? []).filter { try matches(cond, $0, root: root) } }
                } else if let idx = Int(inner) {
                    nodes = nodes.compactMap { n in
                        guard let a = n.array else { return nil }
                        let k = idx < 0 ? a.count + idx : idx
                        return k >= 0 && k < a.count ? a[k] : nil
                    }
                } else if inner.hasPrefix("'") || inner.hasPrefix("\"") {
                    let key = String(inner.dropFirst().dropLast())
                    nodes = nodes.compactMap { $0[key] }
                } else if inner.contains(":") {
                    let p = inner.split(separator: ":", omittingEmptySubsequences: false).map { Int($0) }
                    nodes = nodes.flatMap { n -> [JSON] in
                        guard let a = n.array else { return [] }
                        let lo = max(0, p[0] ?? 0), hi = min(a.count, (p.count > 1 ? p[1] : nil) ?? a.count)
                        return lo < hi ? Array(a[lo..<hi]) : []
                    }
                } else {
                    throw SimError("error parsing jsonpath \(expr): unsupported [\(inner)]")
                }
            } else {
                throw SimError("error parsing jsonpath \(expr): unexpected \(c)")
            }
        }
        return nodes
    }

    static func matchingBracket(_ s: String, _ open: String.Index) -> String.Index? {
        var depth = 0
        var i = open
        var inQuote: Character? = nil
        while i < s.endIndex {
            let c = s[i]
            if let q = inQuote { if c == q { inQuote = nil } }
            else if c == "\"" || c == "'" { inQuote = c }
            else if c == "[" { depth += 1 }
            else if c == "]" { depth -= 1; if depth == 0 { return i } }
            i = s.index(after: i)
        }
        return nil
    }

    static func matches(_ cond: String, _ item: JSON, root: JSON) throws -> Bool {
        for op in ["==", "!="] {
            if let r = cond.range(of: op) {
                let lhs = String(cond[..<r.lowerBound]).trimmingCharacters(in: .whitespaces)
                var rhs = String(cond[r.upperBound...]).trimmingCharacters(in: .whitespaces)
                if (rhs.hasPrefix("\"") && rhs.hasSuffix("\"")) || (rhs.hasPrefix("'") && rhs.hasSuffix("'")) { rhs = String(rhs.dropFirst().dropLast()) }
                let v = try select(lhs, root: root, current: item).first.map(text) ?? ""
                return op == "==" ? v == rhs : v != rhs
            }
        }
        return try !select(cond.trimmingCharacters(in: .whitespaces), root: root, current: item).isEmpty
    }
}
