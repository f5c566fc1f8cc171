/// One-shot SHA-256 for ArgoInstall (release manifests: catalog pins and the trust-on-first-use
/// lock). It goes through the one OpenSSL EVP implementation in SHA256.swift.
public enum Digest {
    /// The SHA-256 of `bytes`, as 64 lowercase hex characters.
    public static func sha256Hex(_ bytes: [UInt8]) -> String {
        do {
            return try SHA256.hex(bytes)
        } catch {
            // Only a broken libcrypto fails here; no manifest may be trusted then.
            preconditionFailure("OpenSSL SHA-256 failed: \(error)")
        }
    }

    /// True for 64 hex characters (any case).
    public static func isSHA256Hex(_ s: String) -> Bool {
        s.count == 64 && s.allSatisfy { $0.isHexDigit }
    }
}
