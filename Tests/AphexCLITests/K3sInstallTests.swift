@testable import AphexCLI
import AphexCore
import ArgumentParser
import ClusterDrivers
import KubeClient
import Testing

/// k3s's flags fill the driver's `K3sInstallSpec` directly, validated once.
@Suite struct K3sInstallTests {
    @Test func flagsMapOntoTheDriverSpec() throws {
        let cmd = try K3sInstall.parse(["--k3s-version", "v1.31.4+k3s1", "--disable-traefik", "--gpu"])
        #expect(
            cmd.flags.spec()
                == K3sInstallSpec(name: "platform-cluster", version: "v1.31.4+k3s1", disableTraefik: true, gpu: true))
        let b = try Bootstrap.parse(["--deployment", "k3s", "--disable-traefik", "--cluster-name", "lab"])
        #expect(b.library.k3s == K3sInstallSpec(name: "lab", disableTraefik: true))
        #expect(throws: (any Error).self) { try K3sInstall.parse(["--k3s-version", "1.31"]) }
    }

    @Test func dryRunPlanNamesTheInstaller() async throws {
        let t = TestContext()
        let cmd = try K3sInstall.parse(["--dry-run", "--output", "json", "--k3s-version", "v1.31.4+k3s1"])
        try await cmd.run(cmd.context(t.ctx))
        let doc = try JSON.parse(t.out.text)
        #expect(doc["dryRun"] == .bool(true))
        #expect(doc["title"]?.string == "k3s install (cluster name platform-cluster)")
        #expect(t.out.text.contains("v1.31.4+k3s1"))
    }
}
