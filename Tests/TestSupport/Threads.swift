import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// Runs blocking work (waiting for a process, polling with usleep, openssl runs) on a thread of
/// its own and resumes the caller when it is done, so Swift's cooperative threads (one per
/// core, 2 here) stay free for the tests that run meanwhile.
public func offThePool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, any Error>) in
        let t = Thread { c.resume(with: Result { try work() }) }
        t.stackSize = 1 << 20
        t.start()
    }
}

extension Process {
    /// `waitUntilExit()` off the cooperative pool.
    public func exited() async {
        _ = try? await offThePool { self.waitUntilExit() }
    }
}

/// Starts blocking I/O (reading a pipe to its end, writing a child's stdin) on a thread of its
/// own. Not `DispatchQueue.global()`: its worker threads are as many as cores (2 here), and with
/// both blocked reading a child's stdout and stderr, the block that writes the child's stdin
/// waited about a second for libdispatch to add a thread: every kubectl run through the
/// recording shim took a second longer.
public func blockingThread(_ work: @escaping @Sendable () -> Void) {
    let t = Thread { work() }
    t.stackSize = 1 << 20
    t.start()
}

/// A failure of the test support itself (a helper process, a socket).
public struct TestSupportError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A blocking TCP socket connected to 127.0.0.1:`port`, reads timing out after `timeout`
/// seconds; nil when the connection is refused. The caller closes it.
public func loopbackSocket(port: UInt16, timeout: Double) throws -> Int32? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestSupportError("socket() failed") }
    var tv = timeval(tv_sec: Int(timeout), tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    var addr = loopbackAddress(port: Int(port))
    let rc = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    guard rc == 0 else {
        close(fd)
        return nil
    }
    return fd
}

/// 127.0.0.1:`port` (0: any free port when bound).
func loopbackAddress(port: Int) -> sockaddr_in {
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = UInt16(port).bigEndian
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    return addr
}

/// Runs `script` with /bin/sh, stderr folded into stdout; throws with the output on failure.
/// One pipe, used once: assigning the same Pipe or FileHandle.nullDevice to two streams makes
/// Foundation's Process close one fd twice, which closes some other thread's descriptor
/// (swift-subprocess traps on that).
@discardableResult
public func runShell(_ script: String) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/sh")
    p.arguments = ["-c", "exec 2>&1\n" + script]
    let out = Pipe()
    p.standardOutput = out
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    let text = String(decoding: data, as: UTF8.self)
    guard p.terminationStatus == 0 else { throw TestSupportError("shell failed (\(p.terminationStatus)): \(text)") }
    return text
}

/// Reads a child's stdout and stderr to their ends, each on a thread of its own (`blockingThread`,
/// never the 2-worker dispatch pool), so a child that fills one pipe never waits on the other.
public final class PipeDrain: @unchecked Sendable {
    private let group = DispatchGroup()
    private var out = Data()
    private var err = Data()

    public init(stdout: Pipe, stderr: Pipe) {
        group.enter()
        blockingThread {
            self.out = stdout.fileHandleForReading.readDataToEndOfFile()
            self.group.leave()
        }
        group.enter()
        blockingThread {
            self.err = stderr.fileHandleForReading.readDataToEndOfFile()
            self.group.leave()
        }
    }

    /// Waits until both pipes reach end of file (the child and its children closed them), and
    /// returns what each carried, as text.
    public func wait() -> (stdout: String, stderr: String) {
        group.wait()
        return (String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
    }
}
