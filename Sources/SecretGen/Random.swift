import AphexCore
import COpenSSL
import Foundation

/// Why SecretGen could not do what was asked. Messages never contain a secret value.
public enum SecretGenError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The CSPRNG refused (OpenSSL's error queue text attached). Never fall back to a weaker RNG.
    case randomFailed(String)
    /// A `--secrets-from` file that cannot be used (the problem, never a value).
    case badImportFile(String)
    /// A required environment variable is unset.
    case missingEnvironment(String)

    public var description: String {
        switch self {
        case .randomFailed(let why):
            return
                """
                OpenSSL's random generator (RAND_bytes) failed: \(why). No secret was generated and nothing was \
                written; check the host's entropy source (/dev/urandom) and OpenSSL installation, then re-run.
                """
        case .badImportFile(let why), .missingEnvironment(let why):
            return why
        }
    }
}

/// A source of cryptographically secure random bytes. The real one is OpenSSL; tests inject
/// failing or deterministic sources to prove the failure path and exact outputs.
public protocol RandomSource: Sendable {
    func bytes(_ count: Int) throws -> [UInt8]
}

/// OpenSSL's CSPRNG (`RAND_bytes`). Throws `SecretGenError.randomFailed` when it fails.
public struct OpenSSLRandom: RandomSource {
    public init() {}

    public func bytes(_ count: Int) throws -> [UInt8] {
        precondition(count >= 0)
        var buffer = [UInt8](repeating: 0, count: count)
        guard count > 0 else { return buffer }
        let rc = buffer.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32(count)) }
        guard rc == 1 else { throw SecretGenError.randomFailed(openSSLErrorText()) }
        return buffer
    }
}

public enum SecretEncoding {
    /// Base64 with padding on one line: no wrapping, no newline.
    public static func base64(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
    }

    /// Lowercase hexadecimal.
    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func encode(_ bytes: [UInt8], as encoding: ValueEncoding) -> String {
        switch encoding {
        case .base64: return base64(bytes)
        case .hex: return hex(bytes)
        }
    }

    /// Decodes standard base64 (Kubernetes Secret `data`); nil when malformed.
    public static func decodeBase64(_ text: String) -> [UInt8]? {
        Data(base64Encoded: text).map { [UInt8]($0) }
    }
}

/// Generates values for the catalog's random keys.
public struct SecretGenerator: Sendable {
    public var random: any RandomSource

    public init(random: any RandomSource = OpenSSLRandom()) {
        self.random = random
    }

    /// `count` random bytes encoded as the catalog says.
    public func generate(bytes count: Int, encoding: ValueEncoding) throws -> String {
        SecretEncoding.encode(try random.bytes(count), as: encoding)
    }
}
