import AphexCore
import KubeClient
import ClusterDrivers
import Foundation

/// `--junit FILE`: the run as JUnit XML, in the common schema (Ant's, which Jenkins, GitLab and
/// GitHub's JUnit readers accept): one `<testsuite>` per wave, one `<testcase>` per Application.
///
/// - converged: passes;
/// - stuck (a timeout) or failed (exit 1): `<failure>` whose message is the one-line diagnosis
///   (app, resource, pod reason, webhook class) and whose text is the full diagnosis;
/// - interrupted (Ctrl-C) before converging: `<error type="interrupted">`;
/// - its wave never started: `<skipped>`;
/// - still progressing when status looked (or when the run ended otherwise): `<failure type="not-converged">`.
///
/// Each testcase's `time` is its wave's observed duration. `bootstrap` adds a first suite,
/// "bootstrap steps", with one testcase per step (a failed step fails with its error).
public enum JUnitReport {
    public static func render(_ t: RunTimeline) -> String {
        var suites: [String] = []
        var totals = (tests: 0, failures: 0, errors: 0, skipped: 0)
        let started = RFC3339.parse(t.startedAt) ?? Date(timeIntervalSince1970: 0)
        let host = xml(t.clusterName)

        if t.command == "bootstrap" && !t.steps.isEmpty {
            var cases: [String] = []
            var f = 0, e = 0
            for s in t.steps {
                let time = max(0, (s.end ?? t.seconds) - s.start)
                var body = ""
                switch s.outcome {
                case "failed", "timeout":
                    f += 1
                    let message =
                        s.id == "wait" ? (t.headline ?? t.error ?? "the wait failed") : (t.error ?? "step failed")
                    body = failure(
                        type: s.outcome == "timeout" ? "timeout" : "failed", message: message,
                        text: s.id == "wait" ? (t.diagnosis ?? message) : (t.error ?? message))
                case "interrupted":
                    e += 1
                    body =
                        """
                              <error type=\"interrupted\" \
                        message=\"\(xml("interrupted (Ctrl-C) during this step"))\"/>\n
                        """
                default: break
                }
                cases.append(testcase(name: s.title, classname: "aphex.bootstrap", time: time, body: body))
            }
            totals.tests += t.steps.count
            totals.failures += f
            totals.errors += e
            suites.append(
                suite(
                    name: "bootstrap steps", id: suites.count, timestamp: started, host: host,
                    tests: t.steps.count, failures: f, errors: e, skipped: 0,
                    // The steps' span (a step started early overlaps the one before it).
                    time: max(0, (t.steps.map { $0.end ?? t.seconds }.max() ?? 0) - (t.steps.map(\.start).min() ?? 0)),
                    properties: [("command", t.command), ("outcome", t.outcome)], cases: cases))
        }

        let blocking = t.waves.first { !$0.converged }?.wave
        for w in t.waves {
            var cases: [String] = []
            var f = 0, e = 0, sk = 0
            for a in w.apps {
                var body = ""
                switch a.phase {
                case .converged:
                    break
                case .failed, .stuck:
                    f += 1
                    body = failure(
                        type: a.phase.rawValue, message: a.summary ?? "\(a.name) (wave \(w.wave)): \(a.reason)",
                        text: a.diagnosis ?? a.reason)
                case .waiting:
                    sk += 1
                    body = "      <skipped message=\"\(xml(waits(w, blocking)))\"/>\n"
                case .pending, .progressing:
                    switch t.outcome {
                    case _ where w.blockedBy != nil && t.outcome != "interrupted":
                        sk += 1
                        body =
                            """
                                  <skipped \
                            message=\"\(xml(waits(w, blocking) + " (\(a.phase.rawValue): \(a.reason))"))\"/>\n
                            """
                    case "interrupted":
                        e += 1
                        let when = "after \(seconds(t.seconds)) before \(a.name) converged"
                        let why = "interrupted (Ctrl-C) \(when): \(a.reason)"
                        body =
                            """
                                  <error type=\"interrupted\" \
                            message=\"\(xml(why))\"/>\n
                            """
                    case "failed":
                        sk += 1
                        let why = "still \(a.phase.rawValue) when the run stopped on a failure elsewhere: \(a.reason)"
                        body =
                            """
                                  <skipped \
                            message=\"\(xml(why))\"/>\n
                            """
                    default:
                        f += 1
                        body = failure(
                            type: "not-converged", message: a.summary ?? "\(a.name) (wave \(w.wave)): \(a.reason)",
                            text: a.diagnosis ?? a.reason)
                    }
                }
                cases.append(testcase(name: a.name, classname: "aphex.wave-\(w.wave)", time: w.seconds, body: body))
            }
            totals.tests += w.apps.count
            totals.failures += f
            totals.errors += e
            totals.skipped += sk
            let stamp = started.addingTimeInterval(w.start ?? 0)
            suites.append(
                suite(
                    name: "wave \(w.wave)", id: suites.count, timestamp: stamp, host: host,
                    tests: w.apps.count, failures: f, errors: e, skipped: sk, time: w.seconds,
                    properties: [("wave", String(w.wave)), ("converged", String(w.converged))], cases: cases))
        }

        // Nothing that could fail was recorded, but the run did not converge (an unreachable
        // cluster, no platform-root, a bootstrap that failed before its first step ended): one
        // failing testcase says so, so that no reader shows the run green.
        if ["failed", "timeout", "interrupted", "not-converged"].contains(t.outcome) && t.waves.isEmpty
            && totals.failures + totals.errors == 0
        {
            let message = t.error ?? t.headline ?? "the platform is not converged"
            let body =
                t.outcome == "interrupted"
                ? """
                      <error type=\"interrupted\" \
                message=\"\(xml("interrupted (Ctrl-C) after \(seconds(t.seconds))"))\"/>\n
                """
                : failure(
                    type: t.outcome, message: message.split(separator: "\n").first.map(String.init) ?? message,
                    text: t.diagnosis ?? message)
            totals.tests += 1
            if t.outcome == "interrupted" { totals.errors += 1 } else { totals.failures += 1 }
            suites.append(
                suite(
                    name: "platform", id: suites.count, timestamp: started, host: host, tests: 1,
                    failures: t.outcome == "interrupted" ? 0 : 1, errors: t.outcome == "interrupted" ? 1 : 0,
                    skipped: 0,
                    time: t.seconds, properties: [("command", t.command), ("outcome", t.outcome)],
                    cases: [
                        testcase(name: "platform converges", classname: "aphex.platform", time: t.seconds, body: body)
                    ]))
        }

        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        out +=
            """
            <testsuites name=\"\(xml("aphex \(t.command) \(t.clusterName)"))\" tests=\"\(totals.tests)\" \
            failures=\"\(totals.failures)\" errors=\"\(totals.errors)\" skipped=\"\(totals.skipped)\" \
            time=\"\(decimal(t.seconds))\">\n
            """
        out += suites.joined()
        out += "</testsuites>\n"
        return out
    }

    static func waits(_ w: RunTimeline.Wave, _ blocking: Int?) -> String {
        guard let b = w.blockedBy ?? blocking else { return "wave \(w.wave) did not start" }
        return "wave \(w.wave) waits for wave \(b), which is not converged"
    }

    static func suite(
        name: String, id: Int, timestamp: Date, host: String, tests: Int, failures: Int, errors: Int, skipped: Int,
        time: Double, properties: [(String, String)], cases: [String]
    ) -> String {
        var s =
            """
              <testsuite name=\"\(xml(name))\" id=\"\(id)\" package=\"aphex\" hostname=\"\(host)\" \
            timestamp=\"\(antTimestamp(timestamp))\" tests=\"\(tests)\" failures=\"\(failures)\" \
            errors=\"\(errors)\" skipped=\"\(skipped)\" time=\"\(decimal(time))\">\n
            """
        s += "    <properties>\n"
        for (k, v) in properties { s += "      <property name=\"\(xml(k))\" value=\"\(xml(v))\"/>\n" }
        s += "    </properties>\n"
        s += cases.joined()
        s += "    <system-out/>\n    <system-err/>\n"
        s += "  </testsuite>\n"
        return s
    }

    static func testcase(name: String, classname: String, time: Double, body: String) -> String {
        let head = "    <testcase name=\"\(xml(name))\" classname=\"\(xml(classname))\" time=\"\(decimal(time))\""
        return body.isEmpty ? head + "/>\n" : head + ">\n" + body + "    </testcase>\n"
    }

    static func failure(type: String, message: String, text: String) -> String {
        "      <failure type=\"\(xml(type))\" message=\"\(xml(message))\">\(xml(text, attribute: false))</failure>\n"
    }

    static func seconds(_ s: Double) -> String { formatDuration(.milliseconds(Int64(s * 1000))) }

    /// Seconds with millisecond precision, never exponent notation.
    static func decimal(_ s: Double) -> String { String(format: "%.3f", max(0, s.isFinite ? s : 0)) }

    /// Ant's timestamp: ISO 8601 without a time zone (UTC).
    static func antTimestamp(_ d: Date) -> String {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = TimeZone(identifier: "UTC")!
        let c = cal.dateComponents([.year, .month, .day, .hour, .minute, .second], from: d)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d", c.year ?? 1970, c.month ?? 1, c.day ?? 1, c.hour ?? 0,
            c.minute ?? 0, c.second ?? 0)
    }

    /// XML text or attribute value: markup escaped, characters XML 1.0 forbids (terminal escape
    /// codes, NUL) dropped; in attributes, newlines and tabs kept as character references.
    public static func xml(_ s: String, attribute: Bool = true) -> String {
        var out = ""
        out.reserveCapacity(s.count)
        for u in s.unicodeScalars {
            switch u {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"" where attribute: out += "&quot;"
            case "\n" where attribute: out += "&#10;"
            case "\t" where attribute: out += "&#9;"
            case "\r": out += "&#13;"
            default:
                let v = u.value
                let allowed =
                    v == 0x9 || v == 0xA || (v >= 0x20 && v <= 0xD7FF) || (v >= 0xE000 && v <= 0xFFFD) || v >= 0x10000
                if allowed { out.unicodeScalars.append(u) }
            }
        }
        return out
    }
}
