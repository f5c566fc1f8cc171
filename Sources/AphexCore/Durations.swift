import Foundation

/// "20m", "1m30s", "90s", "1h", "500ms" -> Duration (Go / kubectl style). Nil when malformed.
public func parseDuration(_ text: String) -> Duration? {
    let s = text.trimmingCharacters(in: .whitespaces)
    guard !s.isEmpty else { return nil }
    var total: Double = 0
    var number = ""
    var i = s.startIndex
    var sawUnit = false
    while i < s.endIndex {
        let c = s[i]
        if c.isNumber || c == "." {
            number.append(c)
            i = s.index(after: i)
            continue
        }
        var unit = ""
        while i < s.endIndex, s[i].isLetter {
            unit.append(s[i])
            i = s.index(after: i)
        }
        guard let value = Double(number) else { return nil }
        let factor: Double
        switch unit {
        case "ms": factor = 0.001
        case "s": factor = 1
        case "m": factor = 60
        case "h": factor = 3600
        default: return nil
        }
        total += value * factor
        number = ""
        sawUnit = true
    }
    if !number.isEmpty {
        // A bare number is seconds only when it is the whole text ("90").
        guard !sawUnit, let value = Double(number) else { return nil }
        total = value
    }
    guard total > 0, total.isFinite else { return nil }
    return .milliseconds(Int64((total * 1000).rounded()))
}

/// 1m30s, 45s, 1.2s, 350ms — for humans.
public func formatDuration(_ d: Duration) -> String {
    let ms = Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
    if ms < 1000 { return "\(Int(ms.rounded()))ms" }
    let seconds = ms / 1000
    if seconds < 60 { return seconds < 10 ? String(format: "%.1fs", seconds) : "\(Int(seconds.rounded()))s" }
    let total = Int(seconds.rounded())
    let h = total / 3600, m = (total % 3600) / 60, s = total % 60
    if h > 0 { return "\(h)h\(m)m\(s)s" }
    return s == 0 ? "\(m)m" : "\(m)m\(s)s"
}

extension Duration {
    public var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
