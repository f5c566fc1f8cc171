import AphexCore
import KubeClient
import Foundation
import SimCluster
import Testing

/// Drives the built `aphex` binary against the simulator's stand-ins, as a user or CI would.
@Suite(.serialized) struct SimSmoke {
    @Test func helpAndVersionWork() async throws {
        let h = try await SimHarness.start(scenario: "blackbox-quick")
        defer { h.stop() }
        let help = try await h.run(["--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("EXIT CODES"))
        let v = try await h.run(["version", "--output", "json"])
        #expect(v.status == 0)
        #expect(try JSON.parse(v.stdout)["aphex"]?.string != nil)
    }

    @Test func badInvocationsExitTwoAndTouchNothing() async throws {
        let h = try await SimHarness.start(scenario: "blackbox-quick")
        defer { h.stop() }
        try h.resetRecord()
        let r = try await h.run(["bootstrap", "--deployment", "kind", "--no-wait", "--timeout", "5m"])
        #expect(r.status == 2)
        #expect(r.stderr.contains("mutually exclusive"))
        let r2 = try await h.run(["status", "--no-such-flag"])
        #expect(r2.status == 2)
        #expect(try h.record().writes.isEmpty)
    }

    @Test func statusAgainstTheSimulatorGivesAClearAnswer() async throws {
        let h = try await SimHarness.start(scenario: "blackbox-quick")
        defer { h.stop() }
        let r = try await h.run(["status"], timeout: 60)
        // 0 = converged, 1 = not converged / not available yet; anything else is a bug.
        #expect([0, 1].contains(r.status), "status exited \(r.status): \(r.stderr)")
        #expect(!r.stderr.isEmpty || !r.stdout.isEmpty, "status said nothing")
        // exit 1: either an error on stderr, or the report on stdout saying what is not converged.
        if r.status == 1 {
            #expect(
                r.stderr.count > 10 || r.stdout.lowercased().contains("not converged"),
                "exit 1 needs a clear message: \(r.stdout.suffix(300)) \(r.stderr)")
        }
        let rec = try h.record()
        #expect(rec.writes.isEmpty, "status must not write: \(rec.writes)")
    }

    @Test func statusAsNobodyDoesNotCrash() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"))
        let h = try await SimHarness.start(scenario: "blackbox-quick")
        defer { h.stop() }
        let r = try await h.run(["status"], asNobody: true, timeout: 60)
        #expect([0, 1, 4].contains(r.status), "\(r.status): \(r.stderr)")
    }
}
