import ArgumentParser
import Bootstrap
import Foundation

/// `--junit FILE` and `--timeline FILE.svg|FILE.json` (wait, status, bootstrap).
struct ReportFlags: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            """
            Write a JUnit XML report here: one testsuite per wave, one testcase per Application (stuck and failed \
            ones fail with the diagnosis). Written also on timeout and Ctrl-C.
            """,
            valueName: "file"))
    var junit: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Write the run's timeline here: an SVG picture (FILE.svg) or the JSON it is drawn from (FILE.json).",
            valueName: "file"))
    var timeline: String?

    func validate() throws {
        for (flag, value) in [("--junit", junit), ("--timeline", timeline)] {
            guard let value else { continue }
            if value.isEmpty {
                throw ValidationError(
                    """
                    \(flag) needs a file path, for example \(flag) \
                    \(flag == "--junit" ? "aphex-junit.xml" : "aphex-timeline.svg").
                    """
                )
            }
            let path = (value as NSString).expandingTildeInPath
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
                throw ValidationError(
                    """
                    \(flag) '\(value)' is a directory: give a file path inside it, for example \(flag) \
                    \(value)/\(flag == "--junit" ? "junit.xml" : "timeline.svg").
                    """
                )
            }
            let dir = (path as NSString).deletingLastPathComponent
            if !dir.isEmpty && (!FileManager.default.fileExists(atPath: dir, isDirectory: &isDir) || !isDir.boolValue) {
                throw ValidationError(
                    """
                    \(flag) '\(value)': the directory '\(dir)' does not exist. Create it first (mkdir -p \(dir)) \
                    or choose another path.
                    """
                )
            }
        }
        if let t = timeline, !t.lowercased().hasSuffix(".svg") && !t.lowercased().hasSuffix(".json") {
            throw ValidationError(
                """
                --timeline '\(t)' must end in .svg (a picture) or .json (the data): for example --timeline \
                aphex-timeline.svg.
                """
            )
        }
        if let j = junit, let t = timeline, (j as NSString).standardizingPath == (t as NSString).standardizingPath {
            throw ValidationError("--junit and --timeline name the same file '\(j)': give each its own file.")
        }
    }

    var library: RunReportOptions {
        RunReportOptions(
            junit: junit.map { ($0 as NSString).expandingTildeInPath },
            timeline: timeline.map { ($0 as NSString).expandingTildeInPath })
    }
}
