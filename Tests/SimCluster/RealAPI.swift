import AphexCore
import KubeClient
import COpenSSL
import CZlib
import Foundation

/// The recordings of a real kube-apiserver v1.36.2 and kubectl 1.32 in ../shared/realapi (see
/// its README). The simulator serves some of them as they are (the built-in OpenAPI documents,
/// the built-in resource table of discovery) and the conformance suite replays every exchange
/// against the simulator. Never copied into this project: read from the shared directory beside
/// the checkout (`APHEX_REALAPI_DIR` overrides it).
public enum RealAPI {
    /// ../shared/realapi, found from this source file's location (the package root's sibling).
    public static let directory: String = {
        if let d = ProcessInfo.processInfo.environment["APHEX_REALAPI_DIR"], !d.isEmpty { return d }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return root.deletingLastPathComponent().appendingPathComponent("shared/realapi").path
    }()

    public static var isAvailable: Bool { FileManager.default.fileExists(atPath: directory + "/README.md") }

    /// The raw bytes of a recording (gunzipped when its name ends in .gz).
    public static func bytes(_ relativePath: String) throws -> [UInt8] {
        let path = directory + "/" + relativePath
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SimError(
                """
                the recording \(path) is missing: the simulator and its conformance suite read ../shared/realapi \
                beside the checkout (or set APHEX_REALAPI_DIR)
                """
            )
        }
        let raw = [UInt8](data)
        return relativePath.hasSuffix(".gz") ? try Gzip.decompress(raw) : raw
    }

    /// A recording parsed as JSON (an exchange: request, response, note).
    public static func load(_ relativePath: String) throws -> JSON {
        try JSON.parse(bytes(relativePath))
    }

    private static let cache = LockedBox<[String: JSON]>([:])

    /// `load`, memoized for the life of the process (the recorded OpenAPI documents are megabytes).
    public static func cached(_ relativePath: String) throws -> JSON {
        if let j = cache.withLock({ $0[relativePath] }) { return j }
        let j = try load(relativePath)
        cache.withLock { $0[relativePath] = j }
        return j
    }

    /// The recorded response body of an exchange.
    public static func responseBody(_ relativePath: String) throws -> JSON {
        guard let body = try cached(relativePath)[path: "response", "body"] else {
            throw SimError("the recording \(relativePath) has no response body")
        }
        return body
    }
}

/// gzip (RFC 1952) through zlib: the API server compresses large responses when the client
/// accepts gzip, and some recordings are stored gzipped.
public enum Gzip {
    public static func compress(_ input: [UInt8], level: Int32 = 1) throws -> [UInt8] {
        var stream = z_stream()
        guard aphex_deflate_init_gzip(&stream, level) == Z_OK else { throw SimError("deflateInit2 failed") }
        defer { deflateEnd(&stream) }
        var out = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(input.count))) + 32)
        var input = input
        let produced: Int = input.withUnsafeMutableBufferPointer { inBuf in
            out.withUnsafeMutableBufferPointer { outBuf in
                stream.next_in = inBuf.baseAddress
                stream.avail_in = uInt(inBuf.count)
                stream.next_out = outBuf.baseAddress
                stream.avail_out = uInt(outBuf.count)
                let rc = deflate(&stream, Z_FINISH)
                return rc == Z_STREAM_END ? Int(stream.total_out) : -1
            }
        }
        guard produced >= 0 else { throw SimError("deflate failed") }
        return Array(out[0..<produced])
    }

    public static func decompress(_ input: [UInt8]) throws -> [UInt8] {
        var stream = z_stream()
        guard aphex_inflate_init_auto(&stream) == Z_OK else { throw SimError("inflateInit2 failed") }
        defer { inflateEnd(&stream) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var input = input
        var rc: Int32 = Z_OK
        input.withUnsafeMutableBufferPointer { inBuf in
            stream.next_in = inBuf.baseAddress
            stream.avail_in = uInt(inBuf.count)
            repeat {
                let n: Int = chunk.withUnsafeMutableBufferPointer { c in
                    stream.next_out = c.baseAddress
                    stream.avail_out = uInt(c.count)
                    rc = inflate(&stream, Z_NO_FLUSH)
                    return c.count - Int(stream.avail_out)
                }
                out += chunk[0..<n]
            } while rc == Z_OK
        }
        guard rc == Z_STREAM_END else { throw SimError("gzip data is damaged (zlib error \(rc))") }
        return out
    }
}

/// SHA-512, upper-case hex: the API server's OpenAPI v3 `?hash=` and the discovery ETags.
public func sha512HexUpper(_ bytes: [UInt8]) -> String {
    var digest = [UInt8](repeating: 0, count: Int(SHA512_DIGEST_LENGTH))
    bytes.withUnsafeBufferPointer { b in _ = SHA512(b.baseAddress, b.count, &digest) }
    let hex = Array("0123456789ABCDEF".utf8)
    var out = [UInt8]()
    out.reserveCapacity(128)
    for byte in digest {
        out.append(hex[Int(byte >> 4)])
        out.append(hex[Int(byte & 0xF)])
    }
    return String(decoding: out, as: UTF8.self)
}
