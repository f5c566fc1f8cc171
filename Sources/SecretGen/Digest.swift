import COpenSSL

/// SHA-256 over OpenSSL's EVP interface. Used by ArgoInstall to verify release manifests
/// (catalog pins and the trust-on-first-use lock). Kept in this one file so the secrets
/// engineer owns the rest of SecretGen untouched.
public enum Digest {
    /// The SHA-256 of `bytes`, as 64 lowercase hex characters.
    public static func sha256Hex(_ bytes: [UInt8]) -> String {
        hex(sha256(bytes))
    }

    /// The SHA-256 of `bytes` (32 bytes).
    public static func sha256(_ bytes: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let ok = bytes.withUnsafeBufferPointer { buf in
            out.withUnsafeMutableBufferPointer { dst in
                EVP_Digest(buf.baseAddress, buf.count, dst.baseAddress, &length, EVP_sha256(), nil)
            }
        }
        precondition(ok == 1, "OpenSSL EVP_Digest(SHA-256) failed")
        return Array(out.prefix(Int(length)))
    }

    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var chars = [UInt8]()
        chars.reserveCapacity(bytes.count * 2)
        for b in bytes {
            chars.append(digits[Int(b >> 4)])
            chars.append(digits[Int(b & 0x0f)])
        }
        return String(decoding: chars, as: UTF8.self)
    }

    /// True for 64 hex characters (any case).
    public static func isSHA256Hex(_ s: String) -> Bool {
        s.count == 64 && s.allSatisfy { $0.isHexDigit }
    }
}
