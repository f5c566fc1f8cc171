import Foundation
import Testing
@testable import AphexCore
@testable import KubeClient
@testable import ClusterDrivers

@Suite struct RFC3339Tests {
    /// The hand formatter writes what Foundation's ISO 8601 formatter writes, across leap
    /// years, century rules, the epoch, before it, and fractional seconds (truncated, as the
    /// API server's metav1.Time does).
    @Test func formatMatchesFoundation() {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        f.timeZone = TimeZone(identifier: "UTC")
        var instants: [Double] = [
            0, -1, 59, 86_399, 86_400, 951_782_400 /* 2000-02-29 */, 4_107_542_399 /* 2100-02-28T23:59:59 */,
            1_795_000_000.999, -2_208_988_800 /* 1900-01-01 */, 253_402_300_799 /* 9999-12-31T23:59:59 */
        ]
        var x: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<2000 {
            x = x &* 6364136223846793005 &+ 1442695040888963407
            instants.append(Double(x % 8_000_000_000) - 1_000_000_000 + Double(x % 1000) / 1000)
        }
        for t in instants {
            let d = Date(timeIntervalSince1970: t)
            let expected = f.string(from: Date(timeIntervalSince1970: t.rounded(.down)))
            #expect(RFC3339.format(d) == expected, "\(t)")
            #expect(RFC3339.parse(RFC3339.format(d)) == Date(timeIntervalSince1970: t.rounded(.down)), "\(t)")
        }
    }

    @Test func parsesTheFormsKubernetesWrites() {
        #expect(RFC3339.parse("2026-11-24T10:00:00Z") == Date(timeIntervalSince1970: 1_795_514_400))
        #expect(RFC3339.parse("2026-11-24T10:00:00.5Z") == Date(timeIntervalSince1970: 1_795_514_400.5))
        #expect(RFC3339.parse("2026-11-24T12:00:00+02:00") == RFC3339.parse("2026-11-24T10:00:00Z"))
        for bad in [
            "", "2026-11-24", "2026-13-24T10:00:00Z", "2026-11-24T10:00:00", "2026-11-24T10:00:00Zjunk", "yesterday"
        ] {
            #expect(RFC3339.parse(bad) == nil, "\(bad)")
        }
    }
}
