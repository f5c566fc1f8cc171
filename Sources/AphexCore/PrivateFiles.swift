import Foundation

// MARK: - Private files (kubeconfigs hold client keys)

public enum PrivateFiles {
    /// uid/gid of the user behind `sudo` (SUDO_UID/SUDO_GID), so files aphex writes into that
    /// user's home as root stay theirs. nil when not under sudo.
    public static func invokingUser(_ env: [String: String]) -> (uid: uid_t, gid: gid_t)? {
        guard geteuid() == 0, let u = env["SUDO_UID"].flatMap({ UInt32($0) }),
            let g = env["SUDO_GID"].flatMap({ UInt32($0) }), u != 0
        else { return nil }
        return (u, g)
    }

    /// Creates `dir` (and parents) with mode 0700 where missing.
    public static func makeDirectory(_ dir: String, owner: (uid: uid_t, gid: gid_t)? = nil) throws {
        var missing: [String] = []
        var cur = dir
        while !cur.isEmpty && cur != "/" && !FileManager.default.fileExists(atPath: cur) {
            missing.append(cur)
            cur = (cur as NSString).deletingLastPathComponent
        }
        for d in missing.reversed() {
            if mkdir(d, 0o700) != 0 && errno != EEXIST {
                throw AphexError.failed(
                    """
                    Could not create the directory \(d): \(String(cString: strerror(errno))). Check that your \
                    home directory is writable.
                    """
                )
            }
            if let owner { _ = chown(d, owner.uid, owner.gid) }
        }
    }

    /// `write(..., replace: false)` found the file already there (and left it as it was).
    public struct FileExists: Error, Equatable {
        public var path: String
        public init(path: String) { self.path = path }
    }

    /// Writes `bytes` to `path` with its mode from the moment the file exists (0600 unless
    /// `mode` says otherwise): every aphex-written file (kubeconfigs, records, reports, exports)
    /// goes through here. A new file is created (O_EXCL|O_NOFOLLOW) next to the target, written,
    /// fsync'ed and renamed over it, so a reader never sees half a file and an existing file
    /// with looser permissions is replaced, never loosened or chmod'ed. Missing directories are
    /// created 0700. `replace: false`: an existing `path` is never touched and `FileExists` is
    /// thrown (the complete temporary file is linked into place, which fails if one is there).
    public static func write(
        _ bytes: [UInt8], to path: String, mode: mode_t = 0o600,
        owner: (uid: uid_t, gid: gid_t)? = nil, replace: Bool = true
    ) throws {
        let dir = (path as NSString).deletingLastPathComponent
        try makeDirectory(dir, owner: owner)
        let tmp = "\(dir)/.\((path as NSString).lastPathComponent).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard fd >= 0 else {
            throw AphexError.failed(
                "Could not create \(tmp): \(String(cString: strerror(errno))). Check the permissions of \(dir).")
        }
        var ok = true
        bytes.withUnsafeBytes { buf in
            var off = 0
            while off < buf.count {
                let n = Foundation.write(fd, buf.baseAddress! + off, buf.count - off)
                if n <= 0 {
                    if errno == EINTR { continue }
                    ok = false
                    return
                }
                off += n
            }
        }
        if let owner { _ = fchown(fd, owner.uid, owner.gid) }
        if fsync(fd) != 0 { ok = false }
        close(fd)
        guard ok, replace ? rename(tmp, path) == 0 : link(tmp, path) == 0 else {
            let code = errno
            unlink(tmp)
            if ok && !replace && code == EEXIST { throw FileExists(path: path) }
            throw AphexError.failed("Could not write \(path): \(String(cString: strerror(code))).")
        }
        if !replace { unlink(tmp) }
    }

    /// ~/.aphex/tmp: scratch space for files that must never sit in a shared /tmp, such as the
    /// admin kubeconfig a kind probe writes. Each directory is private (0700, like its parent)
    /// and named after the process (`PID.PURPOSE.XXXXXX`): the caller removes it, and if aphex
    /// was killed first, the next run removes it (`removeStaleTemporaryDirectories`).
    public static func temporaryDirectory(home: String, purpose: String) throws -> String {
        let base = home + "/.aphex/tmp"
        removeStaleTemporaryDirectories(home: home)
        // Another run may remove the empty base between the two calls: try again then.
        for _ in 0..<5 {
            try makeDirectory(base)
            var template = Array("\(base)/\(getpid()).\(purpose).XXXXXX".utf8CString)
            if let p = mkdtemp(&template) { return String(cString: p) }
            if errno != ENOENT { break }
        }
        throw AphexError.failed(
            """
            Could not create a private directory under \(base): \(String(cString: strerror(errno))). Check the \
            permissions of \(home)/.aphex.
            """
        )
    }

    /// Removes a `temporaryDirectory`, and ~/.aphex/tmp and ~/.aphex when that leaves them
    /// empty, so a run that changed nothing leaves nothing behind.
    public static func removeTemporaryDirectory(_ dir: String, home: String) {
        try? FileManager.default.removeItem(atPath: dir)
        if rmdir(home + "/.aphex/tmp") == 0 { _ = rmdir(home + "/.aphex") }
    }

    /// Removes the ~/.aphex/tmp directories of aphex processes that no longer run (killed
    /// before they could clean up). Directories of live processes are left alone.
    public static func removeStaleTemporaryDirectories(home: String) {
        let base = home + "/.aphex/tmp"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: base) else { return }
        for name in names {
            guard let pid = name.split(separator: ".").first.flatMap({ pid_t($0) }), pid > 0, pid != getpid() else {
                continue
            }
            if kill(pid, 0) == -1 && errno == ESRCH {
                try? FileManager.default.removeItem(atPath: base + "/" + name)
            }
        }
    }

    /// File mode bits (for tests and checks), nil when missing.
    public static func mode(_ path: String) -> mode_t? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return st.st_mode & 0o7777
    }
}
