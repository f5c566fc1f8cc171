import AphexCore
import KubeClient
import Foundation
import Testing
import TestSupport
@testable import SimCluster

/// What `aphex-sim serve` adds for real-time serving and benchmarks: coalesced reads, the
/// platform's final transition time, per-request server time, the Date header.
@Suite struct ServingTests {
    static let crd = widgetCRD  // Established 2 s after creation in emptyScenario()

    static func established(_ w: SimWorld) -> Bool {
        let crd = w.get(ResourceRef.crds, namespace: nil, name: "widgets.example.com")
        return crd?[path: "status", "conditions"]?.array?.contains {
            $0["type"] == "Established" && $0["status"] == "True"
        } == true
    }

    /// Within the coalescing interval a read is served from the last tick's state; past it, or
    /// after any write, the controllers run again. Zero (the default) always ticks.
    @Test func readsCoalesceUntilTheIntervalPassesOrAWriteLands() throws {
        let clock = VirtualClock()
        let w = SimWorld(scenario: try emptyScenario(), clock: clock)
        w.readCoalescing = .seconds(5)
        _ = try w.apply(try SimJSON.documents(Self.crd)[0])
        #expect(!Self.established(w))
        clock.advance(by: .seconds(3))  // due at 2 s, but 3 s < 5 s since the last tick
        #expect(!Self.established(w))
        _ = try w.apply(["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "c", "namespace": "default"]])
        #expect(Self.established(w))  // a write makes the next read tick

        let plain = SimWorld(scenario: try emptyScenario(), clock: clock)
        _ = try plain.apply(try SimJSON.documents(Self.crd)[0])
        clock.advance(by: .seconds(2))
        #expect(Self.established(plain))
        let coalesced = SimWorld(scenario: try emptyScenario(), clock: clock)
        coalesced.readCoalescing = .seconds(1)
        _ = try coalesced.apply(try SimJSON.documents(Self.crd)[0])
        clock.advance(by: .seconds(2))  // past the interval: ticks
        #expect(Self.established(coalesced))
    }

    /// /_sim/convergence: null until every wave is done, then the scenario time of the last
    /// child's transition — not when it was observed.
    @Test func convergenceTimeIsTheLastWavesLogicalEnd() async throws {
        let sim = try SimCluster(scenario: "bench-25")
        func convergence() async throws -> JSON {
            let r = try await sim.transport.send(HTTPRequest(url: sim.baseURL + "/_sim/convergence"))
            return try JSON.parse(r.body)
        }
        #expect(try await convergence()["convergedAt"] == .null)
        #expect(sim.run(until: .seconds(400), step: .seconds(7)) { _ in sim.converged() })
        let c = try await convergence()
        let at = try #require(c["convergedAt"]?.double)
        let now = try #require(c["time"]?.double)
        #expect(at <= now)
        // 5 waves after platform-root's sync (rootSync 3 s); in each, the apps sync (appSync 4 s) and
        // are Healthy when their Deployment is ready (workloadReady 8 s > appHealthy 6 s); time scale 0.02.
        #expect(abs(at - (3 + 5 * (4 + 8)) * 0.02) < 0.001, "\(at)")
        // Coarse steps observed it up to 7 s later; the reported time does not move.
        sim.advance(by: .seconds(30))
        #expect(try await convergence()["convergedAt"]?.double == at)
    }

    @Test func requestsRecordTheServersOwnTime() async throws {
        let sim = try SimCluster(scenario: "bench-25")
        _ = try await sim.transport.send(
            HTTPRequest(url: sim.baseURL + "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications"))
        let r = try #require(sim.record.requests.last)
        #expect(r.path.hasSuffix("/applications"))
        #expect((r.serverMs ?? -1) >= 0)
    }

    @Test func dateHeaderIsIMFFixdate() {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        for t in [0.0, 951_782_400, 1_795_514_400.75, 1_800_000_000, 4_107_542_399] {
            let d = Date(timeIntervalSince1970: t)
            #expect(httpDate(d) == f.string(from: d), "\(t)")
        }
    }
}
