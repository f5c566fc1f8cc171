import AphexCore
import KubeClient
import ClusterDrivers
import Foundation
import SecretGen
import Testing
import TestSupport
@testable import Bootstrap

/// Bytes from a counter: exact, known values (so tests can prove they never leak).
final class SequenceRandom: RandomSource, @unchecked Sendable {
    private let lock = NSLock()
    private var n: UInt32 = 0
    private(set) var produced: [String] = []
    func bytes(_ count: Int) throws -> [UInt8] {
        lock.lock()
        defer { lock.unlock() }
        n += 1
        var out = [UInt8]()
        var x = n &* 2_654_435_761
        for _ in 0..<count {
            x = x &* 1_103_515_245 &+ 12_345
            out.append(UInt8(truncatingIfNeeded: x >> 16))
        }
        produced.append(SecretEncoding.base64(out))
        produced.append(SecretEncoding.hex(out))
        return out
    }
}

/// Every value the cluster stores must appear in no argv, no reporter line, no error.
func expectNoSecretLeaks(
    _ cluster: FakeSecretCluster, reporter: CollectingReporter, extra: [String] = [],
    sourceLocation: SourceLocation = #_sourceLocation
) {
    let values = Array(cluster.allValues.values) + extra
    #expect(!values.isEmpty, sourceLocation: sourceLocation)
    for argv in cluster.argvs {
        for arg in argv {
            for v in values where v.count >= 8 {
                #expect(!arg.contains(v), "secret value in argv \(argv)", sourceLocation: sourceLocation)
                #expect(
                    !arg.contains(SecretEncoding.base64(Array(v.utf8))), "base64 secret in argv",
                    sourceLocation: sourceLocation)
            }
        }
    }
    for line in reporter.lines {
        for v in values where v.count >= 8 {
            #expect(!line.contains(v), "secret value in a log line: \(line)", sourceLocation: sourceLocation)
        }
    }
}

private let dexNS = "auth-system"

@Suite struct SecretsStepTests {
    @Test func freshClusterCreatesEachSecretWithPostAndDefersArgoCD() async throws {
        let cluster = FakeSecretCluster()
        let reporter = CollectingReporter()
        let ctx = secretsTestContext(cluster, reporter: reporter)
        let report = try await applySecrets(
            ctx: ctx, api: cluster, kubeconfig: "/tmp/kc", deployment: .kind,
            importFile: nil, dryRun: false)
        // New Secrets are created (POST, values in the body), never applied: no kubectl at all.
        #expect(cluster.argvs.isEmpty)
        let posts = cluster.requests.filter { $0.method == "POST" }
        #expect(
            posts.map(\.path) == [
                "/api/v1/namespaces/auth-system/secrets?fieldManager=aphex",
                "/api/v1/namespaces/auth-system/secrets?fieldManager=aphex",
                "/api/v1/namespaces/auth-system/secrets?fieldManager=aphex",
                "/api/v1/namespaces/tekton-pipelines/secrets?fieldManager=aphex"
            ])
        #expect(posts.allSatisfy { $0.contentType == "application/json" && $0.body?.isEmpty == false })
        #expect(report.count(.create) == 11)
        #expect(report.deferred == ["argocd/argocd-secret[oidc.dex.clientSecret]"])
        #expect(report.count(.skip) == 1)  // CLOUDFLARE_API_TOKEN unset
        #expect(reporter.warnings.contains { $0.contains("CLOUDFLARE_API_TOKEN") })
        #expect(
            report.written == [
                "auth-system/authentik-postgresql", "auth-system/authentik-secrets",
                "auth-system/dex-secrets", "tekton-pipelines/tekton-dashboard-oidc"
            ])
        #expect(report.outcome == .done)
        // Stored values follow the catalog.
        #expect(cluster.value(dexNS, "authentik-secrets", "secret-key")?.count == 68)
        #expect(cluster.value(dexNS, "authentik-secrets", "bootstrap-token")?.count == 64)
        #expect(
            cluster.value(dexNS, "dex-secrets", "authentik-client-secret")
                == cluster.value(dexNS, "dex-secrets", "client-secret"))
        #expect(
            cluster.value("tekton-pipelines", "tekton-dashboard-oidc", "client-secret")
                == cluster.value(dexNS, "dex-secrets", "tekton-client-secret"))
        let dex = try #require(cluster.object(dexNS, "dex-secrets"))
        #expect(dex.labels["app.kubernetes.io/managed-by"] == "aphex")
        #expect(dex.annotations["aphex.dev/created-at"] == "2026-09-21T14:13:20Z")
        #expect(dex.type == "Opaque")
        #expect(cluster.object("argocd", "argocd-secret") == nil)
        expectNoSecretLeaks(cluster, reporter: reporter)
    }

    @Test func argoSecretKeyIsMergePatchedAfterTheArgoCDInstall() async throws {
        let cluster = FakeSecretCluster()
        let ctx = secretsTestContext(cluster)
        _ = try await applySecrets(
            ctx: ctx, api: cluster, kubeconfig: "/tmp/kc", deployment: .kind, importFile: nil, dryRun: false)
        cluster.put("argocd", "argocd-secret", plain: ["server.secretkey": "argocd-own-key-123"])  // ArgoCD's install
        let commandsBefore = cluster.commands.count
        let report = try await applySecrets(
            ctx: ctx, api: cluster, kubeconfig: "/tmp/kc", deployment: .kind, importFile: nil, dryRun: false)
        #expect(cluster.commands.count == commandsBefore)  // no kubectl: only the patch
        let patches = cluster.requests.filter { $0.method == "PATCH" }
        #expect(patches.count == 1)
        #expect(patches[0].path == "/api/v1/namespaces/argocd/secrets/argocd-secret?fieldManager=aphex")
        #expect(patches[0].contentType == "application/merge-patch+json")
        let body = try JSON.parse(patches[0].body!)
        #expect(body["data"]?.object?.keys.sorted() == ["oidc.dex.clientSecret"])
        #expect(
            cluster.value("argocd", "argocd-secret", "oidc.dex.clientSecret")
                == cluster.value(dexNS, "dex-secrets", "argocd-client-secret"))
        #expect(cluster.value("argocd", "argocd-secret", "server.secretkey") == "argocd-own-key-123")
        #expect(report.count(.addMissingKey) == 1 && report.written == ["argocd/argocd-secret"])
    }

    @Test func threeRunsStoreIdenticalValuesAndTheLaterOnesWriteNothing() async throws {
        let cluster = FakeSecretCluster()
        let reporter = CollectingReporter()
        let ctx = secretsTestContext(
            cluster, reporter: reporter, environment: ["CLOUDFLARE_API_TOKEN": "cf-token-abcdefgh"])
        _ = try await applySecrets(
            ctx: ctx, api: cluster, kubeconfig: "/tmp/kc", deployment: .k3s, importFile: nil, dryRun: false)
        cluster.put("argocd", "argocd-secret", plain: ["server.secretkey": "k"])
        _ = try await applySecrets(
            ctx: ctx, api: cluster, kubeconfig: "/tmp/kc", deployment: .k3s, importFile: nil, dryRun: false)
        let first = cluster.allValues
        let commands = cluster.commands.count, patches = cluster.requests.filter { $0.method == "PATCH" }.count
        for _ in 0..<3 {
            let r = try await applySecrets(
                ctx: ctx, api: cluster, kubeconfig: "/tmp/kc", deployment: .k3s, importFile: nil, dryRun: false)
            #expect(r.unchanged && r.outcome == .unchanged && r.written.isEmpty)
            #expect(r.count(.keep) == 15)
            #expect(cluster.allValues == first)
        }
        #expect(cluster.commands.count == commands)
        #expect(cluster.requests.filter { $0.method == "PATCH" }.count == patches)
        #expect(first["kube-system/cloudflare-api-token[api-token]"] == "cf-token-abcdefgh")
        #expect(first["cert-manager/cloudflare-api-token[api-token]"] == "cf-token-abcdefgh")
        expectNoSecretLeaks(cluster, reporter: reporter)
    }

    @Test func killedMidApplyThenRerunCompletesAndKeepsWhatWasStored() async throws {
        let cluster = FakeSecretCluster()
        let reporter = CollectingReporter()
        let ctx = secretsTestContext(cluster, reporter: reporter)
        cluster.dieAfterCreates = 2
        do {
            _ = try await applySecrets(
                ctx: ctx, api: cluster, kubeconfig: "/tmp/kc", deployment: .kind, importFile: nil, dryRun: false)
            Issue.record("a killed kubectl must fail the step")
        } catch let e as AphexError {
            #expect(e.status == .failed)
            #expect(e.message.contains("re-run"))
            for v in cluster.allValues.values { #expect(!e.description.contains(v)) }
        }
        let partial = cluster.allValues
        #expect(
            cluster.object(dexNS, "authentik-postgresql") != nil && cluster.object(dexNS, "authentik-secrets") != nil)
        #expect(cluster.object(dexNS, "dex-secrets") == nil)
        #expect(cluster.object("tekton-pipelines", "tekton-dashboard-oidc") == nil)  // copy never before its source

        let report = try await applySecrets(
            ctx: ctx, api: cluster, kubeconfig: "/tmp/kc", deployment: .kind, importFile: nil, dryRun: false)
        #expect(report.count(.keep) == 5 && report.count(.create) == 6)
        for (k, v) in partial { #expect(cluster.allValues[k] == v, "\(k) changed on re-run") }
        #expect(
            SecretsHealth.assess(
                deployment: "kind",
                existing: try await readStoredSecrets(
                    api: cluster, ids: SecretCatalog.platform.secrets(for: "kind").map(\.id))
            )
            .missingKeys == ["argocd/argocd-secret[oidc.dex.clientSecret]"])
        expectNoSecretLeaks(cluster, reporter: reporter)
    }

    @Test func killedBetweenApplyAndPatchThenRerunPatches() async throws {
        let cluster = FakeSecretCluster()
        cluster.put("argocd", "argocd-secret", plain: ["server.secretkey": "k"])
        let ctx = secretsTestContext(cluster)
        cluster.failNextPatch = true
        await #expect(throws: AphexError.self) {
            _ = try await applySecrets(
                ctx: ctx, api: cluster, kubeconfig: "/tmp/kc", deployment: .kind, importFile: nil, dryRun: false)
        }
        let stored = cluster.allValues
        #expect(cluster.value("argocd", "argocd-secret", "oidc.dex.clientSecret") == nil)
        _ = try await applySecrets(
            ctx: ctx, api: cluster, kubeconfig: "/tmp/kc", deployment: .kind, importFile: nil, dryRun: false)
        #expect(
            cluster.value("argocd", "argocd-secret", "oidc.dex.clientSecret")
                == stored["auth-system/dex-secrets[argocd-client-secret]"])
        for (k, v) in stored { #expect(cluster.allValues[k] == v) }
    }

    @Test func dryRunTouchesNothingAndShowsNamesOnly() async throws {
        let cluster = FakeSecretCluster()
        let reporter = CollectingReporter()
        let random = SequenceRandom()
        let ctx = secretsTestContext(cluster, reporter: reporter)
        let report = try await applySecrets(
            ctx: ctx, api: cluster, kubeconfig: "/tmp/kc", deployment: .kind, importFile: nil,
            dryRun: true, generator: SecretGenerator(random: random))
        #expect(cluster.commands.isEmpty)
        #expect(cluster.requests.allSatisfy { $0.method == "GET" })
        #expect(cluster.allValues.isEmpty)
        #expect(report.dryRun && report.outcome == .planned && report.count(.create) == 11)
        #expect(
            report.summary
                == "would create 11 keys, 1 deferred until argocd/argocd-secret exists, skipped 1 (optional, not set)")
        #expect(reporter.lines.contains("info: plan: create auth-system/dex-secrets[client-secret] (generated)"))
        let text =
            AppContext.json(SecretsRepairOutput(report: report, dryRun: report.dryRun), pretty: false)
            + reporter.lines.joined(separator: "\n")
        #expect(!random.produced.isEmpty)
        for v in random.produced { #expect(!text.contains(v)) }
    }

    @Test func contextIsPassedToKubectl() async throws {
        let cluster = FakeSecretCluster()
        // An existing Secret missing a key: the key is added with a server-side apply.
        cluster.put(dexNS, "dex-secrets", plain: ["client-secret": "stored-client-secret-1"])
        let ctx = secretsTestContext(cluster, context: "kind-lab")
        _ = try await applySecrets(
            ctx: ctx, api: cluster, kubeconfig: "/home/u/.kube/config", deployment: .kind, importFile: nil,
            dryRun: false)
        #expect(
            cluster.argvs == [
                [
                    "kubectl", "--kubeconfig", "/home/u/.kube/config", "--context", "kind-lab", "apply",
                    "--server-side",
                    "--field-manager=aphex", "-f", "-"
                ]
            ])
    }

    @Test func malformedImportFileIsExit2AndNothingIsWritten() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("aphex-secrets-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let cases = [
            "{not json",
            #"{"apiVersion":"aphex.dev/v1","kind":"SecretsExport","secrets":[{"name":"dex-secrets","data":{}}]}"#
        ]
        for (i, text) in cases.enumerated() {
            let path = dir.appendingPathComponent("bad\(i).json").path
            FileManager.default.createFile(
                atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
            let cluster = FakeSecretCluster()
            do {
                _ = try await applySecrets(
                    ctx: secretsTestContext(cluster), api: cluster, kubeconfig: "/tmp/kc", deployment: .kind,
                    importFile: path, dryRun: false)
                Issue.record("a malformed import file must fail")
            } catch let e as AphexError {
                #expect(e.status == .usage)
                #expect(e.message.contains(path) && e.message.contains("Nothing was written"))
            }
            #expect(cluster.commands.isEmpty && cluster.requests.isEmpty)
        }
        // A missing file too.
        let cluster = FakeSecretCluster()
        await #expect(
            throws: AphexError(
                .usage,
                """
                The secrets file '\(dir.path)/none.json' does not exist or is not readable. Pass a file written \
                by `aphex secrets export --file FILE`, or drop --secrets-from to generate new credentials. \
                Nothing was written to the cluster.
                """
            )
        ) {
            _ = try await applySecrets(
                ctx: secretsTestContext(cluster), api: cluster, kubeconfig: "/tmp/kc", deployment: .kind,
                importFile: dir.path + "/none.json", dryRun: false)
        }
    }

    @Test func exportThenImportRebuildsWithTheSameCredentials() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("aphex-secrets-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let old = FakeSecretCluster()
        old.put("argocd", "argocd-secret", plain: ["server.secretkey": "k"])
        let env = ["CLOUDFLARE_API_TOKEN": "cf-token-abcdefgh"]
        _ = try await applySecrets(
            ctx: secretsTestContext(old, environment: env), api: old, kubeconfig: "/tmp/kc", deployment: .kind,
            importFile: nil, dryRun: false)
        let file = dir.appendingPathComponent("backup.json").path
        #expect(try await exportSecrets(ctx: secretsTestContext(old), api: old, file: file, force: false) == .ok)

        // A new cluster, no CLOUDFLARE_API_TOKEN in the environment: the file supplies it.
        let new = FakeSecretCluster()
        let reporter = CollectingReporter()
        let report = try await applySecrets(
            ctx: secretsTestContext(new, reporter: reporter), api: new, kubeconfig: "/tmp/kc",
            deployment: .kind, importFile: file, dryRun: false)
        #expect(report.entries.filter { $0.origin == .imported }.count == 10)  // 9 random keys + the Cloudflare token
        new.put("argocd", "argocd-secret", plain: ["server.secretkey": "other"])
        _ = try await applySecrets(
            ctx: secretsTestContext(new), api: new, kubeconfig: "/tmp/kc", deployment: .kind, importFile: file,
            dryRun: false)
        var expected = old.allValues
        expected["argocd/argocd-secret[server.secretkey]"] = "other"
        #expect(new.allValues == expected)
        #expect(reporter.warnings.isEmpty, "\(reporter.warnings)")
        expectNoSecretLeaks(new, reporter: reporter)
    }

    @Test func cloudflareTokenFileOverridesTheEnvironment() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("cf-\(UUID().uuidString)").path
        FileManager.default.createFile(
            atPath: path, contents: Data("token-from-file-xyz\n".utf8), attributes: [.posixPermissions: 0o600])
        defer { try? FileManager.default.removeItem(atPath: path) }
        let cluster = FakeSecretCluster()
        let reporter = CollectingReporter()
        _ = try await applySecrets(
            ctx: secretsTestContext(
                cluster, reporter: reporter, environment: ["CLOUDFLARE_API_TOKEN": "env-token-abc"]),
            api: cluster, kubeconfig: "/tmp/kc", deployment: .kind, importFile: nil, dryRun: false,
            cloudflareTokenFile: path)
        #expect(cluster.value("platform-system", "cloudflare-api-token", "token") == "token-from-file-xyz")
        expectNoSecretLeaks(cluster, reporter: reporter)
    }

    /// One reader for --cloudflare-token-file (the command line's check, bootstrap and the
    /// secrets commands): the token on one line, trimmed; missing, unreadable, empty or
    /// multi-line files are usage errors naming the file.
    @Test func cloudflareTokenFileRules() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cf-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func file(_ name: String, _ text: String, mode: Int = 0o600) -> String {
            let path = dir + "/" + name
            FileManager.default.createFile(
                atPath: path, contents: Data(text.utf8),
                attributes: [.posixPermissions: mode])
            return path
        }
        #expect(try readCloudflareTokenFile(file("ok", "  tok-123 \n")) == "tok-123")
        #expect(try readCloudflareTokenFile(file("blank-first", "\ntok-456\n\n")) == "tok-456")
        let oneLine = "must hold the token on one line"
        for (path, says) in [
            (file("empty", ""), oneLine), (file("spaces", "   \n"), oneLine),
            (file("two-lines", "tok-123\nsecond line\n"), oneLine),
            (dir + "/missing", "does not exist or is not readable"),
            (
                "~/.aphex-test-no-such-token-\(UUID().uuidString)",
                "does not exist or is not readable"
            )
        ] {
            let error = #expect(throws: AphexError.self) { try readCloudflareTokenFile(path) }
            #expect(error?.status == .usage)
            #expect(error?.message.contains("'\(path)' \(says)") == true, "\(error?.message ?? "")")
        }
        if geteuid() != 0 {
            let unreadable = file("unreadable", "tok\n", mode: 0o000)
            #expect(throws: AphexError.self) { try readCloudflareTokenFile(unreadable) }
        }
    }

    @Test func derivedMismatchIsReportedThenRepaired() async throws {
        let cluster = FakeSecretCluster()
        let ctx = secretsTestContext(cluster)
        cluster.put("argocd", "argocd-secret", plain: ["server.secretkey": "k"])
        _ = try await applySecrets(
            ctx: ctx, api: cluster, kubeconfig: "/tmp/kc", deployment: .kind, importFile: nil, dryRun: false)
        // Someone rotates ArgoCD's copy by hand (the shell scripts did this on every run).
        cluster.put(
            "argocd", "argocd-secret", plain: ["server.secretkey": "k", "oidc.dex.clientSecret": "stale-value-123"])
        let reporter = CollectingReporter()
        let report = try await applySecrets(
            ctx: secretsTestContext(cluster, reporter: reporter), api: cluster, kubeconfig: "/tmp/kc",
            deployment: .kind, importFile: nil, dryRun: false)
        #expect(report.count(.derivedMismatch) == 1 && report.written.isEmpty)
        #expect(reporter.warnings.contains { $0.contains("aphex secrets repair") })
        #expect(cluster.value("argocd", "argocd-secret", "oidc.dex.clientSecret") == "stale-value-123")
        let health = try await secretsHealth(api: cluster, deployment: .kind)
        #expect(health.derivedMismatches == ["argocd/argocd-secret[oidc.dex.clientSecret]"] && !health.ok)

        // Dry-run repair changes nothing.
        let dry = try await repairSecrets(ctx: ctx, api: cluster, kubeconfig: "/tmp/kc", dryRun: true)
        #expect(
            dry.count(.repair) == 1
                && cluster.value("argocd", "argocd-secret", "oidc.dex.clientSecret") == "stale-value-123")
        let fixed = try await repairSecrets(ctx: ctx, api: cluster, kubeconfig: "/tmp/kc", dryRun: false)
        #expect(fixed.written == ["argocd/argocd-secret"])
        #expect(
            cluster.value("argocd", "argocd-secret", "oidc.dex.clientSecret")
                == cluster.value(dexNS, "dex-secrets", "argocd-client-secret"))
        #expect(try await secretsHealth(api: cluster, deployment: .kind).ok)
    }

    @Test func repairOfASameSecretCopyUsesForceConflicts() async throws {
        let cluster = FakeSecretCluster()
        let ctx = secretsTestContext(cluster)
        _ = try await applySecrets(
            ctx: ctx, api: cluster, kubeconfig: "/tmp/kc", deployment: .kind, importFile: nil, dryRun: false)
        var dex = cluster.allValues.filter { $0.key.hasPrefix("auth-system/dex-secrets[") }
            .reduce(into: [String: String]()) {
                $0[String($1.key.dropFirst("auth-system/dex-secrets[".count).dropLast())] = $1.value
            }
        let source = dex["client-secret"]!
        dex["authentik-client-secret"] = "edited-by-hand-1"
        cluster.put(dexNS, "dex-secrets", plain: dex)
        let n = cluster.commands.count
        _ = try await repairSecrets(ctx: ctx, api: cluster, kubeconfig: "/tmp/kc", dryRun: false)
        #expect(
            cluster.argvs.dropFirst(n).first == [
                "kubectl", "--kubeconfig", "/tmp/kc", "apply", "--server-side", "--force-conflicts",
                "--field-manager=aphex", "-f", "-"
            ])
        #expect(cluster.value(dexNS, "dex-secrets", "authentik-client-secret") == source)
        #expect(cluster.value(dexNS, "dex-secrets", "client-secret") == source)
    }

    @Test func createFailureIsReportedWithoutValues() async throws {
        let cluster = FakeSecretCluster()
        cluster.namespaces.remove("tekton-pipelines")
        let random = SequenceRandom()
        do {
            _ = try await applySecrets(
                ctx: secretsTestContext(cluster), api: cluster, kubeconfig: "/tmp/kc", deployment: .kind,
                importFile: nil, dryRun: false, generator: SecretGenerator(random: random))
            Issue.record("must fail")
        } catch let e as AphexError {
            #expect(e.status == .failed)
            #expect(e.message.contains("Creating Secret tekton-pipelines/tekton-dashboard-oidc failed (HTTP 404)"))
            #expect(e.message.contains("namespaces \"tekton-pipelines\" not found"))
            for v in random.produced { #expect(!e.description.contains(v)) }
        }
    }

    @Test func kubectlFailureIsReportedWithoutValues() async throws {
        let cluster = FakeSecretCluster()
        cluster.put(dexNS, "dex-secrets", plain: ["client-secret": "stored-client-secret-1"])
        cluster.dieAfterDocuments = 0
        let random = SequenceRandom()
        do {
            _ = try await applySecrets(
                ctx: secretsTestContext(cluster), api: cluster, kubeconfig: "/tmp/kc", deployment: .kind,
                importFile: nil, dryRun: false, generator: SecretGenerator(random: random))
            Issue.record("must fail")
        } catch let e as AphexError {
            #expect(e.status == .failed)
            #expect(e.message.contains("Storing the Secrets auth-system/dex-secrets failed"))
            #expect(e.detail?.contains("kubectl --kubeconfig /tmp/kc apply --server-side") == true)
            for v in random.produced { #expect(!e.description.contains(v)) }
        }
    }

    /// Issue 14.3: two runs at once. The other run stores dex-secrets between this run's read
    /// and its create: this run must keep (and copy) the other run's values, never replace them.
    @Test func secretStoredByAnotherRunFirstIsKeptNotReplaced() async throws {
        let cluster = FakeSecretCluster()
        let reporter = CollectingReporter()
        let theirs = [
            "client-secret": "their-client-secret-1", "authentik-client-secret": "their-client-secret-1",
            "argocd-client-secret": "their-argocd-secret-1", "tekton-client-secret": "their-tekton-secret-1",
            "kubernetes-client-secret": "their-kube-secret-1"
        ]
        cluster.beforeCreate["auth-system/dex-secrets"] = { c in c.put(dexNS, "dex-secrets", plain: theirs) }
        let report = try await applySecrets(
            ctx: secretsTestContext(cluster, reporter: reporter), api: cluster, kubeconfig: "/tmp/kc",
            deployment: .kind, importFile: nil, dryRun: false)
        #expect(cluster.conflicts == 1)
        for (k, v) in theirs { #expect(cluster.value(dexNS, "dex-secrets", k) == v, "\(k) was replaced") }
        // The copy made after the race copies THEIR stored value.
        #expect(cluster.value("tekton-pipelines", "tekton-dashboard-oidc", "client-secret") == "their-tekton-secret-1")
        #expect(
            report.written.contains("tekton-pipelines/tekton-dashboard-oidc")
                && !report.written.contains("auth-system/dex-secrets"))
        #expect(report.warnings.contains { $0.contains("Another run stored auth-system/dex-secrets") })
        // Nothing was ever applied over a Secret that exists.
        #expect(cluster.argvs.isEmpty)
        let health = try await secretsHealth(api: cluster, deployment: .kind)
        #expect(health.derivedMismatches.isEmpty)
        expectNoSecretLeaks(cluster, reporter: reporter)
    }

    @Test func redactRemovesPlainAndBase64Values() {
        let text = "bad value c2VjcmV0LXZhbHVl and secret-value here"
        #expect(redact(text, values: ["secret-value"]) == "bad value [redacted] and [redacted] here")
    }

    /// Item 10 of issue 14: before, values under 4 characters were skipped and shown as they were.
    @Test func shortValuesWithholdTheWholeText() {
        let withheld = "[details withheld: they contain a secret value too short to cut out]"
        #expect(redact("Error from server: data[token]=\"x7\" is invalid", values: ["x7"]) == withheld)
        #expect(redact("invalid: eDc= in the patch", values: ["x7"]) == withheld)  // its base64 form
        #expect(redact("no trace of it here", values: ["x7"]) == "no trace of it here")
        #expect(redact("long secret-value and x7", values: ["secret-value", "x7"]) == withheld)
        #expect(redact("long secret-value only", values: ["secret-value", "x7", ""]) == "long [redacted] only")
    }

    @Test func importedValuesMustHaveTheCatalogShape() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("aphex-secrets-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let truncated = String(SecretEncoding.base64(Array(repeating: 7, count: 32)).dropLast(3))
        let text =
            #"""
            {"apiVersion":"aphex.dev/v1","kind":"SecretsExport","secrets":[{"namespace":"auth-system",\#
            "name":"dex-secrets","data":{"client-secret":"\#(truncated)"}}]}
            """#
        let path = dir.appendingPathComponent("backup.json").path
        FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
        let cluster = FakeSecretCluster()
        let e = await #expect(throws: AphexError.self) {
            _ = try await applySecrets(
                ctx: secretsTestContext(cluster), api: cluster, kubeconfig: "/tmp/kc", deployment: .kind,
                importFile: path, dryRun: false)
        }
        #expect(e?.status == .usage)
        #expect(
            e?.message.contains("auth-system/dex-secrets[client-secret] has 41 characters, expected 44") == true,
            "\(e?.message ?? "")")
        #expect(e?.message.contains(truncated) == false)
        #expect(cluster.commands.isEmpty && cluster.requests.isEmpty)
    }
}
