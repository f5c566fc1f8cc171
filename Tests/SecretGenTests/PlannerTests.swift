import Foundation
import Testing
@testable import SecretGen
import AphexCore

private let pg = SecretID(namespace: "auth-system", name: "authentik-postgresql")
private let ak = SecretID(namespace: "auth-system", name: "authentik-secrets")
private let dex = SecretID(namespace: "auth-system", name: "dex-secrets")
private let argo = SecretID(namespace: "argocd", name: "argocd-secret")
private let tekton = SecretID(namespace: "tekton-pipelines", name: "tekton-dashboard-oidc")
private let cfPlatform = SecretID(namespace: "platform-system", name: "cloudflare-api-token")
private let cfCertManager = SecretID(namespace: "cert-manager", name: "cloudflare-api-token")
private let cfKubeSystem = SecretID(namespace: "kube-system", name: "cloudflare-api-token")

/// The cluster after a complete first run (what a plan's writes would leave), for re-run cases.
private func applied(_ plan: SecretPlan, onto existing: [SecretID: StoredSecret]) -> [SecretID: StoredSecret] {
    var out = existing
    for w in plan.writes {
        var s = out[w.id] ?? StoredSecret(data: [:], annotations: [SecretAnnotations.createdAt: "t0"])
        for (k, v) in w.data { s.data[k] = v }
        out[w.id] = s
    }
    return out
}

@Suite struct CatalogTests {
    @Test func platformCatalogIsSound() {
        #expect(SecretCatalog.platform.problems() == [])
    }

    @Test func catalogMatchesPlatformFacts() throws {
        let c = SecretCatalog.platform
        #expect(c.keySpec(KeyRef(ak, "secret-key"))?.source == .random(bytes: 50, encoding: .base64))
        #expect(c.keySpec(KeyRef(ak, "bootstrap-token"))?.source == .random(bytes: 32, encoding: .hex))
        #expect(c.keySpec(KeyRef(dex, "authentik-client-secret"))?.source == .sameAs(key: "client-secret"))
        #expect(
            c.keySpec(KeyRef(argo, "oidc.dex.clientSecret"))?.source
                == .derivedFrom(KeyRef(dex, "argocd-client-secret")))
        #expect(c.keySpec(KeyRef(tekton, "client-secret"))?.source == .derivedFrom(KeyRef(dex, "tekton-client-secret")))
        #expect(c.spec(argo)?.ownership == .mergeKeys)
        #expect(c.secrets(for: "kind").map(\.id).contains(cfCertManager) == false)
        #expect(c.secrets(for: "k3s").map(\.id).contains(cfCertManager))
        #expect(c.secrets(for: "k3s").map(\.id).contains(cfKubeSystem))
        #expect(c.displayNames.contains("argocd-admin-password"))
        #expect(c.displayNames.contains("authentik-admin-user"))
        #expect(envVariableName("authentik-bootstrap-token") == "AUTHENTIK_BOOTSTRAP_TOKEN")
    }

    @Test func problemsCatchesBrokenForks() {
        var c = SecretCatalog.platform
        c.secrets[0].keys.append(KeySpec("x", .derivedFrom(KeyRef(dex, "nope")), consumer: "", displayName: "x"))
        c.secrets[0].keys.append(
            KeySpec("y", .random(bytes: 4, encoding: .hex), consumer: "", displayName: "postgresql-password"))
        let p = c.problems()
        #expect(p.contains { $0.contains("not in the catalog") })
        #expect(p.contains { $0.contains("too few") })
        #expect(p.contains { $0.contains("used twice") })
    }
}

@Suite struct PlannerTests {
    @Test func nothingExistsCreatesEverythingWithCopiesEqualToSources() throws {
        let plan = try planSecrets(
            SecretsPlanInput(
                deployment: "kind", existing: [:],
                environment: ["CLOUDFLARE_API_TOKEN": "cf-token-1"]))
        let v = plan.values
        #expect(plan.decision(KeyRef(pg, "postgresql-password"))?.action == .create)
        #expect(plan.decision(KeyRef(pg, "postgresql-password"))?.origin == .generated)
        #expect(v[KeyRef(dex, "authentik-client-secret")] == v[KeyRef(dex, "client-secret")])
        #expect(v[KeyRef(tekton, "client-secret")] == v[KeyRef(dex, "tekton-client-secret")])
        #expect(v[KeyRef(ak, "secret-key")]?.count == 68)
        #expect(v[KeyRef(ak, "bootstrap-token")]?.count == 64)
        #expect(v[KeyRef(cfPlatform, "token")] == "cf-token-1")
        // argocd-secret does not exist before ArgoCD is installed: deferred, not created.
        #expect(plan.decision(KeyRef(argo, "oidc.dex.clientSecret"))?.action == .deferred)
        #expect(!plan.writes.contains { $0.id == argo })
        // kind has no k3s-only secrets.
        #expect(!plan.decisions.contains { $0.ref.secret == cfCertManager })
        // Sources are written before their copies.
        let order = plan.writes.map(\.id)
        #expect(order.firstIndex(of: dex)! < order.firstIndex(of: tekton)!)
        #expect(plan.writes.allSatisfy { $0.method == .serverSideApply && !$0.exists })
        // Distinct keys got distinct values.
        let originals = plan.decisions.filter { $0.origin == .generated }.compactMap { v[$0.ref] }
        #expect(Set(originals).count == originals.count && originals.count == 9)
    }

    @Test func argoSecretGetsAMergePatchOnceItExists() throws {
        let first = try planSecrets(SecretsPlanInput(deployment: "kind", existing: [:]))
        var cluster = applied(first, onto: [:])
        cluster[argo] = StoredSecret(data: ["server.secretkey": "argo-own"])
        let second = try planSecrets(SecretsPlanInput(deployment: "kind", existing: cluster))
        #expect(second.writes.count == 1)
        let w = try #require(second.writes.first)
        #expect(w.id == argo && w.method == .mergePatch && w.exists)
        // Only the added key, the ArgoCD-owned keys are not sent.
        #expect(w.data == ["oidc.dex.clientSecret": first.values[KeyRef(dex, "argocd-client-secret")]!])
        #expect(second.decision(KeyRef(argo, "oidc.dex.clientSecret"))?.action == .addMissingKey)
    }

    @Test func allExistIsANoOpAndKeepsEveryValue() throws {
        let first = try planSecrets(
            SecretsPlanInput(
                deployment: "k3s", existing: [:],
                environment: ["CLOUDFLARE_API_TOKEN": "tok"]))
        var cluster = applied(first, onto: [:])
        cluster[argo] = StoredSecret(data: ["oidc.dex.clientSecret": first.values[KeyRef(dex, "argocd-client-secret")]!]
        )
        for _ in 0..<3 {
            let again = try planSecrets(
                SecretsPlanInput(
                    deployment: "k3s", existing: cluster,
                    environment: ["CLOUDFLARE_API_TOKEN": "tok"]))
            #expect(again.writes.isEmpty)
            #expect(again.decisions.allSatisfy { $0.action == .keep })
            #expect(again.warnings.isEmpty)
            for (ref, value) in first.values { #expect(again.values[ref] == value) }
        }
    }

    @Test func someKeysMissingAddsOnlyThoseAndResendsStoredOnesUnchanged() throws {
        let cluster: [SecretID: StoredSecret] = [
            ak: StoredSecret(
                data: ["secret-key": "SK", "admin-password": "AP"],
                annotations: [SecretAnnotations.createdAt: "2026-01-01T00:00:00Z"])
        ]
        let plan = try planSecrets(SecretsPlanInput(deployment: "kind", existing: cluster))
        #expect(plan.decision(KeyRef(ak, "secret-key"))?.action == .keep)
        #expect(plan.decision(KeyRef(ak, "bootstrap-token"))?.action == .addMissingKey)
        let w = try #require(plan.writes.first { $0.id == ak })
        #expect(w.exists && w.changedKeys == ["bootstrap-token"])
        #expect(w.data["secret-key"] == "SK" && w.data["admin-password"] == "AP")
        #expect(w.data["bootstrap-token"]?.count == 64)
        #expect(w.createdAt == "2026-01-01T00:00:00Z")
        #expect(plan.decision(KeyRef(pg, "postgresql-password"))?.action == .create)
    }

    @Test func copyUsesTheStoredSourceNeverANewValue() throws {
        let cluster: [SecretID: StoredSecret] = [
            dex: StoredSecret(data: [
                "client-secret": "C", "authentik-client-secret": "C", "argocd-client-secret": "A",
                "tekton-client-secret": "T", "kubernetes-client-secret": "K"
            ]),
            argo: StoredSecret(data: ["server.secretkey": "x"])
        ]
        let plan = try planSecrets(SecretsPlanInput(deployment: "kind", existing: cluster))
        #expect(plan.values[KeyRef(tekton, "client-secret")] == "T")
        #expect(plan.writes.first { $0.id == argo }?.data == ["oidc.dex.clientSecret": "A"])
        #expect(plan.decision(KeyRef(tekton, "client-secret"))?.origin == .copied)
    }

    @Test func derivedMismatchIsReportedNotFixed() throws {
        let cluster: [SecretID: StoredSecret] = [
            dex: StoredSecret(data: [
                "client-secret": "C", "authentik-client-secret": "OTHER", "argocd-client-secret": "A",
                "tekton-client-secret": "T", "kubernetes-client-secret": "K"
            ]),
            argo: StoredSecret(data: ["oidc.dex.clientSecret": "STALE"]),
            tekton: StoredSecret(data: ["client-secret": "T"])
        ]
        let plan = try planSecrets(SecretsPlanInput(deployment: "kind", existing: cluster))
        #expect(plan.decision(KeyRef(argo, "oidc.dex.clientSecret"))?.action == .derivedMismatch)
        #expect(plan.decision(KeyRef(dex, "authentik-client-secret"))?.action == .derivedMismatch)
        #expect(plan.decision(KeyRef(tekton, "client-secret"))?.action == .keep)
        #expect(!plan.writes.contains { $0.id == argo || $0.id == dex || $0.id == tekton })
        #expect(plan.warnings.contains { $0.contains("secrets repair") && $0.contains("argocd-secret") })
        #expect(!plan.warnings.joined().contains("STALE"))

        let h = SecretsHealth.assess(deployment: "kind", existing: cluster)
        #expect(
            h.derivedMismatches.sorted() == [
                "argocd/argocd-secret[oidc.dex.clientSecret]", "auth-system/dex-secrets[authentik-client-secret]"
            ])
        #expect(!h.ok)
    }

    @Test func repairCopiesSourcesIntoCopiesOnly() throws {
        let cluster: [SecretID: StoredSecret] = [
            dex: StoredSecret(data: [
                "client-secret": "C", "authentik-client-secret": "OTHER", "argocd-client-secret": "A",
                "tekton-client-secret": "T", "kubernetes-client-secret": "K"
            ]),
            argo: StoredSecret(data: ["oidc.dex.clientSecret": "STALE", "server.secretkey": "s"]),
            tekton: StoredSecret(data: ["client-secret": "T"])
        ]
        let plan = planRepair(deployment: "kind", existing: cluster)
        #expect(plan.decision(KeyRef(argo, "oidc.dex.clientSecret"))?.action == .repair)
        #expect(plan.decision(KeyRef(dex, "authentik-client-secret"))?.action == .repair)
        let argoWrite = try #require(plan.writes.first { $0.id == argo })
        #expect(argoWrite.method == .mergePatch && argoWrite.data == ["oidc.dex.clientSecret": "A"])
        let dexWrite = try #require(plan.writes.first { $0.id == dex })
        #expect(dexWrite.changedKeys == ["authentik-client-secret"])
        #expect(dexWrite.data["authentik-client-secret"] == "C" && dexWrite.data["client-secret"] == "C")
        #expect(dexWrite.forceConflicts)
        #expect(!plan.writes.contains { $0.id == tekton || $0.id == pg })
        #expect(plan.decision(KeyRef(pg, "postgresql-password"))?.action == .missing)
        // After repair the health is clean for the copies.
        let after = applied(plan, onto: cluster)
        #expect(SecretsHealth.assess(deployment: "kind", existing: after).derivedMismatches.isEmpty)
    }

    @Test func missingSourceAdoptsItsStoredCopy() throws {
        // dex-secrets lost its argocd key but ArgoCD still has the value: keep them agreeing.
        let cluster: [SecretID: StoredSecret] = [
            dex: StoredSecret(data: [
                "client-secret": "C", "authentik-client-secret": "C",
                "tekton-client-secret": "T", "kubernetes-client-secret": "K"
            ]),
            argo: StoredSecret(data: ["oidc.dex.clientSecret": "A-STORED"])
        ]
        let plan = try planSecrets(SecretsPlanInput(deployment: "kind", existing: cluster))
        #expect(plan.values[KeyRef(dex, "argocd-client-secret")] == "A-STORED")
        #expect(plan.decision(KeyRef(dex, "argocd-client-secret"))?.origin == .adopted)
        #expect(plan.decision(KeyRef(argo, "oidc.dex.clientSecret"))?.action == .keep)
    }

    @Test func importFillsMissingKeysGeneratesTheRestAndWarnsOnExtras() throws {
        let file = SecretsFile(secrets: [
            pg: ["postgresql-password": "PG-IMPORTED", "unknown-key": "zzz"],
            dex: ["argocd-client-secret": "A-IMP", "client-secret": "C-IMP", "authentik-client-secret": "C-IMP"],
            tekton: ["client-secret": "NOT-T"],
            SecretID(namespace: "x", name: "not-in-catalog"): ["k": "v"]
        ])
        let plan = try planSecrets(SecretsPlanInput(deployment: "kind", existing: [:], imported: file))
        #expect(plan.values[KeyRef(pg, "postgresql-password")] == "PG-IMPORTED")
        #expect(plan.decision(KeyRef(pg, "postgresql-password"))?.origin == .imported)
        // Missing from the file: generated.
        #expect(plan.decision(KeyRef(pg, "postgresql-postgres-password"))?.origin == .generated)
        #expect(plan.values[KeyRef(dex, "client-secret")] == "C-IMP")
        #expect(plan.values[KeyRef(dex, "authentik-client-secret")] == "C-IMP")
        // A copy always equals its (generated) source; the file's different copy is ignored.
        #expect(plan.values[KeyRef(tekton, "client-secret")] == plan.values[KeyRef(dex, "tekton-client-secret")])
        #expect(plan.warnings.contains { $0.contains("unknown-key") && $0.contains("ignored") })
        #expect(plan.warnings.contains { $0.contains("x/not-in-catalog") })
        #expect(plan.warnings.contains { $0.contains("tekton-dashboard-oidc") && $0.contains("source") })
        #expect(!plan.warnings.joined().contains("zzz") && !plan.warnings.joined().contains("NOT-T"))
    }

    @Test func storedValueWinsOverADifferentImportedOne() throws {
        let cluster: [SecretID: StoredSecret] = [
            pg: StoredSecret(data: ["postgresql-password": "STORED", "postgresql-postgres-password": "S2"])
        ]
        let file = SecretsFile(secrets: [pg: ["postgresql-password": "FROM-FILE", "postgresql-postgres-password": "S2"]]
        )
        let plan = try planSecrets(SecretsPlanInput(deployment: "kind", existing: cluster, imported: file))
        #expect(plan.values[KeyRef(pg, "postgresql-password")] == "STORED")
        #expect(plan.decision(KeyRef(pg, "postgresql-password"))?.action == .keep)
        #expect(plan.warnings.filter { $0.contains("stored value is kept") }.count == 1)
        #expect(!plan.writes.contains { $0.id == pg })
    }

    @Test func optionalEnvironmentMissingIsSkippedWithAWarningNamingTheEffect() throws {
        let plan = try planSecrets(SecretsPlanInput(deployment: "k3s", existing: [:], environment: [:]))
        for id in [cfPlatform, cfCertManager, cfKubeSystem] {
            #expect(plan.decisions.first { $0.ref.secret == id }?.action == .skip)
            #expect(!plan.writes.contains { $0.id == id })
        }
        #expect(
            plan.warnings.contains { $0.contains("CLOUDFLARE_API_TOKEN") && $0.contains("organization controller") })
        #expect(plan.warnings.contains { $0.contains("external-dns") })
        // Empty is as good as unset.
        let empty = try planSecrets(
            SecretsPlanInput(deployment: "kind", existing: [:], environment: ["CLOUDFLARE_API_TOKEN": ""]))
        #expect(empty.decision(KeyRef(cfPlatform, "token"))?.action == .skip)
        // The import file can supply it when the environment does not.
        let imported = try planSecrets(
            SecretsPlanInput(
                deployment: "kind", existing: [:],
                imported: SecretsFile(secrets: [cfPlatform: ["token": "T-FILE"]])))
        #expect(imported.values[KeyRef(cfPlatform, "token")] == "T-FILE")
    }

    @Test func environmentDifferingFromStoredKeepsStoredAndWarns() throws {
        let cluster = [cfPlatform: StoredSecret(data: ["token": "OLD"])]
        let plan = try planSecrets(
            SecretsPlanInput(deployment: "kind", existing: cluster, environment: ["CLOUDFLARE_API_TOKEN": "NEW"]))
        #expect(plan.decision(KeyRef(cfPlatform, "token"))?.action == .keep)
        #expect(plan.values[KeyRef(cfPlatform, "token")] == "OLD")
        #expect(
            plan.warnings.contains {
                $0.contains("CLOUDFLARE_API_TOKEN differs") && !$0.contains("NEW") && !$0.contains("OLD")
            })
    }

    @Test func deterministicSourceGivesExactValues() throws {
        let r = CountingRandom()
        let plan = try planSecrets(
            SecretsPlanInput(deployment: "kind", existing: [:]), generator: SecretGenerator(random: r))
        #expect(r.calls == [32, 32, 50, 32, 32, 32, 32, 32, 32])
        #expect(
            plan.values[KeyRef(pg, "postgresql-password")] == SecretEncoding.base64([UInt8](repeating: 1, count: 32)))
        #expect(plan.values[KeyRef(ak, "bootstrap-token")] == String(repeating: "05", count: 32))
    }

    @Test func healthOfAFreshClusterAndOfACompleteOne() throws {
        let none = SecretsHealth.assess(deployment: "kind", existing: [:])
        #expect(none.missingSecrets.contains("auth-system/dex-secrets"))
        #expect(none.missingKeys.contains("argocd/argocd-secret[oidc.dex.clientSecret]"))
        #expect(none.optionalAbsent == ["platform-system/cloudflare-api-token[token]"])
        #expect(!none.ok)

        let plan = try planSecrets(SecretsPlanInput(deployment: "kind", existing: [:]))
        var cluster = applied(plan, onto: [:])
        cluster[argo] = StoredSecret(data: ["oidc.dex.clientSecret": plan.values[KeyRef(dex, "argocd-client-secret")]!])
        let h = SecretsHealth.assess(deployment: "kind", existing: cluster)
        #expect(h.ok, "\(h)")
        #expect(h.present.count == 5)
        // Unknown deployment: k3s-only secrets are judged only when present.
        #expect(SecretsHealth.assess(deployment: nil, existing: cluster).ok)
    }
}

@Suite struct SecretsFileTests {
    @Test func roundTrips() throws {
        let f = SecretsFile(
            exportedAt: "2026-11-24T00:00:00Z",
            secrets: [
                pg: ["postgresql-password": "a/b+c="], cfPlatform: ["token": "t"], cfKubeSystem: ["api-token": "t"]
            ])
        let text = f.render()
        #expect(text.contains("\"a/b+c=\""))
        #expect(try SecretsFile.parse(Array(text.utf8), source: "f") == f)
    }

    /// Item 6 of issue 14 for --secrets-from: JSON has no aliases, but size and nesting are
    /// bounded before the JSON parser runs.
    @Test func oversizedAndDeeplyNestedFilesAreRefusedFast() {
        let start = ContinuousClock.now
        let deep = Array(
            ("{\"apiVersion\":\"aphex.dev/v1\",\"kind\":\"SecretsExport\",\"secrets\":"
                + String(repeating: "[", count: 500_000)).utf8)
        let huge = Array(("{\"x\":\"" + String(repeating: "a", count: SecretsFile.maxBytes) + "\"}").utf8)
        for (bytes, expected) in [(deep, "more than 16 deep"), (huge, "more than an export can be (1024 KiB)")] {
            do {
                _ = try SecretsFile.parse(bytes, source: "backup.json")
                Issue.record("parsed \(expected)")
            } catch {
                #expect("\(error)".contains(expected), "\(error)")
            }
        }
        #expect(ContinuousClock.now - start < .seconds(1))
        // Brackets inside strings are text.
        #expect(SecretsFile.nestingBeyond(2, Array("{\"a\":\"[[[[\\\"[[[\"}".utf8)) == nil)
    }

    @Test(arguments: [
        ("", "not valid JSON"),
        ("[]", "top level"),
        ("{\"kind\":\"SecretsExport\",\"secrets\":[]}", "apiVersion"),
        ("{\"apiVersion\":\"aphex.dev/v9\",\"kind\":\"SecretsExport\",\"secrets\":[]}", "v9"),
        ("{\"apiVersion\":\"aphex.dev/v1\",\"kind\":\"Other\",\"secrets\":[]}", "kind"),
        ("{\"apiVersion\":\"aphex.dev/v1\",\"kind\":\"SecretsExport\"}", "\"secrets\""),
        (
            """
            {\"apiVersion\":\"aphex.dev/\
            v1\",\"kind\":\"SecretsExport\",\"secrets\":[{\"namespace\":\"a\",\"data\":{}}]}
            """,
            "no \"name\""
        ),
        (
            "{\"apiVersion\":\"aphex.dev/v1\",\"kind\":\"SecretsExport\",\"secrets\":[{\"name\":\"n\",\"data\":{}}]}",
            "namespace"
        ),
        (
            """
            {\"apiVersion\":\"aphex.dev/\
            v1\",\"kind\":\"SecretsExport\",\"secrets\":[{\"name\":\"n\",\"namespace\":\"a\",\"data\":{\"k\":5}}]}
            """,
            "not a string"
        ),
        (
            """
            {\"apiVersion\":\"aphex.dev/\
            v1\",\"kind\":\"SecretsExport\",\"secrets\":[{\"name\":\"n\",\"namespace\":\"a\",\"data\":{\"k\":\"\"}\
            }]}
            """,
            "empty"
        ),
        (
            """
            {\"apiVersion\":\"aphex.dev/\
            v1\",\"kind\":\"SecretsExport\",\"secrets\":[{\"name\":\"n\",\"namespace\":\"a\",\"data\":{}},\
            {\"name\":\"n\",\"namespace\":\"a\",\"data\":{}}]}
            """,
            "twice"
        )
    ])
    func malformedFilesNameTheProblem(text: String, expected: String) {
        do {
            _ = try SecretsFile.parse(Array(text.utf8), source: "backup.json")
            Issue.record("parsed a malformed file: \(text)")
        } catch let e as SecretGenError {
            guard case .badImportFile(let why) = e else {
                Issue.record("wrong error \(e)")
                return
            }
            #expect(why.contains("backup.json"))
            #expect(why.contains(expected), "\(why)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}

/// Item 10 of issue 14: --secrets-from values are checked against what aphex generates for
/// each key, and errors say how a value is wrong without showing it.
@Suite struct ValueShapeTests {
    let b64 = ValueShape.base64(bytes: 32)

    @Test func base64IsOneLineOfTheStandardAlphabetAtTheGeneratedLength() throws {
        let good = try SecretGenerator().generate(bytes: 32, encoding: .base64)
        #expect(b64.problem(good) == nil)
        #expect(
            ValueShape.base64(bytes: 50).problem(try SecretGenerator().generate(bytes: 50, encoding: .base64)) == nil)
        #expect(b64.problem(String(good.dropLast())) == "has 43 characters, expected 44")
        #expect(b64.problem(good + "\n") == "has 45 characters, expected 44")
        let urlSafe = String(good.dropFirst(2)) + "-_"
        #expect(b64.problem(urlSafe)?.contains("outside standard base64") == true)
        // no '=' padding
        #expect(b64.problem(String(repeating: "A", count: 44))?.contains("outside standard base64") == true)
        // 2 UTF-8 bytes
        #expect(b64.problem("é" + String(good.dropFirst(2)))?.contains("outside standard base64") == true)
    }

    @Test func hexIsLowercaseAtTheGeneratedLength() throws {
        let hex = ValueShape.hex(bytes: 32)
        #expect(hex.problem(try SecretGenerator().generate(bytes: 32, encoding: .hex)) == nil)
        #expect(hex.problem(String(repeating: "0f", count: 32)) == nil)
        #expect(hex.problem(String(repeating: "0F", count: 32)) == "has a character outside lowercase hex (0-9, a-f)")
        #expect(hex.problem("abc") == "has 3 characters, expected 64")
    }

    @Test func tokensHaveNoWhitespaceOrControlCharacters() {
        #expect(ValueShape.token.problem("cf-Token_40chars.abcdefghijklmnopqrstuvwx") == nil)
        #expect(ValueShape.token.problem("t") == nil)
        for bad in ["with space", "line\n", "tab\t", "nul\u{0}", "naïve"] {
            #expect(
                ValueShape.token.problem(bad) == "has a space, line break, control or non-ASCII character",
                "\(bad.debugDescription)")
        }
        #expect(ValueShape.token.problem(String(repeating: "a", count: 4097)) == "has 4097 characters, more than 4096")
    }

    @Test func catalogShapesAndCopiesTakeTheirSources() {
        let c = SecretCatalog.platform
        #expect(c.shape(KeyRef(pg, "postgresql-password")) == .base64(bytes: 32))
        #expect(c.shape(KeyRef(ak, "secret-key")) == .base64(bytes: 50))
        #expect(c.shape(KeyRef(ak, "bootstrap-token")) == .hex(bytes: 32))
        #expect(c.shape(KeyRef(dex, "authentik-client-secret")) == .base64(bytes: 32))
        #expect(c.shape(KeyRef(tekton, "client-secret")) == .base64(bytes: 32))
        #expect(c.shape(KeyRef(argo, "oidc.dex.clientSecret")) == .base64(bytes: 32))
        #expect(c.shape(KeyRef(cfPlatform, "token")) == .token)
        #expect(c.shape(KeyRef(pg, "unknown")) == nil)
    }

    @Test func validationListsEveryMisfitWithoutAValue() throws {
        let g = SecretGenerator()
        let good = try g.generate(bytes: 32, encoding: .base64)
        let secretLooking = "hunter2-not-base64"
        let file = SecretsFile(secrets: [
            pg: ["postgresql-password": good, "postgresql-postgres-password": secretLooking],
            ak: ["bootstrap-token": good],  // base64 where hex belongs
            cfPlatform: ["token": "two words"],
            SecretID(namespace: "x", name: "unknown"): ["k": "anything"]  // not in the catalog: ignored
        ])
        do {
            try file.validateValues(against: .platform, source: "backup.json")
            Issue.record("accepted misfits")
        } catch let e as SecretGenError {
            let text = e.description
            #expect(text.contains("'backup.json' cannot be used: 3 values do not have the shape aphex generates"))
            #expect(
                text.contains(
                    """
                    auth-system/authentik-postgresql[postgresql-postgres-password] has 18 characters, expected 44 \
                    (32 random bytes as one line of base64, 44 characters)
                    """
                ))
            #expect(text.contains("auth-system/authentik-secrets[bootstrap-token] has 44 characters, expected 64"))
            #expect(text.contains("platform-system/cloudflare-api-token[token] has a space"))
            for v in [good, secretLooking, "two words"] { #expect(!text.contains(v)) }
        }
        // What aphex exports passes.
        try SecretsFile(secrets: [
            pg: ["postgresql-password": good], ak: ["bootstrap-token": try g.generate(bytes: 32, encoding: .hex)],
            cfPlatform: ["token": "cf-token"]
        ]).validateValues(against: .platform, source: "f")
    }
}

@Suite struct RenderTests {
    @Test func manifestIsBase64DataWithLabelAndAnnotation() throws {
        let w = SecretWrite(
            id: dex, method: .serverSideApply, exists: false,
            data: ["client-secret": "abc", "argocd-client-secret": "x\"y"], changedKeys: ["client-secret"])
        let y = SecretManifest.yaml(w, createdAt: "2026-11-24T19:00:00Z")
        #expect(y.contains("kind: Secret\n"))
        #expect(y.contains("  name: \"dex-secrets\"\n  namespace: \"auth-system\"\n"))
        #expect(y.contains("\"app.kubernetes.io/managed-by\": \"aphex\""))
        #expect(y.contains("\"aphex.dev/created-at\": \"2026-11-24T19:00:00Z\""))
        #expect(y.contains("type: Opaque"))
        #expect(y.contains("\"client-secret\": \"YWJj\""))
        #expect(y.contains("\"argocd-client-secret\": \"eCJ5\""))
        #expect(!y.contains("abc"))
        var existing = w
        existing.exists = true
        existing.createdAt = "2020-01-01T00:00:00Z"
        let y2 = SecretManifest.yaml(existing, createdAt: "now")
        #expect(!y2.contains("type:") && y2.contains("2020-01-01T00:00:00Z"))
        #expect(SecretManifest.yaml([w, w], createdAt: "t").components(separatedBy: "---\n").count == 2)
    }

    @Test func mergePatchHoldsOnlyTheKeys() throws {
        let w = SecretWrite(
            id: argo, method: .mergePatch, exists: true, data: ["oidc.dex.clientSecret": "A/B"],
            changedKeys: ["oidc.dex.clientSecret"])
        #expect(
            String(decoding: SecretManifest.mergePatch(w), as: UTF8.self)
                == "{\"data\":{\"oidc.dex.clientSecret\":\"QS9C\"}}")
    }

    @Test func timestampIsRFC3339UTC() {
        #expect(RFC3339.format(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00Z")
    }
}

/// Invariants over many random cluster states (every subset shape: Secrets present or not,
/// each key present or not, copies equal to their source or not, with or without an import
/// file and the Cloudflare token).
@Suite struct PlannerInvariantTests {
    struct SplitMix {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func chance(_ percent: UInt64) -> Bool { next() % 100 < percent }
    }

    @Test func invariantsHoldForRandomClusterStates() throws {
        var rng = SplitMix(state: 42)
        let catalog = SecretCatalog.platform
        for round in 0..<2000 {
            let deployment = rng.chance(50) ? "kind" : "k3s"
            var existing: [SecretID: StoredSecret] = [:]
            for spec in catalog.secrets(for: deployment) where rng.chance(60) {
                var data: [String: String] = [:]
                for k in spec.keys where rng.chance(70) {
                    data[k.key] = rng.chance(15) ? "shared" : "v\(rng.next() % 1000)"
                }
                if spec.ownership == .mergeKeys { data["server.secretkey"] = "argo" }
                existing[spec.id] = StoredSecret(data: data)
            }
            var imported: SecretsFile?
            if rng.chance(30) {
                var s: [SecretID: [String: String]] = [:]
                for spec in catalog.secrets(for: deployment) where rng.chance(50) {
                    s[spec.id] = Dictionary(
                        uniqueKeysWithValues: spec.keys.filter { _ in rng.chance(50) }.map {
                            ($0.key, "imp\(rng.next() % 1000)")
                        })
                }
                imported = SecretsFile(secrets: s)
            }
            let env = rng.chance(50) ? ["CLOUDFLARE_API_TOKEN": "cf"] : [:]
            let input = SecretsPlanInput(
                deployment: deployment, existing: existing, imported: imported, environment: env)
            let plan = try planSecrets(input)

            // 1. Nothing stored is ever changed: stored values are kept and written unchanged.
            for (id, stored) in existing {
                for (k, v) in stored.data {
                    #expect(plan.values[KeyRef(id, k)] ?? v == v, "round \(round): \(id)[\(k)] changed")
                    for w in plan.writes where w.id == id {
                        if let sent = w.data[k] { #expect(sent == v, "round \(round): stored \(id)[\(k)] rewritten") }
                        #expect(!w.changedKeys.contains(k))
                    }
                }
            }
            // 2. Writes carry exactly the create/addMissingKey decisions.
            let changing = Set(plan.decisions.filter { $0.action == .create || $0.action == .addMissingKey }.map(\.ref))
            let written = Set(plan.writes.flatMap { w in w.changedKeys.map { KeyRef(w.id, $0) } })
            #expect(changing == written, "round \(round)")
            // 3. A copy that is written equals the value its source will hold.
            for ref in written {
                if let src = catalog.keySpec(ref)?.source.source(in: ref.secret) {
                    #expect(
                        plan.values[ref] == plan.values[src], "round \(round): \(ref) written differently from \(src)")
                }
            }
            // 4. Applying the writes and planning again changes nothing (idempotent), except
            //    keys that were deferred or skipped; and the stored state is unchanged.
            var after = existing
            for w in plan.writes {
                var s = after[w.id] ?? StoredSecret(data: [:])
                for (k, v) in w.data { s.data[k] = v }
                after[w.id] = s
            }
            let again = try planSecrets(
                SecretsPlanInput(deployment: deployment, existing: after, imported: imported, environment: env))
            #expect(again.writes.isEmpty, "round \(round): a re-run wrote \(again.writes.map(\.id))")
            // 5. Mismatches reported are exactly those the health check sees.
            let mismatches = Set(again.decisions.filter { $0.action == .derivedMismatch }.map(\.ref.description))
            #expect(
                mismatches == Set(SecretsHealth.assess(deployment: deployment, existing: after).derivedMismatches),
                "round \(round)")
        }
    }
}
