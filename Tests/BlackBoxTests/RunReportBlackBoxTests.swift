import AphexCore
import KubeClient
import Foundation
#if canImport(FoundationXML)
    import FoundationXML
#endif
import SimCluster
import Testing
import TestSupport

/// `--junit` and `--timeline` of the built aphex on the simulated cluster: a converged run,
/// a stuck-caBundle timeout, an ImagePullBackOff timeout, Ctrl-C, bootstrap and status. Every
/// JUnit file is validated with xmllint (Debian's libxml2-utils) against Tests/Schemas/junit.xsd;
/// one SVG is rendered by a real headless Chromium.
enum Reports {
    static let schema = BuiltAphex.packageRoot.appendingPathComponent("Tests/Schemas/junit.xsd").path

    static func tempDir() throws -> String {
        let d = NSTemporaryDirectory() + "aphex-reports-" + UUID().uuidString.prefix(8).lowercased()
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    static func run(_ argv: [String]) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: argv[0])
        p.arguments = Array(argv.dropFirst())
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// `xmllint --noout --schema junit.xsd FILE` must pass.
    static func validate(_ file: String) throws {
        let xmllint = "/usr/bin/xmllint"
        guard FileManager.default.isExecutableFile(atPath: xmllint) else {
            Issue.record("xmllint is missing: scripts/test.sh installs libxml2-utils")
            return
        }
        let r = try run([xmllint, "--noout", "--schema", schema, file])
        #expect(r.status == 0, "\(file) does not validate against the JUnit schema:\n\(r.output)")
    }

    static func xml(_ file: String) throws -> XMLDocument {
        try XMLDocument(contentsOf: URL(fileURLWithPath: file), options: [])
    }

    static func nodes(_ doc: XMLNode, _ xpath: String) throws -> [XMLElement] {
        try doc.nodes(forXPath: xpath).compactMap { $0 as? XMLElement }
    }

    static func attr(_ e: XMLElement, _ name: String) -> String { e.attribute(forName: name)?.stringValue ?? "" }

    /// A plain SVG: parses as XML, no script, no event handler, no external reference or font.
    static func checkPlainSVG(_ svg: String) throws {
        let doc = try XMLDocument(xmlString: svg, options: [])
        #expect(doc.rootElement()?.name == "svg")
        for banned in [
            "<script", "onload=", "onclick=", "onmouseover=", "href=", "@import", "url(", "@font-face",
            "<foreignObject", "<image"
        ] {
            #expect(!svg.contains(banned), "the SVG contains \(banned)")
        }
    }

    static func waves(_ timelineJSON: String) throws -> [JSON] {
        try JSON.parse(Array(timelineJSON.utf8))["waves"]?.array ?? []
    }
}

@Suite(.serialized) struct RunReportBlackBoxTests {
    func wait(_ h: SimHarness, _ dir: String, timeout: String, timeline: String = "timeline.svg") async throws
        -> SimHarness.RunResult
    {
        try await h.run(
            [
                "wait", "--kubeconfig", h.kubeconfigPath, "--timeout", timeout,
                "--junit", dir + "/junit.xml", "--timeline", dir + "/" + timeline
            ], timeout: 120)
    }

    @Test func convergedWaitPassesEveryApplicationWithTheWavesDurations() async throws {
        let h = try await SimHarness.start(scenario: "blackbox-quick")
        defer { h.stop() }
        let dir = try Reports.tempDir()
        let r = try await wait(h, dir, timeout: "60s", timeline: "timeline.json")
        #expect(r.status == 0, "\(r.stderr)")
        try Reports.validate(dir + "/junit.xml")
        let doc = try Reports.xml(dir + "/junit.xml")
        let timeline = try String(contentsOfFile: dir + "/timeline.json", encoding: .utf8)
        let waves = try Reports.waves(timeline)
        let suites = try Reports.nodes(doc, "/testsuites/testsuite")
        #expect(suites.count == waves.count && !waves.isEmpty, "one testsuite per wave")
        #expect(try Reports.nodes(doc, "//failure | //error | //skipped").isEmpty, "a converged run fails nothing")
        for (suite, wave) in zip(suites, waves) {
            #expect(Reports.attr(suite, "name") == "wave \(wave["wave"]?.int ?? -1)")
            let names = (wave["apps"]?.array ?? []).compactMap { $0["name"]?.string }
            let cases = try Reports.nodes(suite, "testcase")
            #expect(cases.map { Reports.attr($0, "name") } == names, "one testcase per Application")
            let seconds = wave["seconds"]?.double ?? -1
            for c in cases {
                #expect(
                    abs((Double(Reports.attr(c, "time")) ?? -9) - seconds) < 0.002,
                    "testcase time = the wave's observed duration")
            }
        }
        #expect(try JSON.parse(Array(timeline.utf8))["outcome"]?.string == "converged")
        // The same wave durations `wait --output json` reports (the waiter's own clock).
        #expect(waves.allSatisfy { $0["converged"]?.bool == true })

        // status --junit on the converged platform: every Application passes.
        let s = try await h.run([
            "status", "--kubeconfig", h.kubeconfigPath, "--junit", dir + "/status.xml", "--timeline",
            dir + "/status.svg"
        ])
        try Reports.validate(dir + "/status.xml")
        let sdoc = try Reports.xml(dir + "/status.xml")
        #expect(try Reports.nodes(sdoc, "//testcase").count == names(in: doc).count)
        if s.status == 0 {
            #expect(try Reports.nodes(sdoc, "//failure").isEmpty, "\(s.stdout)")
        }
        try Reports.checkPlainSVG(try String(contentsOfFile: dir + "/status.svg", encoding: .utf8))
    }

    func names(in doc: XMLDocument) throws -> [String] {
        try Reports.nodes(doc, "//testcase").map { Reports.attr($0, "name") }
    }

    @Test func stuckCABundleTimeoutFailsCertManagerWithTheWebhookClass() async throws {
        let h = try await SimHarness.start(scenario: try waitScenario("stuck-cabundle"))
        defer { h.stop() }
        let dir = try Reports.tempDir()
        let r = try await wait(h, dir, timeout: "15s")
        #expect(r.status == 3, "\(r.stderr)")
        try Reports.validate(dir + "/junit.xml")
        let doc = try Reports.xml(dir + "/junit.xml")
        let failures = try Reports.nodes(doc, "//testcase[failure]")
        #expect(failures.map { Reports.attr($0, "name") } == ["cert-manager"], "\(failures)")
        let failure = try #require(try Reports.nodes(doc, "//testcase[@name='cert-manager']/failure").first)
        let message = Reports.attr(failure, "message")
        #expect(Reports.attr(failure, "type") == "stuck")
        #expect(message.contains("cert-manager (wave 10)") && message.contains("CA bundle not injected"), "\(message)")
        // The text is the diagnosis aphex printed: the proof, the cainjector, what to do.
        let text = failure.stringValue ?? ""
        #expect(text.contains("cert-manager webhook: CA bundle not injected"), "\(text)")
        #expect(text.contains("cainjector"), "\(text)")
        #expect(r.stderr.contains(text.split(separator: "\n")[1]), "the JUnit text is what aphex printed")
        // Waves after the stuck one: aphex never started them (ArgoCD may have synced them,
        // since it counts cert-manager Healthy): none fails, the suite is not converged.
        let w30 = try #require(try Reports.nodes(doc, "//testsuite[@name='wave 30']").first)
        #expect(
            try Reports.nodes(w30, "properties/property[@name='converged']").first.map { Reports.attr($0, "value") }
                == "false")
        #expect(try Reports.nodes(w30, "testcase/failure").isEmpty)
        // The testcase time is wave 10's observed duration (it ran until the timeout).
        let w10 = try #require(try Reports.nodes(doc, "//testsuite[@name='wave 10']").first)
        #expect((Double(Reports.attr(w10, "time")) ?? 0) > 3)

        let svg = try String(contentsOfFile: dir + "/timeline.svg", encoding: .utf8)
        try Reports.checkPlainSVG(svg)
        #expect(svg.contains(">timeout "), "the timeout is marked")
        #expect(svg.contains(TimelineColors.stuck), "stuck colour")
        #expect(svg.contains(">stuck</text>"), "the stuck app is marked")
        // The tooltip is aphex's headline: the webhook class first, then the stuck wave.
        #expect(
            svg.contains(
                """
                <title>Timed out after 15s: cert-manager's webhook: CA bundle not injected (step 2); wave 10 is \
                not converged
                """
            ), "\(svg.prefix(2000))")
        #expect(
            svg.contains("cert-manager webhook: CA bundle not injected"), "the diagnosis is the stuck bar's tooltip")

        // Rendered by a real browser (once per run of the suite: Chromium is slow to start).
        let png = dir + "/timeline.png"
        try await offThePool { try Chromium.screenshot(svg: dir + "/timeline.svg", png: png, width: 1000, height: 900) }
        let pixels = try PNGPixels.read(png)
        #expect(pixels.width == 1000)
        #expect(pixels.count(of: (0xf0, 0xa0, 0x20)) > 200, "amber (stuck) bars drawn")
        #expect(pixels.count(of: (0x2f, 0x9e, 0x5a)) > 1000, "green (converged) bars drawn")
        if let keep = ProcessInfo.processInfo.environment["APHEX_KEEP_TIMELINE"] {
            for f in ["timeline.svg", "timeline.png", "junit.xml"] {
                try? FileManager.default.removeItem(atPath: keep + "/" + f)
                try FileManager.default.copyItem(atPath: dir + "/" + f, toPath: keep + "/" + f)
            }
        }
    }

    @Test func imagePullTimeoutFailsTheAppNamingPodReasonAndImage() async throws {
        let h = try await SimHarness.start(scenario: try waitScenario("image-pull"))
        defer { h.stop() }
        let dir = try Reports.tempDir()
        let r = try await wait(h, dir, timeout: "15s")
        #expect(r.status == 3, "\(r.stderr)")
        try Reports.validate(dir + "/junit.xml")
        let doc = try Reports.xml(dir + "/junit.xml")
        let failure = try #require(try Reports.nodes(doc, "//testcase[@name='controllers']/failure").first)
        let message = Reports.attr(failure, "message")
        #expect(message.contains("controllers (wave 20)"), "\(message)")
        #expect(message.contains("Deployment platform-system/organization-controller"), "the resource: \(message)")
        #expect(message.contains("ImagePullBackOff") || message.contains("ErrImagePull"), "the pod reason: \(message)")
        #expect(message.contains("ghcr.io/bdchatham/organization-controller:latest"), "the image: \(message)")
        #expect((failure.stringValue ?? "").contains("--registry-mirror"), "what to do")
        let svg = try String(contentsOfFile: dir + "/timeline.svg", encoding: .utf8)
        try Reports.checkPlainSVG(svg)
        #expect(svg.contains("ImagePullBackOff") || svg.contains("ErrImagePull"))
    }

    /// Ctrl-C (SIGINT) in the middle of a wait: exit 130, and both files hold what was known.
    @Test func ctrlCWritesWhatWasKnown() async throws {
        let h = try await SimHarness.start(scenario: try waitScenario("stuck-cabundle"))
        defer { h.stop() }
        let dir = try Reports.tempDir()
        let aphex = SimHarness.binaryDirectory() + "/aphex"
        let line = Shell.quote([
            aphex, "wait", "--kubeconfig", h.kubeconfigPath, "--timeout", "5m",
            "--junit", dir + "/junit.xml", "--timeline", dir + "/timeline.svg"
        ])
        let r = try await h.runProgram(
            ["/bin/sh", "-c", "\(line) & pid=$!; sleep 5; kill -INT $pid; wait $pid"], timeout: 60)
        #expect(r.status == 130, "\(r.stderr)")
        try Reports.validate(dir + "/junit.xml")
        let doc = try Reports.xml(dir + "/junit.xml")
        let passed = try Reports.nodes(doc, "//testcase[not(*)]")
        #expect(!passed.isEmpty, "the waves converged before Ctrl-C pass")
        let errors = try Reports.nodes(doc, "//testcase/error[@type='interrupted']")
        #expect(!errors.isEmpty, "the unconverged ones are errors: interrupted")
        #expect(try Reports.nodes(doc, "//failure").isEmpty)
        let svg = try String(contentsOfFile: dir + "/timeline.svg", encoding: .utf8)
        try Reports.checkPlainSVG(svg)
        #expect(svg.contains(">Ctrl-C</text>"))
        // No temp file left behind (written atomically: temp + rename).
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["junit.xml", "timeline.svg"])
    }

    @Test func statusOnAStuckPlatformFailsWithTheDiagnosis() async throws {
        let h = try await SimHarness.start(scenario: try waitScenario("image-pull"))
        defer { h.stop() }
        let dir = try Reports.tempDir()
        // Let it get stuck: wave 20's controllers never pull their image.
        _ = try await wait(h, dir, timeout: "8s")
        let s = try await h.run([
            "status", "--kubeconfig", h.kubeconfigPath, "--junit", dir + "/status.xml", "--timeline",
            dir + "/status.json"
        ])
        #expect(s.status == 1, "\(s.stderr)")
        try Reports.validate(dir + "/status.xml")
        let doc = try Reports.xml(dir + "/status.xml")
        let failure = try #require(try Reports.nodes(doc, "//testcase[@name='controllers']/failure").first)
        #expect(
            Reports.attr(failure, "message").contains("ghcr.io/bdchatham/organization-controller"),
            "\(Reports.attr(failure, "message"))")
        let t = try JSON.parse(Array(try String(contentsOfFile: dir + "/status.json", encoding: .utf8).utf8))
        #expect(t["command"]?.string == "status" && t["outcome"]?.string == "not-converged")
    }

    @Test func badReportPathsAreUsageErrors() async throws {
        for (args, text) in [
            (["wait", "--junit", "/nonexistent-dir/j.xml"], "does not exist"),
            (["wait", "--timeline", "t.png"], "must end in .svg"),
            (["status", "--junit", "same.svg", "--timeline", "same.svg"], "the same file"),
            (["bootstrap", "--deployment", "kind", "--timeline", "/tmp"], "is a directory")
        ] {
            let r = try await BuiltAphex.run(args)
            #expect(r.status == 2, "\(args): \(r.stderrText)")
            #expect(r.stderrText.contains(text), "\(args): \(r.stderrText)")
        }
    }
}

enum TimelineColors {
    static let stuck = "#f0a020"
}

/// Debian's chromium, headless.
enum Chromium {
    static func binary() -> String? {
        ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
    }

    static func screenshot(svg: String, png: String, width: Int, height: Int) throws {
        guard let chromium = binary() else {
            Issue.record("chromium is missing: scripts/test.sh installs Debian's chromium")
            return
        }
        let profile = NSTemporaryDirectory() + "aphex-chromium-" + UUID().uuidString.prefix(8)
        defer { try? FileManager.default.removeItem(atPath: profile) }
        let r = try Reports.run([
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--no-first-run", "--user-data-dir=\(profile)", "--hide-scrollbars",
            "--window-size=\(width),\(height)", "--screenshot=\(png)", "file://\(svg)"
        ])
        #expect(
            FileManager.default.fileExists(atPath: png),
            "chromium wrote no PNG (exit \(r.status)): \(r.output.suffix(2000))")
    }
}

/// The pixels of an 8-bit RGB/RGBA, non-interlaced PNG (what Chromium writes), decoded with zlib.
struct PNGPixels {
    var width: Int
    var height: Int
    var channels: Int
    var data: [UInt8]

    static func read(_ path: String) throws -> PNGPixels {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        guard bytes.count > 8, bytes[0..<8].elementsEqual([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) else {
            throw SimError("\(path) is not a PNG")
        }
        var i = 8, width = 0, height = 0, colorType = 0, idat: [UInt8] = []
        func be32(_ o: Int) -> Int {
            Int(bytes[o]) << 24 | Int(bytes[o + 1]) << 16 | Int(bytes[o + 2]) << 8 | Int(bytes[o + 3])
        }
        while i + 8 <= bytes.count {
            let len = be32(i), type = String(decoding: bytes[(i + 4)..<(i + 8)], as: UTF8.self)
            let body = Array(bytes[(i + 8)..<(i + 8 + len)])
            if type == "IHDR" {
                width = (Int(body[0]) << 24) | (Int(body[1]) << 16) | (Int(body[2]) << 8) | Int(body[3])
                height = (Int(body[4]) << 24) | (Int(body[5]) << 16) | (Int(body[6]) << 8) | Int(body[7])
                guard body[8] == 8, body[12] == 0 else { throw SimError("only 8-bit non-interlaced PNGs") }
                colorType = Int(body[9])
            } else if type == "IDAT" {
                idat += body
            }
            i += 12 + len
        }
        let channels = colorType == 6 ? 4 : colorType == 2 ? 3 : 0
        guard channels > 0 else { throw SimError("PNG colour type \(colorType) not supported") }
        let raw = try Gzip.decompress(idat)
        let stride = width * channels
        var out = [UInt8](repeating: 0, count: stride * height)
        var prev = [UInt8](repeating: 0, count: stride)
        for y in 0..<height {
            let f = raw[y * (stride + 1)]
            var line = Array(raw[(y * (stride + 1) + 1)..<((y + 1) * (stride + 1))])
            for x in 0..<stride {
                let a = x >= channels ? Int(line[x - channels]) : 0
                let b = Int(prev[x])
                let c = x >= channels ? Int(prev[x - channels]) : 0
                let add: Int
                switch f {
                case 1: add = a
                case 2: add = b
                case 3: add = (a + b) / 2
                case 4:
                    let p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c)
                    add = pa <= pb && pa <= pc ? a : (pb <= pc ? b : c)
                default: add = 0
                }
                line[x] = UInt8((Int(line[x]) + add) & 0xFF)
            }
            out.replaceSubrange((y * stride)..<((y + 1) * stride), with: line)
            prev = line
        }
        return PNGPixels(width: width, height: height, channels: channels, data: out)
    }

    /// Pixels within 6 per channel of the colour (anti-aliasing aside).
    func count(of rgb: (Int, Int, Int)) -> Int {
        var n = 0
        var i = 0
        while i + 2 < data.count {
            if abs(Int(data[i]) - rgb.0) <= 6 && abs(Int(data[i + 1]) - rgb.1) <= 6
                && abs(Int(data[i + 2]) - rgb.2) <= 6
            {
                n += 1
            }
            i += channels
        }
        return n
    }
}
