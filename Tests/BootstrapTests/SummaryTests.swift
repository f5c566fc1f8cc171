import AphexCore
import KubeClient
import ClusterDrivers
import Foundation
import Testing
import TestSupport
@testable import Bootstrap

/// The end-of-bootstrap summary's Timings table.
@Suite struct SummaryTests {
    func state(waves: [WaveTiming], alreadyConverged: Set<Int> = []) -> PipelineState {
        let s = PipelineState(
            app: testContext(clock: VirtualClock()), options: BootstrapOptions(deployment: .kind),
            makeAPI: { _, _, _ in fatalError("no API in a summary") })
        s.records = [
            StepRecord(
                id: "argocd", title: "Installing ArgoCD", outcome: .done, seconds: 4.5, detail: "", changes: [],
                commands: []),
            StepRecord(
                id: "wait", title: "Waiting for convergence", outcome: .done, seconds: 31, detail: "", changes: [],
                commands: [])
        ]
        s.waves = waves
        s.alreadyConverged = alreadyConverged
        s.converged = true
        return s
    }

    func timings(_ s: PipelineState) -> [Substring] {
        let text = BootstrapSummary.text(s, argocdURL: nil)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard let start = lines.firstIndex(of: "Timings") else { return [] }
        return Array(lines[(start + 1)...].prefix { !$0.isEmpty })
    }

    /// "wave 20 (platform-catalog, platform-cert-foundation, platform-controllers)2.7s": the
    /// longest label must still leave a gap, and every figure starts in the same column.
    @Test func longWaveLabelsKeepTheirFigureInAColumn() {
        let rows = timings(
            state(waves: [
                WaveTiming(wave: 0, apps: ["ingress-controller"], seconds: 1.2),
                WaveTiming(
                    wave: 20, apps: ["platform-catalog", "platform-cert-foundation", "platform-controllers"],
                    seconds: 2.7)
            ]))
        let long = rows.first { $0.contains("wave 20") }.map(String.init) ?? ""
        #expect(long.range(of: #"platform-controllers\)  +2\.7s$"#, options: .regularExpression) != nil, "\(rows)")
        // Figures: the last run of non-spaces; all start at one column.
        let columns = Set(rows.map { row in row.count - (row.split(separator: " ").last?.count ?? 0) })
        #expect(columns.count == 1, "\(rows)")
    }

    /// A wave converged before the wait began was not watched: no "0ms" made up for it.
    @Test func alreadyConvergedWavesSaySoInsteadOfZero() throws {
        let s = state(
            waves: [
                WaveTiming(wave: 0, apps: ["ingress-controller"], seconds: 0),
                WaveTiming(wave: 10, apps: ["cert-manager"], seconds: 12)
            ],
            alreadyConverged: [0])
        let rows = timings(s)
        #expect(
            rows.contains { $0.hasPrefix("    wave 0 (ingress-controller)") && $0.hasSuffix("  already converged") },
            "\(rows)")
        #expect(rows.contains { $0.hasPrefix("    wave 10 (cert-manager)") && $0.hasSuffix("  12s") }, "\(rows)")
        #expect(!rows.contains { $0.hasSuffix("0ms") }, "\(rows)")
        let waves = try JSON.parse(AppContext.json(BootstrapTimings(s), pretty: false))["waves"]?.array ?? []
        #expect(waves.first?["alreadyConverged"] == true)
        #expect(waves.last?["alreadyConverged"] == nil)
    }
}
