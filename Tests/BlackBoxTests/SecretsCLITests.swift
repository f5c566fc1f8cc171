import AphexCore
import KubeClient
import Foundation
import Testing

/// The built binary's secrets commands where no cluster is needed: bad input is exit 2 with
/// the fix, nothing on stdout, nothing written.
/// (The cluster-backed runs are in SecretsSimBlackBoxTests.)
@Suite struct SecretsCLITests {
    @Test func unknownCredentialNameListsTheValidOnes() async throws {
        let out = try await BuiltAphex.run(["show-secrets", "--name", "argocd-pasword"])
        #expect(out.status == 2, "\(out.stderrText)")
        #expect(out.stdoutText.isEmpty)
        for name in [
            "argocd-admin-password", "authentik-bootstrap-token", "dex-argocd-client-secret", "authentik-admin-user"
        ] {
            #expect(out.stderrText.contains(name), "the error should list \(name): \(out.stderrText)")
        }
    }

    @Test func exportRefusesAnExistingFileAndLeavesItAlone() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("aphex-export-\(UUID().uuidString)")
            .path
        FileManager.default.createFile(
            atPath: path, contents: Data("keep me".utf8), attributes: [.posixPermissions: 0o600])
        defer { try? FileManager.default.removeItem(atPath: path) }
        let out = try await BuiltAphex.run(["secrets", "export", "--file", path])
        #expect(out.status == 2)
        #expect(out.stderrText.contains("--force"))
        #expect(String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self) == "keep me")
    }

    @Test func secretsHelpNamesTheFiles() async throws {
        let out = try await BuiltAphex.run(["secrets", "export", "--help"])
        #expect(out.status == 0 && out.stdoutText.contains("0600") && out.stdoutText.contains("--secrets-from"))
    }
}
