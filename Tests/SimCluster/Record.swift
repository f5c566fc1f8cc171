import AphexCore
import KubeClient
import Foundation

/// One command run through the simulator (in-process runner or stand-in executable).
public struct RecordedCommand: Sendable, Equatable, Codable {
    public var seq: Int
    /// Scenario time, seconds.
    public var time: Double
    public var argv: [String]
    /// SHA-256 (hex) of the stdin payload, nil when there was none.
    public var stdinSHA256: String?
    public var stdinBytes: Int
    public var status: Int32
    public var stdout: String
    public var stderr: String
    /// "in-process" or "stand-in".
    public var via: String
    /// Whether the command asks for a change (apply without dry-run, patch, delete, ...).
    public var mutating: Bool
}

/// One API request served (in-process transport or loopback server).
public struct RecordedRequest: Sendable, Equatable, Codable {
    public var seq: Int
    public var time: Double
    public var method: String
    public var path: String
    public var query: String
    public var status: Int
    /// The request's fault, if one was injected: http503, http429, reset, timeout, down.
    public var fault: String?
    public var bodySHA256: String?
    public var mutating: Bool
    public var via: String
    /// How long the simulator took to answer, in milliseconds (routing, the world, serializing;
    /// not injected latency): lets benchmarks tell the client's time from the server's.
    public var serverMs: Double?
}

/// An object a client (not a simulated controller) changed.
public struct RecordedChange: Sendable, Equatable, Codable {
    public var seq: Int
    public var time: Double
    /// created | updated | deleted | deleting
    public var action: String
    public var object: String
    public var by: String
}

/// A snapshot of everything the simulator saw; what tests assert on.
public struct SimRecordSnapshot: Sendable, Equatable, Codable {
    public var commands: [RecordedCommand]
    public var requests: [RecordedRequest]
    public var changes: [RecordedChange]

    public init(commands: [RecordedCommand] = [], requests: [RecordedRequest] = [], changes: [RecordedChange] = []) {
        self.commands = commands
        self.requests = requests
        self.changes = changes
    }

    /// Mutating calls only: commands that ask for a change and non-dry-run write requests.
    public var writes: [String] {
        commands.filter(\.mutating).map { Shell.quote($0.argv) }
            + requests.filter(\.mutating).map { "\($0.method) \($0.path)\($0.query.isEmpty ? "" : "?" + $0.query)" }
    }

    /// Every argv (joined) and every captured stdout/stderr, plus `extra` texts (aphex's own output).
    public func texts(extra: [String] = []) -> [String] {
        commands.flatMap { [$0.argv.joined(separator: " "), $0.stdout, $0.stderr] } + extra
    }

    /// The needles (secrets) found in any argv, captured output or `extra` text, with where.
    /// Empty means clean. Needles shorter than 6 characters are ignored (too common).
    public func leaks(of needles: [String], extra: [String] = []) -> [String] {
        var found: [String] = []
        for n in needles where n.count >= 6 {
            for c in commands {
                if c.argv.contains(where: { $0.contains(n) }) { found.append("argv of \(Shell.quote(c.argv))") }
                if c.stdout.contains(n) { found.append("stdout of \(Shell.quote(c.argv))") }
                if c.stderr.contains(n) { found.append("stderr of \(Shell.quote(c.argv))") }
            }
            for r in requests where r.path.contains(n) || r.query.contains(n) {
                found.append("request \(r.method) \(r.path)")
            }
            for (i, e) in extra.enumerated() where e.contains(n) { found.append("extra text #\(i)") }
        }
        return found
    }

    /// Commands whose argv starts with the given prefix (argv[0] compared by basename).
    public func commands(_ prefix: [String]) -> [RecordedCommand] {
        commands.filter { c in
            guard c.argv.count >= prefix.count, !prefix.isEmpty else { return prefix.isEmpty }
            let a0 = (c.argv[0] as NSString).lastPathComponent
            return a0 == prefix[0] && Array(c.argv[1..<prefix.count]) == Array(prefix.dropFirst())
        }
    }
}

/// The live record (thread-safe). `snapshot()` for assertions.
public final class SimRecord: @unchecked Sendable {
    private let lock = NSLock()
    private var seq = 0
    private var data = SimRecordSnapshot()

    public init() {}

    public func snapshot() -> SimRecordSnapshot {
        lock.lock()
        defer { lock.unlock() }
        return data
    }
    public var commands: [RecordedCommand] { snapshot().commands }
    public var requests: [RecordedRequest] { snapshot().requests }
    public var changes: [RecordedChange] { snapshot().changes }
    public var writes: [String] { snapshot().writes }
    public func leaks(of needles: [String], extra: [String] = []) -> [String] {
        snapshot().leaks(of: needles, extra: extra)
    }

    /// Forgets everything recorded so far (e.g. between a first run and a re-run).
    public func reset() {
        lock.lock()
        data = SimRecordSnapshot()
        lock.unlock()
    }

    func next() -> Int {
        seq += 1
        return seq
    }

    public func addCommand(
        time: Double, argv: [String], stdin: [UInt8]?, output: CommandOutput, via: String, mutating: Bool
    ) {
        lock.lock()
        defer { lock.unlock() }
        data.commands.append(
            RecordedCommand(
                seq: next(), time: time, argv: argv, stdinSHA256: stdin.map { sha256Hex($0) },
                stdinBytes: stdin?.count ?? 0,
                status: output.status, stdout: output.stdoutText, stderr: output.stderrText, via: via,
                mutating: mutating))
    }

    public func addRequest(
        time: Double, method: String, path: String, query: String, status: Int, fault: String?,
        body: [UInt8]?, mutating: Bool, via: String, serverMs: Double? = nil
    ) {
        let bodyHash = body.flatMap { $0.isEmpty ? nil : sha256Hex($0) }
        lock.lock()
        defer { lock.unlock() }
        data.requests.append(
            RecordedRequest(
                seq: next(), time: time, method: method, path: path, query: query, status: status, fault: fault,
                bodySHA256: bodyHash, mutating: mutating, via: via, serverMs: serverMs))
    }

    func addChange(time: Double, action: String, key: ObjectKey, by: String) {
        lock.lock()
        defer { lock.unlock() }
        data.changes.append(RecordedChange(seq: next(), time: time, action: action, object: key.description, by: by))
    }

    public var json: JSON {
        let s = snapshot()
        let enc = JSONEncoder()
        guard let d = try? enc.encode(s), let j = try? JSON.parse(d) else { return .null }
        return j
    }
}

// MARK: SHA-256 (small, dependency-free; the simulator must not import COpenSSL)

public func sha256Hex(_ bytes: [UInt8]) -> String {
    var h: [UInt32] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]
    let k: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
    ]
    var msg = bytes
    let bitLen = UInt64(bytes.count) * 8
    msg.append(0x80)
    while msg.count % 64 != 56 { msg.append(0) }
    for i in (0..<8).reversed() { msg.append(UInt8((bitLen >> (UInt64(i) * 8)) & 0xff)) }
    func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x >> n) | (x << (32 - n)) }
    var w = [UInt32](repeating: 0, count: 64)
    for chunk in stride(from: 0, to: msg.count, by: 64) {
        for i in 0..<16 {
            let j = chunk + i * 4
            w[i] = UInt32(msg[j]) << 24 | UInt32(msg[j + 1]) << 16 | UInt32(msg[j + 2]) << 8 | UInt32(msg[j + 3])
        }
        for i in 16..<64 {
            let s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3)
            let s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10)
            w[i] = w[i - 16] &+ s0 &+ w[i - 7] &+ s1
        }
        var a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7]
        for i in 0..<64 {
            let s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)
            let ch = (e & f) ^ (~e & g)
            let t1 = hh &+ s1 &+ ch &+ k[i] &+ w[i]
            let s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)
            let maj = (a & b) ^ (a & c) ^ (b & c)
            let t2 = s0 &+ maj
            hh = g
            g = f
            f = e
            e = d &+ t1
            d = c
            c = b
            b = a
            a = t1 &+ t2
        }
        h[0] = h[0] &+ a
        h[1] = h[1] &+ b
        h[2] = h[2] &+ c
        h[3] = h[3] &+ d
        h[4] = h[4] &+ e
        h[5] = h[5] &+ f
        h[6] = h[6] &+ g
        h[7] = h[7] &+ hh
    }
    let digits = Array("0123456789abcdef".utf8)
    var hex: [UInt8] = []
    hex.reserveCapacity(64)
    for word in h {
        for shift in stride(from: 28, through: 0, by: -4) { hex.append(digits[Int((word >> UInt32(shift)) & 0xf)]) }
    }
    return String(decoding: hex, as: UTF8.self)
}
