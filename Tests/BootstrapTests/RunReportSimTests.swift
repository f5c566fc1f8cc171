import Bootstrap
import AphexCore
import KubeClient
import ClusterDrivers
import Foundation
#if canImport(FoundationXML)
    import FoundationXML
#endif
import SimCluster
import Testing

/// --junit / --timeline on the in-process simulated cluster (virtual clock: a 3-minute timeout
/// costs nothing): the JUnit's times are the waiter's own wave durations, stuck and failed
/// Applications carry the diagnosis, the timeline marks the timeout.
@Suite struct RunReportSimTests {
    struct Files {
        let dir: String
        var junit: String { dir + "/junit.xml" }
        var svg: String { dir + "/timeline.svg" }
        var json: String { dir + "/timeline.json" }
        init() throws {
            dir = NSTemporaryDirectory() + "aphex-report-" + UUID().uuidString.prefix(8).lowercased()
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }
    }

    func wait(_ scenario: String, timeout: Duration, timeline: String, files: Files) async throws -> (
        AphexCore.ExitStatus?, AphexError?, String
    ) {
        let sim = try SimCluster(scenario: WaitSimTests.scenario(scenario))
        let out = BufferWriter()
        let ctx = testContext(clock: sim.clock, format: .json, output: out)
        var o = WaitOptions()
        o.timeout = timeout
        o.report = RunReportOptions(junit: files.junit, timeline: timeline)
        do {
            return (
                try await WaitReport.run(ctx, o, api: KubeClient(server: sim.baseURL, transport: sim.transport)), nil,
                out.text
            )
        } catch let e as AphexError {
            return (nil, e, out.text)
        }
    }

    func cases(_ file: String) throws -> [XMLElement] {
        try XMLDocument(contentsOf: URL(fileURLWithPath: file), options: []).nodes(forXPath: "//testcase").compactMap {
            $0 as? XMLElement
        }
    }

    @Test func convergedRunTimesAreTheWaitersWaveDurations() async throws {
        let f = try Files()
        let (status, error, out) = try await wait("happy-kind", timeout: .seconds(600), timeline: f.json, files: f)
        #expect(status == .ok, "\(error?.description ?? "")")
        let doc = try JSON.parse(out)
        let waves = doc[path: "result", "waves"]?.array ?? []
        #expect(!waves.isEmpty)
        let xml = try XMLDocument(contentsOf: URL(fileURLWithPath: f.junit), options: [])
        for w in waves {
            let n = w["wave"]?.int ?? -1
            let suite = try #require(try xml.nodes(forXPath: "//testsuite[@name='wave \(n)']").first as? XMLElement)
            let apps = (w["apps"]?.array ?? []).compactMap(\.string)
            let tcs = try suite.nodes(forXPath: "testcase").compactMap { $0 as? XMLElement }
            #expect(tcs.map { $0.attribute(forName: "name")?.stringValue ?? "" } == apps)
            for tc in tcs {
                let t = Double(tc.attribute(forName: "time")?.stringValue ?? "") ?? -1
                #expect(
                    abs(t - (w["seconds"]?.double ?? -9)) < 0.0015,
                    "wave \(n): \(t) vs the waiter's \(w["seconds"]?.double ?? -9)")
                #expect(tc.childCount == 0, "a converged app passes")
            }
        }
    }

    @Test func stuckCABundleTimeoutFailsCertManagerAndMarksTheTimeout() async throws {
        let f = try Files()
        let (_, error, _) = try await wait("stuck-cabundle", timeout: .seconds(180), timeline: f.svg, files: f)
        #expect(error?.status == .timeout)
        let failed = try cases(f.junit).filter { $0.elements(forName: "failure").count == 1 }
        #expect(failed.map { $0.attribute(forName: "name")?.stringValue ?? "" } == ["cert-manager"])
        let failure = try #require(failed.first?.elements(forName: "failure").first)
        #expect(failure.attribute(forName: "message")?.stringValue?.contains("CA bundle not injected") == true)
        #expect(failure.attribute(forName: "type")?.stringValue == "stuck")
        #expect(
            Double(failed.first?.attribute(forName: "time")?.stringValue ?? "") ?? 0 > 100,
            "wave 10 ran until the 3-minute timeout")
        let svg = try String(contentsOfFile: f.svg, encoding: .utf8)
        #expect(svg.contains(">timeout 3m</text>"), "\(svg.suffix(1500))")
        #expect(svg.contains("stroke-dasharray"))
        #expect(svg.contains("cert-manager webhook: CA bundle not injected"))
    }

    @Test func imagePullTimeoutFailsControllersWithPodReasonAndImage() async throws {
        let f = try Files()
        let (_, error, _) = try await wait("image-pull", timeout: .seconds(180), timeline: f.json, files: f)
        #expect(error?.status == .timeout)
        let failure = try #require(
            try cases(f.junit).first { $0.attribute(forName: "name")?.stringValue == "controllers" }?.elements(
                forName: "failure"
            ).first)
        let message = failure.attribute(forName: "message")?.stringValue ?? ""
        #expect(message.contains("ImagePullBackOff") || message.contains("ErrImagePull"), "\(message)")
        #expect(message.contains("ghcr.io/bdchatham/organization-controller:latest"), "\(message)")
        let t = try JSON.parse(Array(try String(contentsOfFile: f.json, encoding: .utf8).utf8))
        #expect(t["outcome"]?.string == "timeout")
        #expect(t["timeoutAt"]?.double != nil)
        let apps = (t["waves"]?.array ?? []).flatMap { $0["apps"]?.array ?? [] }
        let controllers = try #require(apps.first { $0["name"]?.string == "controllers" })
        #expect(controllers["phase"]?.string == "stuck")
        #expect(controllers["diagnosis"]?.string?.contains("--registry-mirror") == true)
        #expect(apps.first { $0["name"]?.string == "ingress" }?["phase"]?.string == "waiting")
    }

    @Test func degradedAfterHealthyFailsTheApp() async throws {
        let f = try Files()
        let (_, error, _) = try await wait("degraded-app", timeout: .seconds(600), timeline: f.svg, files: f)
        #expect(error?.status == .failed)
        let failure = try #require(
            try cases(f.junit).first { $0.attribute(forName: "name")?.stringValue == "external-secrets" }?.elements(
                forName: "failure"
            ).first)
        #expect(failure.attribute(forName: "type")?.stringValue == "failed")
        #expect(failure.attribute(forName: "message")?.stringValue?.contains("Degraded") == true)
    }

    /// Names and messages come from the cluster: markup and control characters are escaped or
    /// dropped, and the result is still well-formed.
    @Test func hostileTextStaysWellFormed() throws {
        let nasty = "a<b>&\"c\" \u{1B}[31mred\u{1B}[0m \u{0}end\nline2"
        func q(_ s: String) -> String { JSON.string(s).serialized() }
        let doc = """
            {"schemaVersion": 1, "command": "wait", "clusterName": "c<1>", "startedAt": "2026-01-01T00:00:00Z", \
            "seconds": 10,
             "outcome": "timeout", "timeoutAt": 10, "headline": \(q(nasty)), "diagnosis": \(q(nasty)), "steps": [], \
            "waitStart": 0,
             "waves": [{"wave": 0, "start": 0, "converged": false, "seconds": 10,
                        "apps": [{"name": "x&y", "phase": "stuck", "reason": \(q(nasty)), "diagnosis": \(q(nasty)), \
            "summary": \(q(nasty)),
                                  "segments": [{"phase": "stuck", "start": 0, "end": 10}]}]}]}
            """
        let t = try JSONDecoder().decode(RunTimeline.self, from: Data(doc.utf8))
        let junit = JUnitReport.render(t)
        let svg = TimelineSVG.render(t)
        for text in [junit, svg] {
            _ = try XMLDocument(xmlString: text, options: [])
            #expect(!text.contains("\u{1B}") && !text.contains("\u{0}"))
        }
        let xml = try XMLDocument(xmlString: junit, options: [])
        let msg = (try xml.nodes(forXPath: "//failure").first as? XMLElement)?.attribute(forName: "message")?
            .stringValue
        #expect(msg == "a<b>&\"c\" [31mred[0m end\nline2")
    }
}
