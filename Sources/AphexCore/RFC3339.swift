import Foundation

/// RFC 3339 timestamps as the Kubernetes API writes them (`2026-12-01T07:01:49Z`), formatted
/// and parsed by hand. `ISO8601DateFormatter` costs about a millisecond to create on Linux
/// (it opens ICU calendars and locales); these run per object per poll, in aphex and in the
/// simulated cluster, so they must cost microseconds.
/// In AphexCore, not KubeClient: SecretGen (which does not talk to Kubernetes) stamps its
/// annotations and exports with it, and cluster records and lock files are not API objects.
public enum RFC3339 {
    /// Seconds precision, UTC, `Z` — what the API server writes for metav1.Time.
    public static func format(_ date: Date) -> String {
        let total = Int(date.timeIntervalSince1970.rounded(.down))
        let days = total >= 0 ? total / 86400 : (total - 86399) / 86400
        let secs = total - days * 86400
        // Civil date from days since the epoch (Howard Hinnant's algorithm).
        let z = days + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        var out: [UInt8] = []
        out.reserveCapacity(20)
        func put(_ v: Int, _ width: Int) {
            var digits = [UInt8](repeating: 48, count: width)
            var n = max(0, v)
            for i in stride(from: width - 1, through: 0, by: -1) {
                digits[i] = UInt8(48 + n % 10)
                n /= 10
            }
            out += digits
        }
        put(y, 4)
        out.append(45)
        put(m, 2)
        out.append(45)
        put(d, 2)
        out.append(84)
        put(secs / 3600, 2)
        out.append(58)
        put(secs % 3600 / 60, 2)
        out.append(58)
        put(secs % 60, 2)
        out.append(90)
        return String(decoding: out, as: UTF8.self)
    }

    /// With or without fractional seconds, `Z` or an offset; nil when it is not RFC 3339.
    public static func parse(_ s: String) -> Date? {
        let u = Array(s.utf8)
        func num(_ from: Int, _ len: Int) -> Int? {
            guard from + len <= u.count else { return nil }
            var v = 0
            for i in from..<(from + len) {
                let c = u[i]
                guard c >= 48 && c <= 57 else { return nil }
                v = v * 10 + Int(c - 48)
            }
            return v
        }
        guard u.count >= 20, let y = num(0, 4), u[4] == 45, let mo = num(5, 2), u[7] == 45, let d = num(8, 2),
            u[10] == 84 || u[10] == 116 || u[10] == 32, let h = num(11, 2), u[13] == 58, let mi = num(14, 2),
            u[16] == 58,
            let sec = num(17, 2), (1...12).contains(mo), (1...31).contains(d)
        else { return nil }
        var i = 19
        var frac = 0.0
        if i < u.count, u[i] == 46 {
            i += 1
            var scale = 0.1
            while i < u.count, u[i] >= 48 && u[i] <= 57 {
                frac += Double(u[i] - 48) * scale
                scale /= 10
                i += 1
            }
        }
        guard i < u.count else { return nil }
        var offset = 0
        if u[i] == 90 || u[i] == 122 {
            guard i + 1 == u.count else { return nil }
        } else if u[i] == 43 || u[i] == 45, let oh = num(i + 1, 2), i + 3 < u.count, u[i + 3] == 58,
            let om = num(i + 4, 2), i + 6 == u.count
        {
            offset = (oh * 3600 + om * 60) * (u[i] == 43 ? 1 : -1)
        } else {
            return nil
        }
        // Days from the civil date (Howard Hinnant's algorithm).
        let yy = mo <= 2 ? y - 1 : y
        let era = (yy >= 0 ? yy : yy - 399) / 400
        let yoe = yy - era * 400
        let mp = (mo + 9) % 12
        let doy = (153 * mp + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146097 + doe - 719468
        let seconds = Double(days * 86400 + h * 3600 + mi * 60 + sec - offset) + frac
        return Date(timeIntervalSince1970: seconds)
    }
}
