import Bootstrap
import AphexCore
import KubeClient
import ClusterDrivers
import Testing

@Suite struct WavesTests {
    @Test func annotationParsing() {
        #expect(Waves.parse(nil) == (0, nil))
        #expect(Waves.parse("10") == (10, nil))
        #expect(Waves.parse("-1") == (-1, nil))
        #expect(Waves.parse("ten") == (0, "ten"))
        #expect(Waves.parse("1.5") == (0, "1.5"))
    }

    @Test func childrenAreGroupedByWaveAscendingWithMissingAnnotationAsZero() {
        let apps = [
            Obj.root(children: []), Obj.converged("b", wave: "20"), Obj.converged("a", wave: nil),
            Obj.converged("c", wave: "3"), Obj.app("d", wave: "20")
        ]
        let e = Waves.evaluate(apps)
        #expect(e.waves.map(\.wave) == [0, 3, 20])
        #expect(e.wave(0)?.apps.map(\.name) == ["a"])
        #expect(e.wave(20)?.apps.map(\.name) == ["b", "d"])
        #expect(e.wave(3)?.converged == true)
        #expect(e.wave(20)?.converged == false)
        #expect(e.firstUnconvergedWave?.wave == 20)
        #expect(!e.converged)
    }

    @Test func rootStatusResourcesDecideTheChildrenWhenPresent() {
        // "other" lives in argocd but is not platform-root's child; "late" is listed but not created yet.
        let apps = [Obj.root(children: ["a", "late"]), Obj.converged("a", wave: "0"), Obj.app("other", wave: "0")]
        let e = Waves.evaluate(apps)
        #expect(e.apps.map(\.name).sorted() == ["a", "late"])
        let late = e.app("late")!
        #expect(!late.exists && late.phase == .pending && late.reason.contains("not created"))
        #expect(!e.converged)
    }

    @Test func withoutRootResourcesEveryOtherApplicationInArgoCDIsAChild() {
        var root = Obj.converged("platform-root", wave: nil)
        root.set(["status", "resources"], to: [])
        let e = Waves.evaluate([root, Obj.converged("a", wave: "1"), Obj.converged("b", wave: "2")])
        #expect(e.apps.map(\.name) == ["a", "b"])
        #expect(e.converged)
    }

    @Test func appOfAppsTrapRootHealthyAloneIsNotConverged() {
        // ArgoCD reports the root Synced+Healthy as soon as the children exist.
        let apps = [
            Obj.root(children: ["a", "b"]), Obj.converged("a", wave: "0"),
            Obj.app("b", wave: "10", sync: "Synced", health: "Progressing")
        ]
        let e = Waves.evaluate(apps)
        #expect(e.rootSync == "Synced" && e.rootHealth == "Healthy")
        #expect(!e.converged)
        #expect(e.firstUnconvergedWave?.wave == 10)
    }

    @Test func rootWithoutChildrenIsNotConverged() {
        var root = Obj.converged("platform-root", wave: nil)
        root.set(["status", "resources"], to: nil)
        let e = Waves.evaluate([root])
        #expect(!e.converged)
        #expect(e.problems.contains { $0.contains("no child Applications") })
    }

    @Test func missingRootIsReported() {
        let e = Waves.evaluate([Obj.converged("a", wave: "0")])
        #expect(!e.rootFound && !e.converged)
        #expect(e.problems.contains { $0.contains("platform-root was not found") })
    }

    @Test func nonIntegerWaveIsReportedAndCountsAsZero() {
        let e = Waves.evaluate([Obj.root(children: ["a"]), Obj.converged("a", wave: "early")])
        #expect(e.app("a")?.wave == 0)
        #expect(e.app("a")?.invalidWave == "early")
        #expect(e.problems.contains { $0.contains("'early'") && $0.contains("not an integer") })
    }

    @Test func degradedAfterHealthyUsesTheTrackedSet() {
        let apps = [Obj.root(children: ["a"]), Obj.app("a", wave: "0", sync: "Synced", health: "Degraded")]
        #expect(Waves.evaluate(apps).failed.isEmpty)
        #expect(Waves.evaluate(apps, healthySeen: ["a"]).failed.map(\.name) == ["a"])
    }

    @Test func limitKeepsWavesUpToN() {
        let apps = [Obj.root(children: ["a", "b"]), Obj.converged("a", wave: "0"), Obj.app("b", wave: "10")]
        let e = Waves.evaluate(apps).limited(to: 5)
        #expect(e.waves.map(\.wave) == [0])
        #expect(e.converged)
    }

    @Test func kindAndK3sCatalogWavesAreDiscoveredNotHardcoded() {
        let k3s: [(String, String)] = [
            ("argocd", "0"), ("argocd-config", "1"), ("tekton", "1"), ("gpu", "3"), ("kong", "4"),
            ("crds", "5"), ("rbac", "5"), ("gateway", "5"), ("external-dns", "5"), ("gpu-operator", "10"),
            ("cert-foundation", "20")
        ]
        let apps = [Obj.root(children: k3s.map(\.0))] + k3s.map { Obj.converged($0.0, wave: $0.1) }
        let e = Waves.evaluate(apps)
        #expect(e.waves.map(\.wave) == [0, 1, 3, 4, 5, 10, 20])
        #expect(e.wave(5)?.apps.count == 4)
        #expect(e.converged)
    }
}
