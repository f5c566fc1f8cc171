import AphexCore
import ClusterDrivers
import KubeClient
import Foundation
import SimCluster
import Testing

/// The driver commands of the built `aphex` against the simulated cluster's stand-ins
/// (kind, kubectl, systemctl, the simulated get.k3s.io) through `SimHarness`.
@Suite(.serialized) struct DriverSimTests {
    func kindArgvs(_ h: SimHarness) throws -> [[String]] {
        try h.record().commands.map(\.argv).filter { $0.first.map { ($0 as NSString).lastPathComponent } == "kind" }
            .map { ["kind"] + $0.dropFirst() }
    }

    @Test func kindCreateReuseListDelete() async throws {
        let h = try await SimHarness.start(scenario: "blackbox-fresh-kind")
        defer { h.stop() }
        let kubeconfig = h.home + "/.aphex/clusters/platform-cluster/kubeconfig"
        let userConfig = h.home + "/.kube/config"
        let userBefore = FileManager.default.contents(atPath: userConfig)

        let first = try await h.run(["kind", "create", "--timeout", "60s"], timeout: 90)
        #expect(first.status == 0, "\(first.stderr)")
        let creates = try kindArgvs(h).filter { $0.starts(with: ["kind", "create"]) }
        #expect(
            creates == [
                [
                    "kind", "create", "cluster", "--name", "platform-cluster", "--config", "-", "--image",
                    KindClusterSpec.defaultNodeImage, "--wait", "0s", "--kubeconfig", kubeconfig
                ]
            ])
        #expect(PrivateFiles.mode(kubeconfig) == 0o600)
        #expect(FileManager.default.contents(atPath: userConfig) == userBefore, "~/.kube/config must stay untouched")

        let second = try await h.run(["kind", "create", "--output", "json"], timeout: 60)
        #expect(second.status == 0, "\(second.stderr)")
        #expect(try JSON.parse(second.stdout)["outcome"]?.string == "reused")
        #expect(try kindArgvs(h).filter { $0.starts(with: ["kind", "create"]) }.count == 1)

        let list = try await h.run(["kind", "list", "--output", "json"])
        #expect(list.status == 0)
        let row = try JSON.parse(list.stdout)["clusters"]?.array?.first { $0["name"]?.string == "platform-cluster" }
        #expect(row?["managed"] == .bool(true))

        let unconfirmed = try await h.run(["kind", "delete"])  // no terminal, no --yes
        #expect(unconfirmed.status == 2 && unconfirmed.stderr.contains("--yes"), "\(unconfirmed.stderr)")
        #expect(try kindArgvs(h).filter { $0.starts(with: ["kind", "delete"]) }.isEmpty)
        let del = try await h.run(["kind", "delete", "--yes"])
        #expect(del.status == 0, "\(del.stderr)")
        #expect(
            try kindArgvs(h).last == [
                "kind", "delete", "cluster", "--name", "platform-cluster", "--kubeconfig", kubeconfig
            ])
        #expect(!FileManager.default.fileExists(atPath: h.home + "/.aphex/clusters/platform-cluster"))
    }

    /// Issue 14.2: a kind cluster that existed before aphex (aphex only adopted it) is not
    /// aphex's to delete: `destroy` and `kind delete` refuse unless --force.
    @Test func destroyAndKindDeleteRefuseAClusterAphexOnlyAdopted() async throws {
        let h = try await SimHarness.start(scenario: "blackbox-fresh-kind")
        defer { h.stop() }
        // Someone's own kind cluster, made with kind itself.
        let made = try await h.runProgram([h.binDir + "/kind", "create", "cluster", "--name", "platform-cluster"])
        #expect(made.status == 0, "\(made.stderr)")
        let adopt = try await h.run(["kind", "create", "--timeout", "60s", "--output", "json"], timeout: 90)
        #expect(adopt.status == 0, "\(adopt.stderr)")
        #expect(try JSON.parse(adopt.stdout)["outcome"]?.string == "reused")
        let record = try JSON.parse(
            try String(contentsOfFile: h.home + "/.aphex/clusters/platform-cluster/cluster.json", encoding: .utf8))
        #expect(record["createdByAphex"] == .bool(false))

        for args in [["destroy", "--yes"], ["destroy", "--deployment", "kind", "--yes"], ["kind", "delete", "--yes"]] {
            let r = try await h.run(args)
            #expect(r.status == 2, "aphex \(args.joined(separator: " ")): \(r.stderr)")
            #expect(
                r.stderr.contains("aphex did not create the kind cluster 'platform-cluster'")
                    && r.stderr.contains("--force")
                    && r.stderr.contains("--use-existing"), "\(r.stderr)")
            #expect(r.stdout.isEmpty)
        }
        #expect(
            try kindArgvs(h).filter { $0.starts(with: ["kind", "delete"]) }.isEmpty, "an adopted cluster was deleted")
        let dry = try await h.run(["destroy", "--dry-run"])
        #expect(dry.status == 0 && dry.stdout.contains("aphex did not create this kind cluster"), "\(dry.stdout)")

        // --force without --yes still asks (and there is no terminal).
        let unconfirmed = try await h.run(["kind", "delete", "--force"])
        #expect(unconfirmed.status == 2 && unconfirmed.stderr.contains("--yes"), "\(unconfirmed.stderr)")
        let forced = try await h.run(["kind", "delete", "--force", "--yes"])
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(
            forced.stderr.contains("--force: deleting the kind cluster 'platform-cluster', which aphex did not create"))
        #expect(try kindArgvs(h).filter { $0.starts(with: ["kind", "delete", "cluster"]) }.count == 1)
    }

    @Test func brokenClusterTimesOutThenIsRefused() async throws {
        let h = try await SimHarness.start(scenario: "broken-kind")
        defer { h.stop() }
        let first = try await h.run(["kind", "create", "--timeout", "4s"], timeout: 60)
        #expect(first.status == 3, "\(first.stderr)")
        #expect(first.stderr.contains("never answered"))
        let again = try await h.run(["kind", "create"], timeout: 60)
        #expect(again.status == 2, "\(again.stderr)")
        #expect(again.stderr.contains("--recreate"))
        #expect(try kindArgvs(h).filter { $0.starts(with: ["kind", "create"]) }.count == 1)
    }

    @Test func failedCreateIsCleanedUp() async throws {
        let h = try await SimHarness.start(scenario: "kind-create-fails")
        defer { h.stop() }
        let r = try await h.run(["kind", "create"], timeout: 60)
        #expect(r.status == 1, "\(r.stderr)")
        #expect(r.stderr.contains("failed to init node with kubeadm"))
        #expect(
            try kindArgvs(h).last?.starts(with: ["kind", "delete", "cluster", "--name", "platform-cluster"]) == true)
        let list = try await h.run(["kind", "list", "--output", "json"])
        #expect(try JSON.parse(list.stdout)["clusters"]?.array?.isEmpty == true)
    }

    @Test func k3sInstallTwiceAndNonRootRefusal() async throws {
        let h = try await SimHarness.start(scenario: "happy-k3s")
        defer { h.stop() }
        let nobody = try await h.run(["k3s", "install"], asNobody: true, timeout: 60)
        #expect(nobody.status == 4, "\(nobody.stderr)")
        #expect(nobody.stderr.contains("sudo aphex k3s install"))

        let first = try await h.run(["k3s", "install", "--timeout", "60s", "--output", "json"], timeout: 90)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(try JSON.parse(first.stdout)["outcome"]?.string == "created")
        #expect(PrivateFiles.mode(h.home + "/.aphex/clusters/platform-cluster/kubeconfig") == 0o600)

        let second = try await h.run(["k3s", "install", "--output", "json"], timeout: 60)
        #expect(second.status == 0, "\(second.stderr)")
        #expect(try JSON.parse(second.stdout)["outcome"]?.string == "reused")
    }

    @Test func bootstrapDryRunPlansTheClusterStepAndRunsNoDriverCommand() async throws {
        let h = try await SimHarness.start(scenario: "blackbox-fresh-kind")
        defer { h.stop() }
        let r = try await h.run(["bootstrap", "--deployment", "kind", "--dry-run", "--workers", "1"], timeout: 90)
        // Later steps plan against the (planned, still empty) cluster.
        #expect(r.status == 0, "\(r.stderr.suffix(400))")
        let all = r.stdout + r.stderr
        #expect(all.contains("Preparing the cluster (plan)"))
        #expect(all.contains("kind create cluster --name platform-cluster --config -"))
        #expect(all.contains("- role: worker"), "the kind config is part of the plan")
        #expect(
            try kindArgvs(h).filter { !$0.starts(with: ["kind", "version"]) && !$0.starts(with: ["kind", "get"]) }
                .isEmpty)
        #expect(!FileManager.default.fileExists(atPath: h.home + "/.aphex/clusters/platform-cluster"))
    }
}
