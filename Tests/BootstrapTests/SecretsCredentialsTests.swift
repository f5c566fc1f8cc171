import AphexCore
import KubeClient
import ClusterDrivers
import Foundation
import SecretGen
import Testing
import TestSupport
@testable import Bootstrap

/// A cluster after a complete bootstrap: every catalog secret, argocd-secret's key, and
/// ArgoCD's initial admin password.
func bootstrappedCluster(environment: [String: String] = [:]) async throws -> FakeSecretCluster {
    let cluster = FakeSecretCluster()
    cluster.put("argocd", "argocd-secret", plain: ["server.secretkey": "argocd-own"])
    cluster.put("argocd", "argocd-initial-admin-secret", plain: ["password": "Init-Admin-Pass-1"])
    _ = try await applySecrets(
        ctx: secretsTestContext(cluster, environment: environment), api: cluster, kubeconfig: "/tmp/kc",
        deployment: .kind, importFile: nil, dryRun: false)
    return cluster
}

func tempDir() throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("aphex-secrets-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
}

func mode(_ path: String) throws -> Int {
    (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as! NSNumber).intValue
}

@Suite struct ShowSecretsTests {
    func options(name: String? = nil, tty: Bool = true) -> ShowSecretsOptions {
        var o = ShowSecretsOptions()
        o.name = name
        o.stdoutIsTTY = tty
        return o
    }

    @Test func textTableReadsValuesBackFromTheCluster() async throws {
        let cluster = try await bootstrappedCluster(environment: ["CLOUDFLARE_API_TOKEN": "cf-token-abcdefgh"])
        let out = BufferWriter(), reporter = CollectingReporter()
        let status = try await showSecrets(
            ctx: secretsTestContext(cluster, reporter: reporter, output: out), api: cluster, options: options())
        #expect(status == .ok)
        let lines = out.text.split(separator: "\n").map(String.init)
        #expect(
            lines[0].hasPrefix("NAME") && lines[0].contains("SECRET") && lines[0].contains("KEY")
                && lines[0].hasSuffix("VALUE"))
        #expect(lines.count == 1 + 13 + 3)  // header, 13 catalog keys (kind), 3 extras
        let pw = try #require(cluster.value("auth-system", "authentik-postgresql", "postgresql-password"))
        #expect(
            lines.contains {
                $0.hasPrefix("postgresql-password ") && $0.contains("auth-system/authentik-postgresql")
                    && $0.hasSuffix(pw)
            })
        #expect(lines.contains { $0.hasPrefix("argocd-admin-password ") && $0.hasSuffix("Init-Admin-Pass-1") })
        #expect(lines.contains { $0.hasPrefix("authentik-admin-user ") && $0.hasSuffix("akadmin") })
        #expect(lines.contains { $0.hasPrefix("cloudflare-api-token ") && $0.hasSuffix("cf-token-abcdefgh") })
        #expect(reporter.warnings.isEmpty)  // stdout is a TTY
    }

    @Test func jsonIsStableAndComplete() async throws {
        let cluster = try await bootstrappedCluster()
        let out = BufferWriter()
        let status = try await showSecrets(
            ctx: secretsTestContext(cluster, output: out, format: .json), api: cluster, options: options(tty: false))
        #expect(status == .ok)
        let doc = try JSON.parse(out.text)
        #expect(doc["complete"] == .bool(true))
        #expect(doc["missing"] == .array([]))
        let creds = try #require(doc["credentials"]?.array)
        let token = try #require(creds.first { $0["name"]?.string == "authentik-bootstrap-token" })
        #expect(token["env"]?.string == "AUTHENTIK_BOOTSTRAP_TOKEN")
        #expect(
            token["namespace"]?.string == "auth-system" && token["secret"]?.string == "authentik-secrets"
                && token["key"]?.string == "bootstrap-token")
        #expect(token["value"]?.string == cluster.value("auth-system", "authentik-secrets", "bootstrap-token"))
        #expect(token["present"] == .bool(true) && token["optional"] == .bool(false))
        let cf = try #require(creds.first { $0["name"]?.string == "cloudflare-api-token" })
        #expect(cf["value"] == .null && cf["optional"] == .bool(true) && cf["present"] == .bool(false))
        let user = try #require(creds.first { $0["name"]?.string == "authentik-admin-user" })
        #expect(user["value"]?.string == "akadmin" && user["secret"] == .null)
    }

    @Test func envLinesAreUpperSnakeAndWarnWhenNotATTY() async throws {
        let cluster = try await bootstrappedCluster()
        let out = BufferWriter(), reporter = CollectingReporter()
        _ = try await showSecrets(
            ctx: secretsTestContext(cluster, reporter: reporter, output: out, format: .env), api: cluster,
            options: options(tty: false))
        let lines = out.text.split(separator: "\n").map(String.init)
        #expect(lines.contains("ARGOCD_ADMIN_PASSWORD=Init-Admin-Pass-1"))
        #expect(
            lines.contains(
                "AUTHENTIK_BOOTSTRAP_TOKEN=\(cluster.value("auth-system", "authentik-secrets", "bootstrap-token")!)"))
        #expect(lines.contains("AUTHENTIK_ADMIN_USER=akadmin"))
        #expect(
            lines.contains(
                "DEX_ARGOCD_CLIENT_SECRET=\(cluster.value("auth-system", "dex-secrets", "argocd-client-secret")!)"))
        #expect(lines.allSatisfy { $0.range(of: #"^[A-Z][A-Z0-9_]*=\S+$"#, options: .regularExpression) != nil })
        #expect(!lines.contains { $0.hasPrefix("CLOUDFLARE_API_TOKEN=") })  // not stored: not printed
        #expect(reporter.warnings.count == 1 && reporter.warnings[0].contains("stdout is not a terminal"))
    }

    @Test func nameSelectsOneAndUnknownNamesAreUsageErrors() async throws {
        let cluster = try await bootstrappedCluster()
        let out = BufferWriter()
        let ctx = secretsTestContext(cluster, output: out, format: .env)
        #expect(try await showSecrets(ctx: ctx, api: cluster, options: options(name: "argocd-admin-password")) == .ok)
        #expect(out.text == "ARGOCD_ADMIN_PASSWORD=Init-Admin-Pass-1\n")
        do {
            _ = try await showSecrets(ctx: ctx, api: cluster, options: options(name: "argocd-pasword"))
            Issue.record("unknown name must fail")
        } catch let e as AphexError {
            #expect(e.status == .usage)
            #expect(
                e.message.contains("argocd-pasword") && e.message.contains("argocd-admin-password")
                    && e.message.contains("authentik-bootstrap-token"))
        }
        // The k3s-only names exist in the catalog but not in a kind cluster.
        await #expect(throws: AphexError.self) {
            _ = try await showSecrets(
                ctx: ctx, api: cluster, options: options(name: "cloudflare-api-token-kube-system"))
        }
    }

    @Test func missingSecretsAreListedAndExit1() async throws {
        let cluster = FakeSecretCluster()
        cluster.put("auth-system", "authentik-postgresql", plain: ["postgresql-password": "pw-123456789"])
        let out = BufferWriter(), reporter = CollectingReporter()
        let status = try await showSecrets(
            ctx: secretsTestContext(cluster, reporter: reporter, output: out), api: cluster, options: options())
        #expect(status == .failed)
        #expect(out.text.contains("pw-123456789"))
        #expect(
            out.text.split(separator: "\n").contains {
                $0.hasPrefix("postgresql-postgres-password ") && $0.hasSuffix("<missing>")
            })
        #expect(
            out.text.split(separator: "\n").contains {
                $0.hasPrefix("cloudflare-api-token ") && $0.hasSuffix("<not set (optional)>")
            })
        #expect(
            reporter.warnings.contains {
                $0.contains("Not stored in the cluster") && $0.contains("argocd-admin-password")
                    && !$0.contains("pw-123456789")
            })
        // JSON says the same.
        let jout = BufferWriter()
        #expect(
            try await showSecrets(
                ctx: secretsTestContext(cluster, output: jout, format: .json), api: cluster, options: options())
                == .failed)
        let doc = try JSON.parse(jout.text)
        #expect(doc["complete"] == .bool(false))
        #expect(doc["missing"]?.array?.contains("dex-client-secret") == true)
        #expect(doc["missing"]?.array?.contains("cloudflare-api-token") == false)
    }

    @Test func k3sSecretsAreShownWhenTheyExist() async throws {
        let cluster = FakeSecretCluster()
        cluster.put("argocd", "argocd-secret", plain: ["server.secretkey": "x"])
        _ = try await applySecrets(
            ctx: secretsTestContext(cluster, environment: ["CLOUDFLARE_API_TOKEN": "cf-token-abcdefgh"]), api: cluster,
            kubeconfig: "/tmp/kc", deployment: .k3s, importFile: nil, dryRun: false)
        let out = BufferWriter()
        _ = try await showSecrets(
            ctx: secretsTestContext(cluster, output: out, format: .env), api: cluster, options: options())
        #expect(out.text.contains("CLOUDFLARE_API_TOKEN_KUBE_SYSTEM=cf-token-abcdefgh\n"))
        #expect(out.text.contains("CLOUDFLARE_API_TOKEN_CERT_MANAGER=cf-token-abcdefgh\n"))
    }

    @Test func bootstrapSummaryPrintsTheSameTable() async throws {
        let cluster = try await bootstrappedCluster()
        let a = BufferWriter(), b = BufferWriter()
        #expect(
            try await printCredentials(ctx: secretsTestContext(cluster, output: a), api: cluster, deployment: .kind))
        _ = try await showSecrets(ctx: secretsTestContext(cluster, output: b), api: cluster, options: options())
        #expect(a.text == b.text && !a.text.isEmpty)
    }
}

@Suite struct SecretsExportTests {
    @Test func exportWritesAMode0600FileWithEveryStoredCatalogKey() async throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let cluster = try await bootstrappedCluster(environment: ["CLOUDFLARE_API_TOKEN": "cf-token-abcdefgh"])
        let file = dir.appendingPathComponent("backup.json").path
        let out = BufferWriter()
        let reporter = CollectingReporter()
        let status = try await exportSecrets(
            ctx: secretsTestContext(cluster, reporter: reporter, output: out), api: cluster, file: file, force: false)
        #expect(status == .ok)
        #expect(try mode(file) == 0o600)
        #expect(out.text.hasPrefix("Exported 13 keys of 6 Secrets to \(file) (mode 0600)"))
        let parsed = try SecretsFile.parse([UInt8](try Data(contentsOf: URL(fileURLWithPath: file))), source: file)
        #expect(parsed.secrets.count == 6)
        for (id, data) in parsed.secrets {
            for (k, v) in data { #expect(cluster.value(id.namespace, id.name, k) == v) }
        }
        // Only catalog keys: ArgoCD's own keys and its initial admin secret are not exported.
        #expect(
            parsed.secrets[SecretID(namespace: "argocd", name: "argocd-secret")] == [
                "oidc.dex.clientSecret": cluster.value("auth-system", "dex-secrets", "argocd-client-secret")!
            ])
        #expect(parsed.secrets[SecretID(namespace: "argocd", name: "argocd-initial-admin-secret")] == nil)
        #expect(parsed.exportedAt == "2026-09-21T14:13:20Z")
        expectNoSecretLeaks(cluster, reporter: reporter)
    }

    @Test func exportRefusesToOverwriteWithoutForceAndReplacesAtomicallyWithIt() async throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let cluster = try await bootstrappedCluster()
        let file = dir.appendingPathComponent("backup.json").path
        FileManager.default.createFile(
            atPath: file, contents: Data("old content".utf8), attributes: [.posixPermissions: 0o644])
        do {
            _ = try await exportSecrets(ctx: secretsTestContext(cluster), api: cluster, file: file, force: false)
            Issue.record("must refuse an existing file")
        } catch let e as AphexError {
            #expect(e.status == .usage && e.message.contains("--force"))
        }
        #expect(String(decoding: try Data(contentsOf: URL(fileURLWithPath: file)), as: UTF8.self) == "old content")

        // The O_EXCL path itself (a file appearing after the check) is refused too.
        #expect(throws: PrivateFiles.FileExists(path: file)) {
            try PrivateFiles.write([1, 2, 3], to: file, replace: false)
        }
        #expect(String(decoding: try Data(contentsOf: URL(fileURLWithPath: file)), as: UTF8.self) == "old content")

        // the optional Cloudflare token being unset is not a failure
        #expect(try await exportSecrets(ctx: secretsTestContext(cluster), api: cluster, file: file, force: true) == .ok)
        #expect(try mode(file) == 0o600)
        #expect(
            String(decoding: try Data(contentsOf: URL(fileURLWithPath: file)), as: UTF8.self).contains("SecretsExport"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["backup.json"])  // no temp file left
    }

    @Test func exportWithNothingStoredWritesNoFile() async throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("backup.json").path
        let cluster = FakeSecretCluster()
        do {
            _ = try await exportSecrets(ctx: secretsTestContext(cluster), api: cluster, file: file, force: false)
            Issue.record("must fail")
        } catch let e as AphexError {
            #expect(e.status == .failed && e.message.contains("nothing was exported"))
        }
        #expect(!FileManager.default.fileExists(atPath: file))
    }

    @Test func exportOfAnIncompleteClusterWritesWhatExistsAndExits1() async throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("partial.json").path
        let cluster = FakeSecretCluster()
        cluster.put("auth-system", "authentik-postgresql", plain: ["postgresql-password": "pw-123456789"])
        let reporter = CollectingReporter()
        #expect(
            try await exportSecrets(
                ctx: secretsTestContext(cluster, reporter: reporter), api: cluster, file: file, force: false) == .failed
        )
        #expect(reporter.warnings.contains { $0.contains("incomplete") && $0.contains("postgresql-postgres-password") })
        let parsed = try SecretsFile.parse([UInt8](try Data(contentsOf: URL(fileURLWithPath: file))), source: file)
        #expect(
            parsed.secrets == [
                SecretID(namespace: "auth-system", name: "authentik-postgresql"): [
                    "postgresql-password": "pw-123456789"
                ]
            ])
    }

    @Test func jsonResultOfExport() async throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let cluster = try await bootstrappedCluster(environment: ["CLOUDFLARE_API_TOKEN": "cf-token-abcdefgh"])
        let file = dir.appendingPathComponent("b.json").path
        let out = BufferWriter()
        #expect(
            try await exportSecrets(
                ctx: secretsTestContext(cluster, output: out, format: .json), api: cluster, file: file, force: false)
                == .ok)
        let doc = try JSON.parse(out.text)
        #expect(doc["file"]?.string == file && doc["mode"]?.string == "0600" && doc["keys"] == .int(13))
        #expect(doc["missing"] == .array([]))
    }
}
