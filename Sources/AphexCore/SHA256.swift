import COpenSSL
import Foundation

/// SHA-256 with OpenSSL failed (only a broken libcrypto does).
public struct DigestError: Error, Sendable, Equatable, CustomStringConvertible {
    public var reason: String
    public var description: String { "SHA-256 with OpenSSL failed: \(reason)." }
}

/// The text of OpenSSL's most recent error (its error queue), for messages.
package func openSSLErrorText() -> String {
    let code = ERR_get_error()
    guard code != 0 else { return "no OpenSSL error code was recorded" }
    var buf = [CChar](repeating: 0, count: 256)
    ERR_error_string_n(code, &buf, buf.count)
    return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Streaming SHA-256 through OpenSSL's EVP interface (ArgoInstall's `Digest.sha256Hex` calls it from
/// Digest.swift). For large inputs hashed in pieces, and
/// anywhere aphex must compare content without keeping it.
public final class SHA256: @unchecked Sendable {
    private var ctx: OpaquePointer?
    private var finished = false

    public init() throws {
        guard let c = EVP_MD_CTX_new() else { throw DigestError(reason: "EVP_MD_CTX_new returned NULL") }
        guard EVP_DigestInit_ex(c, EVP_sha256(), nil) == 1 else {
            EVP_MD_CTX_free(c)
            throw DigestError(reason: openSSLErrorText())
        }
        ctx = c
    }

    deinit { EVP_MD_CTX_free(ctx) }

    /// Feeds more bytes (streaming: large manifests need not be held twice).
    public func update(_ bytes: UnsafeRawBufferPointer) throws {
        precondition(!finished, "SHA256.update after finalize")
        guard bytes.count > 0 else { return }
        guard EVP_DigestUpdate(ctx, bytes.baseAddress, bytes.count) == 1 else {
            throw DigestError(reason: openSSLErrorText())
        }
    }

    public func update(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try update($0) }
    }

    /// The 32-byte digest. The hasher cannot be used afterwards.
    public func finalize() throws -> [UInt8] {
        precondition(!finished, "SHA256.finalize called twice")
        finished = true
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var len: UInt32 = 0
        guard EVP_DigestFinal_ex(ctx, &out, &len) == 1 else { throw DigestError(reason: openSSLErrorText()) }
        return Array(out.prefix(Int(len)))
    }

    /// One-shot digest.
    public static func digest(_ bytes: [UInt8]) throws -> [UInt8] {
        let h = try SHA256()
        try h.update(bytes)
        return try h.finalize()
    }

    /// One-shot digest as 64 lowercase hex characters (the form release pages publish).
    public static func hex(_ bytes: [UInt8]) throws -> String {
        try digest(bytes).map { String(format: "%02x", $0) }.joined()
    }

    public static func hex(_ text: String) throws -> String { try hex(Array(text.utf8)) }
}
