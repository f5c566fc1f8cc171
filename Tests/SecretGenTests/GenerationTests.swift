import Foundation
import Testing
@testable import SecretGen
import AphexCore

/// A source that always fails, as a broken RNG would.
struct FailingRandom: RandomSource {
    func bytes(_ count: Int) throws -> [UInt8] { throw SecretGenError.randomFailed("simulated RNG failure") }
}

/// Deterministic bytes (counter) so plans have exact, checkable values.
final class CountingRandom: RandomSource, @unchecked Sendable {
    private let lock = NSLock()
    private var next: UInt8 = 0
    private(set) var calls: [Int] = []
    func bytes(_ count: Int) throws -> [UInt8] {
        lock.lock()
        defer { lock.unlock() }
        calls.append(count)
        next &+= 1
        return [UInt8](repeating: next, count: count)
    }
}

@Suite struct GenerationTests {
    let base64Alphabet = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
    let hexAlphabet = Set("0123456789abcdef")

    @Test func openSSLReturnsTheRequestedNumberOfBytes() throws {
        let r = OpenSSLRandom()
        for n in [0, 1, 16, 32, 50, 64, 1000] {
            #expect(try r.bytes(n).count == n)
        }
        // 1000 random bytes are not all one value (a zero-filled buffer would be).
        #expect(Set(try r.bytes(1000)).count > 100)
    }

    @Test(arguments: [16, 32, 50, 64])
    func base64IsOneLineOfTheRightLengthAndAlphabet(bytes: Int) throws {
        let v = try SecretGenerator().generate(bytes: bytes, encoding: .base64)
        #expect(v.count == ((bytes + 2) / 3) * 4)
        #expect(!v.contains("\n") && !v.contains("\r") && !v.contains(" "))
        #expect(v.allSatisfy { base64Alphabet.contains($0) })
        #expect(SecretEncoding.decodeBase64(v)?.count == bytes)
    }

    @Test func fiftyBytesBase64IsOneLineNotWrappedAt64() throws {
        // The shell scripts' `openssl rand -base64 50` wraps at 64 columns: 68 characters
        // with a newline in the middle broke AUTHENTIK_SECRET_KEY. aphex's is one line.
        let v = try SecretGenerator().generate(bytes: 50, encoding: .base64)
        #expect(v.count == 68)
        #expect(v.split(whereSeparator: \.isNewline).count == 1)
    }

    @Test func hexIsLowercaseAndTwoCharactersPerByte() throws {
        let v = try SecretGenerator().generate(bytes: 32, encoding: .hex)
        #expect(v.count == 64)
        #expect(v.allSatisfy { hexAlphabet.contains($0) })
        #expect(SecretEncoding.hex([0x00, 0x0f, 0xa0, 0xff]) == "000fa0ff")
    }

    @Test func thousandGenerationsNeverRepeat() throws {
        let g = SecretGenerator()
        var seen = Set<String>()
        for _ in 0..<1000 {
            seen.insert(try g.generate(bytes: 32, encoding: .base64))
            seen.insert(try g.generate(bytes: 32, encoding: .hex))
        }
        #expect(seen.count == 2000)
    }

    @Test func rngFailureThrowsAndProducesNoValue() {
        let g = SecretGenerator(random: FailingRandom())
        #expect(throws: SecretGenError.self) { try g.generate(bytes: 32, encoding: .base64) }
        do {
            _ = try planSecrets(SecretsPlanInput(deployment: "kind", existing: [:]), generator: g)
            Issue.record("planning with a failing RNG must throw")
        } catch let e as SecretGenError {
            #expect(e.description.contains("RAND_bytes"))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func sha256MatchesKnownVectors() throws {
        #expect(try SHA256.hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(try SHA256.hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        // Streaming in pieces gives the one-shot digest.
        let data = Array((0..<100_000).map { UInt8($0 % 251) })
        let h = try SHA256()
        try h.update(Array(data[0..<7]))
        try h.update(Array(data[7..<65_537]))
        try h.update(Array(data[65_537...]))
        #expect(SecretEncoding.hex(try h.finalize()) == (try SHA256.hex(data)))
    }

    @Test func sha256OfTheSharedArgoCDManifestMatchesThePinnedDigest() throws {
        // PLATFORM.md pins the digest of ArgoCD v3.3.0's install.yaml.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        let dir = root.appendingPathComponent("shared/manifests")
        let files = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        guard let name = files.first(where: { $0.contains("argocd") && $0.contains("3.3.0") && $0.hasSuffix(".yaml") })
        else {
            Issue.record("no ArgoCD v3.3.0 manifest under \(dir.path): \(files)")
            return
        }
        let bytes = try [UInt8](Data(contentsOf: dir.appendingPathComponent(name)))
        #expect(try SHA256.hex(bytes) == "a6120f20bb0b8d458fa1753fefe7dd2c36eadfd8e09bbdf81ca61849ef6a2f6f")
    }
}
