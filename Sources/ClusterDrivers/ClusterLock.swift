import AphexCore
import KubeClient
import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// One aphex run per cluster name: an exclusive `flock` on `~/.aphex/clusters/NAME.lock`,
/// held by every command that changes the cluster (bootstrap, destroy, kind create/delete,
/// k3s install/uninstall, secrets repair) for as long as it runs.
///
/// A second run waits for the first (saying who holds the lock) up to `wait`, then exits 3
/// naming the holder. The kernel drops the lock when the holder exits, however it exits
/// (Ctrl-C, SIGKILL, a crash), so there is never a stale lock to delete. The file itself is
/// kept (deleting a lock file races with a waiter that already opened it); it holds the
/// holder's pid, command and start time, for the message.
public final class ClusterLock: @unchecked Sendable {
    public let path: String
    private var fd: Int32

    private init(path: String, fd: Int32) {
        self.path = path
        self.fd = fd
    }

    deinit { release() }

    /// `~/.aphex/clusters/NAME.lock` (next to the cluster's directory, which `delete` removes).
    /// Under sudo, in the invoking user's home, where the k3s driver keeps its files too.
    public static func path(_ host: HostContext, name: String) -> String {
        host.invokingUserHome + "/.aphex/clusters/\(name).lock"
    }

    /// Takes the lock for cluster `name`, waiting (polling every `poll`, cancellable) while
    /// another run holds it. `command` describes this run for whoever waits on it
    /// ("aphex bootstrap"). Throws `AphexError` (.timeout after `wait`, .failed when the file
    /// cannot be opened).
    public static func acquire(
        _ host: HostContext, name: String, command: String,
        wait: Duration = .seconds(600), poll: Duration = .milliseconds(200)
    ) async throws -> ClusterLock {
        let path = path(host, name: name)
        let owner = PrivateFiles.invokingUser(host.environment)
        try PrivateFiles.makeDirectory((path as NSString).deletingLastPathComponent, owner: owner)
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else {
            throw AphexError.failed(
                """
                Could not open the lock file \(path): \(String(cString: strerror(errno))). Check the permissions \
                of \((path as NSString).deletingLastPathComponent).
                """
            )
        }
        if let owner { _ = fchown(fd, owner.uid, owner.gid) }
        let lock = ClusterLock(path: path, fd: fd)
        let clock = host.clock
        let start = clock.now()
        var announced = false
        var lastNote = start
        while true {
            if flock(fd, LOCK_EX | LOCK_NB) == 0 { break }
            guard errno == EWOULDBLOCK || errno == EINTR else {
                let why = String(cString: strerror(errno))
                throw AphexError.failed("Could not lock \(path): \(why).")
            }
            let holder = lock.holder()
            let waited = clock.now() - start
            if waited >= wait {
                throw AphexError.timeout(
                    """
                    Another aphex run (\(holder)) has been working on cluster '\(name)' for longer than this run \
                    waited (\(formatDuration(wait))), so this run changed nothing. Wait for it to finish, or stop \
                    it (`kill \(lock.holderPID.map(String.init) ?? "PID")`), then run this command again. The \
                    lock (\(path)) is released as soon as that process ends; do not delete the file.
                    """
                )
            }
            if !announced {
                host.reporter.info(
                    """
                    Another aphex run (\(holder)) is working on cluster '\(name)': waiting for it to finish (up \
                    to \(formatDuration(wait)); Ctrl-C to stop waiting).
                    """
                )
                announced = true
                lastNote = clock.now()
            } else if clock.now() - lastNote >= .seconds(30) {
                host.reporter.info(
                    "Still waiting for the aphex run (\(holder)) on cluster '\(name)' (\(formatDuration(waited))).")
                lastNote = clock.now()
            }
            try await clock.sleep(for: poll)
        }
        // Ours: say who holds it (for the message a waiting run prints).
        let stamp = RFC3339.format(host.clock.wallNow())
        let text = "pid \(getpid())\ncommand \(command)\nstarted \(stamp)\n"
        _ = ftruncate(fd, 0)
        _ = text.withCString { pwrite(fd, $0, strlen($0), 0) }
        if announced { host.reporter.info("The other aphex run on cluster '\(name)' finished; continuing.") }
        return lock
    }

    /// "pid 1234: aphex bootstrap, started 2026-11-24T19:40:00Z", from the lock file.
    func holder() -> String {
        let info = holderInfo()
        guard let pid = info["pid"] else { return "a process that has not said who it is yet" }
        var s = "pid \(pid)"
        if let c = info["command"] { s += ": \(c)" }
        if let t = info["started"] { s += ", started \(t)" }
        return s
    }

    var holderPID: Int? { holderInfo()["pid"].flatMap { Int($0) } }

    private func holderInfo() -> [String: String] {
        var buf = [UInt8](repeating: 0, count: 1024)
        let n = pread(fd, &buf, buf.count, 0)
        guard n > 0 else { return [:] }
        var out: [String: String] = [:]
        for line in String(decoding: buf[0..<n], as: UTF8.self).split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
            if parts.count == 2 { out[parts[0]] = parts[1] }
        }
        return out
    }

    /// Releases the lock (also done when the process exits, and on deinit).
    public func release() {
        guard fd >= 0 else { return }
        _ = flock(fd, LOCK_UN)
        close(fd)
        fd = -1
    }

    /// Runs `body` holding the lock for cluster `name`.
    public static func withLock<T>(
        _ host: HostContext, name: String, command: String,
        wait: Duration = .seconds(600), _ body: () async throws -> T
    ) async throws -> T {
        let lock = try await acquire(host, name: name, command: command, wait: wait)
        defer { lock.release() }
        return try await body()
    }
}

extension HostContext {
    /// The home whose ~/.aphex this run uses: under `sudo`, the invoking user's (SUDO_UID),
    /// else this process's.
    public var invokingUserHome: String {
        guard let owner = PrivateFiles.invokingUser(environment), let pw = getpwuid(owner.uid),
            let dir = pw.pointee.pw_dir.map({ String(cString: $0) }), !dir.isEmpty
        else { return homeDirectory }
        return dir
    }
}
