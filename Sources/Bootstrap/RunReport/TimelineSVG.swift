import AphexCore
import KubeClient
import ClusterDrivers
import Foundation

/// `--timeline FILE.svg`: the run as a picture. Rows are the bootstrap steps, then each wave
/// (a header row with the wave's span) and its Applications, on one time axis; bars are
/// coloured by phase; a timeout or Ctrl-C is a dashed line across the chart; stuck and failed
/// Applications are outlined and marked, with their diagnosis as the SVG `<title>` tooltip.
/// Plain SVG 1.1: no script, no external font (the generic `sans-serif` family), no links.
public enum TimelineSVG {
    public static let colors: [RunTimeline.Phase: String] = [
        .waiting: "#e3e6ea", .pending: "#a9c4e4", .progressing: "#3d7fd0",
        .converged: "#2f9e5a", .failed: "#d23c3c", .stuck: "#f0a020"
    ]
    static let stepColors: [String: String] = [
        "done": "#2f9e5a", "unchanged": "#84c79c", "skipped": "#c8ccd2", "planned": "#c8ccd2",
        "failed": "#d23c3c", "timeout": "#f0a020", "interrupted": "#8e5cc2", "running": "#3d7fd0"
    ]

    static let width = 1000.0
    static let labelWidth = 270.0
    static let rightMargin = 110.0
    static let rowHeight = 20.0
    static let barHeight = 12.0
    static let top = 78.0

    public static func render(_ t: RunTimeline) -> String {
        let total = max(t.seconds, t.timeoutAt ?? 0, t.interruptedAt ?? 0, 0.001)
        let plot = width - labelWidth - rightMargin
        func x(_ s: Double) -> Double { labelWidth + min(max(s, 0), total) / total * plot }

        var rows: [String] = []
        var y = top
        func heading(_ text: String) {
            rows.append("<text x=\"10\" y=\"\(f(y + 14))\" class=\"h\">\(esc(text))</text>")
            y += rowHeight
        }

        if !t.steps.isEmpty {
            heading("Bootstrap steps")
            for s in t.steps {
                let end = s.end ?? t.seconds
                let color = stepColors[s.outcome] ?? stepColors["running"]!
                let tip =
                    "\(s.title): \(s.outcome), \(dur(end - s.start)) (from \(dur(s.start)) to \(dur(end)))"
                    + (s.outcome == "failed" ? (t.error.map { "\n" + $0 } ?? "") : "")
                rows.append(
                    bar(
                        label: s.title, indent: 20, y: y, x0: x(s.start), x1: x(end), color: color, tip: tip,
                        note: dur(end - s.start), marked: s.outcome == "failed" || s.outcome == "timeout"))
                y += rowHeight
            }
        }

        for w in t.waves {
            let end = w.end ?? t.seconds
            var head = "Wave \(w.wave)"
            if let b = w.blockedBy {
                head += " waits for wave \(b)" + (w.end != nil ? " (its apps converged in \(dur(w.seconds)))" : "")
            } else if w.start == nil {
                head += " (did not start)"
            } else {
                head += w.converged ? " converged in \(dur(w.seconds))" : " not converged after \(dur(w.seconds))"
            }
            rows.append(
                "<g><title>\(esc(head))</title><text x=\"10\" y=\"\(f(y + 14))\" class=\"h\">\(esc(head))</text>")
            if let s = w.start {
                rows.append(
                    """
                    <rect x=\"\(f(x(s)))\" y=\"\(f(y + 8))\" width=\"\(f(max(1, x(end) - x(s))))\" height=\"4\" \
                    fill=\"#5b6470\"/>
                    """
                )
            }
            rows.append("</g>")
            y += rowHeight
            for a in w.apps {
                var tip = "\(a.name) (wave \(w.wave)): \(a.phase.rawValue) — \(a.reason)"
                if let d = a.diagnosis, a.phase == .stuck || a.phase == .failed { tip = d }
                let marked = a.phase == .stuck || a.phase == .failed
                var segs = ""
                for (i, s) in a.segments.enumerated() {
                    // A converged end is drawn at least 4 px wide, so a wave that converged at
                    // the moment it was seen still shows its green.
                    let minimum = s.phase == .converged && i == a.segments.count - 1 ? 4.0 : 1.5
                    let w0 = x(s.start), w1 = max(x(s.end), x(s.start) + minimum)
                    let segTip =
                        marked && s.phase == a.phase
                        ? tip : "\(a.name): \(s.phase.rawValue) from \(dur(s.start)) to \(dur(s.end))"
                    segs +=
                        """
                        <rect x=\"\(f(w0))\" y=\"\(f(y + (rowHeight - barHeight) / 2))\" width=\"\(f(w1 - w0))\" \
                        height=\"\(f(barHeight))\" fill=\"\(colors[s.phase]!)\"
                        """
                        + (marked && s.phase == a.phase ? " stroke=\"#7a1010\" stroke-width=\"1.5\"" : "")
                        + "><title>\(esc(segTip))</title></rect>"
                }
                var row = "<g class=\"app\"><title>\(esc(tip))</title>"
                row += "<text x=\"24\" y=\"\(f(y + 14))\">\(esc(clip(a.name, 34)))</text>"
                row += segs
                let endX = a.segments.last.map { max(x($0.end), x($0.start) + 1.5) } ?? labelWidth
                if marked {
                    // A marker at the end of the bar, then what it is.
                    let cy = y + rowHeight / 2
                    row +=
                        """
                        <path d=\"M\(f(endX + 4)) \(f(cy - 7)) L\(f(endX + 12)) \(f(cy + 6)) L\(f(endX - 4)) \
                        \(f(cy + 6)) Z\" fill=\"\(colors[a.phase]!)\" stroke=\"#7a1010\" stroke-width=\"1\"/>
                        """
                    row += "<text x=\"\(f(endX + 16))\" y=\"\(f(y + 14))\" class=\"n\">\(esc(a.phase.rawValue))</text>"
                } else if a.phase == .waiting {
                    row +=
                        """
                        <text x=\"\(f(labelWidth + 4))\" y=\"\(f(y + 14))\" class=\"m\">waiting for wave \
                        \(esc(String(w.blockedBy ?? t.waves.first { !$0.converged }?.wave ?? w.wave)))</text>
                        """
                }
                row += "</g>"
                rows.append(row)
                y += rowHeight
            }
        }
        if t.steps.isEmpty && t.waves.isEmpty {
            rows.append(
                """
                <text x=\"10\" y=\"\(f(y + 14))\" class=\"m\">Nothing was observed (no bootstrap step ran, no \
                Application was listed).</text>
                """
            )
            y += rowHeight
        }

        let chartBottom = y + 4
        var svg = ""
        let height = chartBottom + 64
        svg += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        svg +=
            """
            <svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"\(f(width))\" \
            height=\"\(f(height))\" viewBox=\"0 0 \(f(width)) \(f(height))\" font-family=\"sans-serif\" \
            font-size=\"12\">\n
            """
        svg += "<title>\(esc("aphex \(t.command) \(t.clusterName): \(t.outcome) after \(dur(t.seconds))"))</title>\n"
        svg += "<style>text{fill:#1d232a}.h{font-weight:bold}.m{fill:#6b7480}"
        svg += ".n{font-weight:bold;fill:#7a1010}.t{fill:#6b7480;font-size:11px}</style>\n"
        svg += "<rect x=\"0\" y=\"0\" width=\"\(f(width))\" height=\"\(f(height))\" fill=\"#ffffff\"/>\n"
        let title = "aphex \(t.command) — \(t.clusterName) — \(outcomeText(t))"
        svg += "<text x=\"10\" y=\"22\" font-size=\"15\" class=\"h\">\(esc(title))</text>\n"
        if let h = t.headline ?? t.error {
            let line = clip(h.split(separator: "\n").first.map(String.init) ?? h, 150)
            svg +=
                """
                <text x=\"10\" y=\"40\" \
                class=\"m\">\(esc(line))<title>\(esc(t.diagnosis ?? h))</title></text>\n
                """
        } else {
            svg += "<text x=\"10\" y=\"40\" class=\"m\">started \(esc(t.startedAt))</text>\n"
        }
        // Axis and grid.
        let step = tickStep(total)
        var tick = 0.0
        svg +=
            """
            <line x1=\"\(f(labelWidth))\" y1=\"\(f(top - 6))\" x2=\"\(f(labelWidth + plot))\" \
            y2=\"\(f(top - 6))\" stroke=\"#9aa3ad\"/>\n
            """
        while tick <= total + 1e-9 {
            let tx = x(tick)
            svg +=
                """
                <line x1=\"\(f(tx))\" y1=\"\(f(top - 10))\" x2=\"\(f(tx))\" y2=\"\(f(chartBottom))\" \
                stroke=\"#edf0f3\"/>
                """
            svg +=
                """
                <text x=\"\(f(tx))\" y=\"\(f(top - 14))\" text-anchor=\"middle\" \
                class=\"t\">\(esc(dur(tick)))</text>\n
                """
            tick += step
        }
        svg += rows.joined(separator: "\n") + "\n"
        if let to = t.timeoutAt {
            svg += marker(
                x: x(to), top: top - 10, bottom: chartBottom, color: "#c0392b",
                label: "timeout \(dur(to - (t.waitStart ?? 0)))",
                tip: t.headline ?? "timed out")
        }
        if let i = t.interruptedAt {
            svg += marker(
                x: x(i), top: top - 10, bottom: chartBottom, color: "#8e5cc2", label: "Ctrl-C",
                tip: "interrupted at \(dur(i))")
        }
        // Legend.
        var lx = 10.0
        let ly = chartBottom + 22
        for p in RunTimeline.Phase.allCases {
            svg +=
                "<rect x=\"\(f(lx))\" y=\"\(f(ly - 10))\" width=\"14\" height=\"12\" fill=\"\(colors[p]!)\""
                + (p == .stuck || p == .failed ? " stroke=\"#7a1010\"" : "") + "/>"
            svg += "<text x=\"\(f(lx + 19))\" y=\"\(f(ly))\">\(p.rawValue)</text>"
            lx += 30 + Double(p.rawValue.count) * 7 + 16
        }
        svg +=
            """
            \n<text x=\"10\" y=\"\(f(ly + 22))\" class=\"m\">Hover a bar for details; stuck and failed \
            Applications carry aphex's diagnosis. Times are seconds since the run started.</text>\n
            """
        svg += "</svg>\n"
        return svg
    }

    static func bar(
        label: String, indent: Double, y: Double, x0: Double, x1: Double, color: String, tip: String, note: String,
        marked: Bool
    ) -> String {
        var s =
            "<g><title>\(esc(tip))</title><text x=\"\(f(indent))\" y=\"\(f(y + 14))\">\(esc(clip(label, 34)))</text>"
        s +=
            """
            <rect x=\"\(f(x0))\" y=\"\(f(y + (rowHeight - barHeight) / 2))\" width=\"\(f(max(1.5, x1 - x0)))\" \
            height=\"\(f(barHeight))\" fill=\"\(color)\"
            """
            + (marked ? " stroke=\"#7a1010\" stroke-width=\"1.5\"" : "") + "/>"
        s += "<text x=\"\(f(max(x1, x0 + 1.5) + 5))\" y=\"\(f(y + 14))\" class=\"t\">\(esc(note))</text></g>"
        return s
    }

    static func marker(x: Double, top: Double, bottom: Double, color: String, label: String, tip: String) -> String {
        """
        <g><title>\(esc(tip))</title><line x1=\"\(f(x))\" y1=\"\(f(top))\" x2=\"\(f(x))\" y2=\"\(f(bottom))\" \
        stroke=\"\(color)\" stroke-width=\"2\" stroke-dasharray=\"6 4\"/>
        """
            + """
            <text x=\"\(f(x + 4))\" y=\"\(f(bottom + 2))\" fill=\"\(color)\" style=\"fill:\(color)\" \
            font-weight=\"bold\">\(esc(label))</text></g>\n
            """
    }

    static func outcomeText(_ t: RunTimeline) -> String {
        switch t.outcome {
        case "converged": return "converged in \(dur(t.seconds))"
        case "timeout": return "timed out after \(dur(t.seconds))"
        case "failed": return "failed after \(dur(t.seconds))"
        case "interrupted": return "interrupted after \(dur(t.seconds))"
        case "not-converged": return "not converged"
        default: return "\(t.outcome) (\(dur(t.seconds)))"
        }
    }

    static func tickStep(_ total: Double) -> Double {
        for s in [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200] where total / s <= 10 {
            return s
        }
        return total / 10
    }

    static func dur(_ s: Double) -> String {
        if s <= 0 { return "0s" }
        return formatDuration(.milliseconds(Int64((s * 1000).rounded())))
    }

    static func f(_ v: Double) -> String {
        let r = (v * 10).rounded() / 10
        return r == r.rounded() ? String(Int(r)) : String(format: "%.1f", r)
    }

    static func clip(_ s: String, _ n: Int) -> String { s.count > n ? String(s.prefix(n - 1)) + "…" : s }

    static func esc(_ s: String) -> String {
        JUnitReport.xml(s, attribute: false).replacingOccurrences(of: "\"", with: "&quot;")
    }
}
