import AphexCore
import CCurl
import Foundation

/// The real HTTP transport, over libcurl.
///
/// - One connection cache for every transfer: transfers run in one libcurl multi handle
///   (`CurlMultiLoop`), so sequential requests to a server ride one kept-alive TCP/TLS
///   connection, and over https concurrent requests wait for that connection and share it as
///   HTTP/2 streams (ALPN h2, as the API server offers and client-go uses) instead of each
///   making its own TLS handshake. Over HTTP/1.1 (plain http) concurrent requests get their
///   own connections, each kept alive for the next request.
/// - TLS from in-memory PEM blobs (CA, client certificate, client key) — nothing is written
///   to disk; the bearer token travels in a header that is never logged. A kubeconfig's CA is
///   the only trust anchor: libcurl's default CA file and directory (the system store) are
///   switched off when one is given.
/// - Bounded: a response body past the request's cap (`maxResponseBytes`, else 64 MiB) stops
///   the transfer (`TransportError.tooLarge`); redirects are followed to https only.
/// - Transfers are set up on a thread of their own and driven by the multi loop's thread,
///   never on the Swift concurrency pool. Cancelling the calling task aborts the transfer
///   (progress callback).
public final class CurlTransport: HTTPTransport, @unchecked Sendable {
    public let tls: TLSOptions
    /// TCP + TLS connect timeout.
    public let connectTimeout: Duration
    /// Whole-request timeout for `send` when the request has none. `stream` has no default
    /// whole-request timeout (a WATCH lasts as long as the server keeps it open).
    public let defaultTimeout: Duration
    /// Redirects followed (manifest downloads); more is an error.
    public let maxRedirects: Int
    /// The schemes a redirect may lead to (CURLOPT_REDIR_PROTOCOLS_STR): https only, so a
    /// redirect never downgrades to plain http or leaves for another protocol. This is the one
    /// place aphex sets it; tests against loopback HTTP servers widen it.
    public let redirectProtocols: String
    /// The cap on a `send` response body when the request sets none.
    public static let defaultMaxResponseBytes = 64 << 20
    /// false: a new connection per request (benchmarks, diagnosing proxies).
    public let reuseConnections: Bool

    /// Tests only: a CA file and directory set on every handle before the TLS options, standing
    /// in for the distribution's built-in defaults (which a test cannot change in-process).
    var builtInCAStoreForTests: (file: String, directory: String)?

    private let pool = CurlHandlePool()
    private let loop = CurlMultiLoop()
    private let statsLock = NSLock()
    private var _connectionsOpened = 0
    private var _requests = 0

    public init(
        tls: TLSOptions = TLSOptions(), connectTimeout: Duration = .seconds(10),
        defaultTimeout: Duration = .seconds(60), maxRedirects: Int = 10,
        reuseConnections: Bool = true, redirectProtocols: String = "https"
    ) {
        CurlGlobal.ensureInitialized()
        self.tls = tls
        self.connectTimeout = connectTimeout
        self.defaultTimeout = defaultTimeout
        self.maxRedirects = maxRedirects
        self.redirectProtocols = redirectProtocols
        self.reuseConnections = reuseConnections
    }

    deinit { loop.stop() }

    /// New TCP connections opened by this transport so far (CURLINFO_NUM_CONNECTS summed).
    public var connectionsOpened: Int { statsLock.withLock { _connectionsOpened } }
    /// Transfers performed so far.
    public var requestCount: Int { statsLock.withLock { _requests } }

    /// libcurl's version and TLS library, e.g. "libcurl 7.88.1 (OpenSSL/3.0.x)".
    public static var versionDescription: String {
        let n = aphex_curl_version_num()
        return
            "libcurl \((n >> 16) & 0xff).\((n >> 8) & 0xff).\(n & 0xff) (\(String(cString: aphex_curl_ssl_version())))"
    }

    /// In-memory PEM blobs (CURLOPT_CAINFO_BLOB) need libcurl >= 7.77.
    public static var supportsInMemoryCA: Bool { aphex_curl_version_num() >= 0x074D00 }

    // MARK: HTTPTransport

    public func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        let state = CurlRequestState(onData: nil, limit: request.maxResponseBytes ?? Self.defaultMaxResponseBytes)
        let status = try await execute(request, state: state, streaming: false)
        return HTTPResponse(status: status, headers: state.headers, body: state.body)
    }

    /// A stream has no whole-body cap unless the request sets one (a WATCH lasts as long as the
    /// server keeps it open; its consumer bounds each event).
    public func stream(_ request: HTTPRequest, onData: @escaping @Sendable ([UInt8]) -> Bool) async throws -> Int {
        let state = CurlRequestState(onData: onData, limit: request.maxResponseBytes)
        return try await execute(request, state: state, streaming: true)
    }

    // MARK: plumbing

    private func execute(_ request: HTTPRequest, state: CurlRequestState, streaming: Bool) async throws -> Int {
        // Cancellation resumes the caller at once; the aborted transfer winds down on its
        // thread (the progress callback notices within a second) and its bytes are dropped.
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (cont: CheckedContinuation<Int, any Error>) in
                guard state.attach(cont) else { return }
                // One thread per transfer: a blocking curl_easy_perform (a WATCH may last
                // minutes) must never hold a Swift concurrency thread or a width-limited
                // dispatch queue (2 threads on a 2-core host), or other requests would queue.
                let thread = Thread {
                    state.finish(Result { try self.performBlocking(request, state: state, streaming: streaming) })
                }
                thread.name = "aphex.curl"
                thread.start()
            }
        } onCancel: {
            state.cancel()
        }
    }

    private func performBlocking(_ request: HTTPRequest, state: CurlRequestState, streaming: Bool) throws -> Int {
        if state.isCancelled { throw CancellationError() }
        guard let h = pool.acquire() else { throw TransportError.other("libcurl could not create a handle") }
        var reusable = true
        defer { pool.release(h, keep: reusable) }
        curl_easy_reset(h)

        let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        defer { errorBuffer.deallocate() }

        var headerList: UnsafeMutablePointer<curl_slist>? = nil
        defer { if let headerList { curl_slist_free_all(headerList) } }

        var setupError: CURLcode = CURLE_OK
        func check(_ code: CURLcode) { if code != CURLE_OK && setupError == CURLE_OK { setupError = code } }

        check(aphex_curl_setopt_pointer(h, CURLOPT_ERRORBUFFER, errorBuffer))
        check(aphex_curl_setopt_string(h, CURLOPT_URL, request.url))
        check(aphex_curl_setopt_long(h, CURLOPT_NOSIGNAL, 1))
        check(aphex_curl_setopt_long(h, CURLOPT_TCP_KEEPALIVE, 1))
        check(aphex_curl_setopt_long(h, CURLOPT_FOLLOWLOCATION, 1))
        check(aphex_curl_setopt_long(h, CURLOPT_MAXREDIRS, maxRedirects))
        check(Self.restrictRedirects(h, to: redirectProtocols))
        if let limit = state.limit {
            // Refused before the body arrives when the server announces its size; the write
            // callback enforces the cap when it does not (chunked).
            check(aphex_curl_setopt_offset(h, CURLOPT_MAXFILESIZE_LARGE, curl_off_t(limit)))
        }
        check(aphex_curl_setopt_long(h, CURLOPT_CONNECTTIMEOUT_MS, Self.milliseconds(connectTimeout)))
        if let t = request.timeout ?? (streaming ? nil : defaultTimeout) {
            check(aphex_curl_setopt_long(h, CURLOPT_TIMEOUT_MS, Self.milliseconds(t)))
        }
        check(aphex_curl_setopt_string(h, CURLOPT_NOPROXY, CurlGlobal.noProxy))
        if !reuseConnections {
            check(aphex_curl_setopt_long(h, CURLOPT_FRESH_CONNECT, 1))
            check(aphex_curl_setopt_long(h, CURLOPT_FORBID_REUSE, 1))
        } else if request.url.lowercased().hasPrefix("https://") {
            // Wait for a connection being made to this server rather than opening another:
            // when it negotiates HTTP/2 the transfer becomes one more stream on it.
            check(aphex_curl_setopt_long(h, CURLOPT_PIPEWAIT, 1))
        }

        // Method and body.
        let method = request.method.uppercased()
        var bodyCopy: [UInt8] = request.body ?? []
        switch method {
        case "GET" where request.body == nil:
            check(aphex_curl_setopt_long(h, CURLOPT_HTTPGET, 1))
        case "HEAD":
            check(aphex_curl_setopt_long(h, CURLOPT_NOBODY, 1))
        default:
            if method != "POST" { check(aphex_curl_setopt_string(h, CURLOPT_CUSTOMREQUEST, method)) }
            if request.body != nil || method == "POST" {
                check(aphex_curl_setopt_long(h, CURLOPT_POST, 1))
                check(aphex_curl_setopt_offset(h, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(bodyCopy.count)))
                if bodyCopy.isEmpty { bodyCopy = [0] }
                bodyCopy.withUnsafeMutableBytes { raw in
                    check(aphex_curl_setopt_pointer(h, CURLOPT_COPYPOSTFIELDS, raw.baseAddress))
                }
            }
        }

        // Headers. The Authorization value is never logged or put in an error.
        var lines: [String] = []
        for (name, value) in request.headers.sorted(by: { $0.key < $1.key }) {
            lines.append(value.isEmpty ? "\(name);" : "\(name): \(value)")
        }
        if let token = tls.bearerToken, !token.isEmpty,
            !request.headers.keys.contains(where: { $0.lowercased() == "authorization" })
        {
            lines.append("Authorization: Bearer \(token)")
        }
        lines.append("Expect:")  // no 100-continue round trip for bodies
        if request.body != nil, !request.headers.keys.contains(where: { $0.lowercased() == "content-type" }) {
            lines.append("Content-Type: application/json")
        }
        for line in lines {
            guard let appended = curl_slist_append(headerList, line) else {
                throw TransportError.other("libcurl could not allocate request headers")
            }
            headerList = appended
        }
        check(aphex_curl_setopt_slist(h, CURLOPT_HTTPHEADER, headerList))

        if let store = builtInCAStoreForTests {
            check(aphex_curl_setopt_string(h, CURLOPT_CAINFO, store.file))
            check(aphex_curl_setopt_string(h, CURLOPT_CAPATH, store.directory))
        }
        Self.configureTLS(h, tls, check: check)

        // Callbacks.
        let userdata = Unmanaged.passUnretained(state).toOpaque()
        check(aphex_curl_setopt_callback(h, CURLOPT_WRITEFUNCTION, curlWriteCallback))
        check(aphex_curl_setopt_pointer(h, CURLOPT_WRITEDATA, userdata))
        check(aphex_curl_setopt_callback(h, CURLOPT_HEADERFUNCTION, curlHeaderCallback))
        check(aphex_curl_setopt_pointer(h, CURLOPT_HEADERDATA, userdata))
        check(aphex_curl_setopt_xferinfo(h, curlXferInfoCallback))
        check(aphex_curl_setopt_pointer(h, CURLOPT_XFERINFODATA, userdata))
        check(aphex_curl_setopt_long(h, CURLOPT_NOPROGRESS, 0))

        if setupError != CURLE_OK {
            reusable = false
            throw TransportError.other(
                """
                libcurl rejected an option for \(Self.redact(request.url)): \
                \(String(cString: curl_easy_strerror(setupError)))
                """
            )
        }

        let code = withExtendedLifetime(state) { loop.perform(h) }

        var connects: Int = 0
        if aphex_curl_getinfo_long(h, CURLINFO_NUM_CONNECTS, &connects) != CURLE_OK { connects = 0 }
        statsLock.withLock {
            _connectionsOpened += connects
            _requests += 1
        }
        var status: Int = 0
        _ = aphex_curl_getinfo_long(h, CURLINFO_RESPONSE_CODE, &status)

        if code == CURLE_OK { return status }
        if state.isCancelled { throw CancellationError() }
        if code == CURLE_WRITE_ERROR && state.stoppedByConsumer { return status }
        if code == CURLE_FILESIZE_EXCEEDED || (code == CURLE_WRITE_ERROR && state.exceededLimit),
            let limit = state.limit
        {
            throw TransportError.tooLarge(
                """
                \(Self.redact(request.url)): the response is larger than \(formatBytes(limit)), the most aphex \
                reads for this request; the transfer was stopped
                """
            )
        }
        var redirects: Int = 0
        _ = aphex_curl_getinfo_long(h, CURLINFO_REDIRECT_COUNT, &redirects)
        if code == CURLE_UNSUPPORTED_PROTOCOL && redirects > 0 {
            var target: UnsafeMutablePointer<CChar>? = nil
            _ = aphex_curl_getinfo_string(h, CURLINFO_EFFECTIVE_URL, &target)
            let to = target.map { Self.redact(String(cString: $0)) } ?? "another URL"
            throw TransportError.other(
                """
                \(Self.redact(request.url)) redirects to \(to); aphex follows redirects to https only \
                (\(redirectProtocols)), so it stopped there. Use the final https URL instead.
                """
            )
        }
        let detail = String(cString: errorBuffer)
        throw Self.mapError(
            code, detail: detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail,
            url: Self.redact(request.url))
    }

    /// TLS from memory. A kubeconfig's CA replaces every other trust anchor: CURLOPT_CAINFO_BLOB
    /// alone overrides only the default CA file, and Debian's libcurl would still trust its
    /// default CA directory (/etc/ssl/certs), i.e. any publicly trusted certificate for the
    /// server's name. So CAINFO and CAPATH are set to NULL besides.
    static func configureTLS(_ h: UnsafeMutableRawPointer, _ tls: TLSOptions, check: (CURLcode) -> Void) {
        if let ca = tls.caPEM, !ca.isEmpty {
            check(aphex_curl_setopt_string(h, CURLOPT_CAINFO, nil))
            check(aphex_curl_setopt_string(h, CURLOPT_CAPATH, nil))
            var blob = ca
            blob.withUnsafeMutableBytes { raw in
                check(aphex_curl_setopt_blob(h, CURLOPT_CAINFO_BLOB, raw.baseAddress, raw.count))
            }
        }
        if let cert = tls.clientCertPEM, !cert.isEmpty {
            var blob = cert
            check(aphex_curl_setopt_string(h, CURLOPT_SSLCERTTYPE, "PEM"))
            blob.withUnsafeMutableBytes { raw in
                check(aphex_curl_setopt_blob(h, CURLOPT_SSLCERT_BLOB, raw.baseAddress, raw.count))
            }
        }
        if let key = tls.clientKeyPEM, !key.isEmpty {
            var blob = key
            check(aphex_curl_setopt_string(h, CURLOPT_SSLKEYTYPE, "PEM"))
            blob.withUnsafeMutableBytes { raw in
                check(aphex_curl_setopt_blob(h, CURLOPT_SSLKEY_BLOB, raw.baseAddress, raw.count))
            }
        }
        if tls.insecureSkipVerify {
            check(aphex_curl_setopt_long(h, CURLOPT_SSL_VERIFYPEER, 0))
            check(aphex_curl_setopt_long(h, CURLOPT_SSL_VERIFYHOST, 0))
        }
    }

    /// libcurl's built-in CA file and directory (CURLINFO_CAINFO/CAPATH, libcurl >= 7.84): what
    /// every handle trusts unless told otherwise; Debian's is the system store.
    public static var builtInCALocations: (file: String?, directory: String?) {
        CurlGlobal.ensureInitialized()
        guard aphex_curl_version_num() >= 0x075400, let h = curl_easy_init() else { return (nil, nil) }
        defer { curl_easy_cleanup(h) }
        var file: UnsafeMutablePointer<CChar>? = nil
        var directory: UnsafeMutablePointer<CChar>? = nil
        _ = aphex_curl_getinfo_string(h, CURLINFO_CAINFO, &file)
        _ = aphex_curl_getinfo_string(h, CURLINFO_CAPATH, &directory)
        return (file.map { String(cString: $0) }, directory.map { String(cString: $0) })
    }

    /// Redirects may only lead to `protocols` (libcurl >= 7.85 takes names; older ones a mask).
    static func restrictRedirects(_ h: UnsafeMutableRawPointer, to protocols: String) -> CURLcode {
        if aphex_curl_version_num() >= 0x075500 {
            return aphex_curl_setopt_string(h, CURLOPT_REDIR_PROTOCOLS_STR, protocols)
        }
        var mask = 0
        for p in protocols.split(separator: ",") {
            switch p.trimmingCharacters(in: .whitespaces).lowercased() {
            case "https": mask |= Int(CURLPROTO_HTTPS)
            case "http": mask |= Int(CURLPROTO_HTTP)
            default: break
            }
        }
        return aphex_curl_setopt_long(h, CURLOPT_REDIR_PROTOCOLS, mask)
    }

    static func milliseconds(_ d: Duration) -> Int {
        let c = d.components
        return max(1, Int(c.seconds) * 1000 + Int(c.attoseconds / 1_000_000_000_000_000))
    }

    /// The URL without userinfo or query (queries may carry tokens).
    static func redact(_ url: String) -> String {
        guard var c = URLComponents(string: url) else { return url }
        c.user = nil
        c.password = nil
        c.query = nil
        return c.string ?? url
    }

    /// curl's error (by number) -> the transport error callers reason about.
    static func mapError(rawCode: UInt32, detail: String, url: String) -> TransportError {
        mapError(CURLcode(rawValue: rawCode), detail: detail, url: url)
    }

    /// curl's error -> the transport error callers reason about.
    static func mapError(_ code: CURLcode, detail: String, url: String) -> TransportError {
        let lower = detail.lowercased()
        switch code {
        case CURLE_COULDNT_CONNECT:
            if lower.contains("timed out") || lower.contains("timeout") { return .timedOut("\(url) (\(detail))") }
            return .connectionRefused("\(url) (\(detail))")
        case CURLE_OPERATION_TIMEDOUT:
            return .timedOut("\(url) (\(detail))")
        case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY:
            return .dns("\(url) (\(detail))")
        case CURLE_SSL_CONNECT_ERROR where droppedConnection(lower):
            // The server (or something in between) dropped the connection during the handshake:
            // nothing was sent, and a new connection usually succeeds.
            return .connectionReset("\(url) (during the TLS handshake: \(detail))")
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM,
            CURLE_SSL_CIPHER, CURLE_SSL_CACERT_BADFILE, CURLE_SSL_ENGINE_NOTFOUND,
            CURLE_SSL_ENGINE_SETFAILED, CURLE_SSL_ENGINE_INITFAILED, CURLE_USE_SSL_FAILED,
            CURLE_SSL_SHUTDOWN_FAILED, CURLE_SSL_CRL_BADFILE, CURLE_SSL_ISSUER_ERROR,
            CURLE_SSL_PINNEDPUBKEYNOTMATCH, CURLE_SSL_INVALIDCERTSTATUS, CURLE_SSL_CLIENTCERT:
            return .tls("\(url): \(detail)")
        case CURLE_RECV_ERROR, CURLE_SEND_ERROR, CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE, CURLE_HTTP2,
            CURLE_HTTP2_STREAM:
            // A TLS alert during the exchange (e.g. "certificate required" from a server that
            // demands a client certificate under TLS 1.3) is a TLS problem, not a flaky network.
            if !droppedConnection(lower)
                && (lower.contains("alert") || lower.contains("ssl routines") || lower.contains("certificate"))
            {
                return .tls("\(url): \(detail)")
            }
            return .connectionReset("\(url) (\(detail))")
        case CURLE_FILESIZE_EXCEEDED:
            return .tooLarge("\(url): the response is larger than aphex accepts for this request")
        case CURLE_TOO_MANY_REDIRECTS:
            return .other("too many redirects (more than allowed) fetching \(url)")
        case CURLE_UNSUPPORTED_PROTOCOL, CURLE_URL_MALFORMAT:
            return .other("bad URL \(url): \(detail)")
        default:
            return .other("request to \(url) failed: \(detail) (curl error \(code.rawValue))")
        }
    }
}

extension CurlTransport {
    /// An error text that says the connection went away (reset, EOF) rather than that TLS
    /// judged something (an alert, a certificate): worth another connection.
    static func droppedConnection(_ lower: String) -> Bool {
        let dropped = [
            "reset by peer", "connection reset", "ssl_error_syscall", "unexpected eof", "broken pipe", "connection died"
        ]
        let verdicts = ["alert", "certificate", "verify", "wrong version number", "handshake failure"]
        return dropped.contains { lower.contains($0) } && !verdicts.contains { lower.contains($0) }
    }
}

// MARK: - libcurl plumbing

enum CurlGlobal {
    private static let initOnce: Void = { _ = aphex_curl_global_init_all() }()
    static func ensureInitialized() { _ = initOnce }
    /// libcurl honours http(s)_proxy; like kubectl (Go's ProxyFromEnvironment), loopback
    /// addresses never go through a proxy. NO_PROXY entries are kept.
    static let noProxy: String = {
        let env = ProcessInfo.processInfo.environment
        var entries = (env["NO_PROXY"] ?? env["no_proxy"] ?? "").split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        if entries.contains("*") { return "*" }
        for local in ["localhost", "127.0.0.1", "::1"] where !entries.contains(local) { entries.append(local) }
        return entries.joined(separator: ",")
    }()
}

/// One libcurl multi handle and the thread that drives it. `perform` hands it a configured easy
/// handle and blocks the calling (per-transfer) thread until the transfer is done; the multi
/// handle keeps the connection cache, so every transfer of the transport shares connections
/// (and HTTP/2 streams). Only the loop thread calls curl_multi_* (but curl_multi_wakeup).
final class CurlMultiLoop: @unchecked Sendable {
    private let multi: UnsafeMutableRawPointer?
    private let lock = NSLock()
    private var incoming: [(handle: UnsafeMutableRawPointer, done: (CURLcode) -> Void)] = []
    private var stopped = false
    private var threadStarted = false

    init() {
        CurlGlobal.ensureInitialized()
        multi = curl_multi_init()
        if let multi { _ = aphex_curl_multi_setopt_long(multi, CURLMOPT_PIPELINING, Int(CURLPIPE_MULTIPLEX)) }
    }

    /// Runs one transfer on the loop (blocking). Without a multi handle, falls back to
    /// curl_easy_perform (same result, no shared connections).
    func perform(_ h: UnsafeMutableRawPointer) -> CURLcode {
        guard let multi else { return curl_easy_perform(h) }
        let done = DispatchSemaphore(value: 0)
        let result = ResultSlot()
        let startThread: Bool = lock.withLock {
            incoming.append(
                (
                    h,
                    { code in
                        result.code = code
                        done.signal()
                    }
                ))
            defer { threadStarted = true }
            return !threadStarted
        }
        if startThread {
            let t = Thread { [self] in run() }
            t.name = "aphex.curl-multi"
            t.start()
        } else {
            _ = curl_multi_wakeup(multi)
        }
        done.wait()
        return result.code
    }

    /// Ends the loop once its transfers are done (it then cleans the multi handle up); a loop
    /// that never ran a transfer has no thread, and cleans up here.
    func stop() {
        let running: Bool = lock.withLock {
            stopped = true
            return threadStarted
        }
        guard let multi else { return }
        if running { _ = curl_multi_wakeup(multi) } else { curl_multi_cleanup(multi) }
    }

    private final class ResultSlot: @unchecked Sendable { var code: CURLcode = CURLE_OK }

    private func run() {
        guard let multi else { return }
        var active: [UnsafeMutableRawPointer: (CURLcode) -> Void] = [:]
        while true {
            let (batch, stop): ([(handle: UnsafeMutableRawPointer, done: (CURLcode) -> Void)], Bool) = lock.withLock {
                defer { incoming = [] }
                return (incoming, stopped)
            }
            for item in batch {
                let rc = curl_multi_add_handle(multi, item.handle)
                if rc == CURLM_OK { active[item.handle] = item.done } else { item.done(CURLE_FAILED_INIT) }
            }
            // Stopped by the transport's deinit, which cannot run while one of its transfers is
            // under way: nothing can be handed over any more.
            if stop && active.isEmpty { break }
            var running: Int32 = 0
            _ = curl_multi_perform(multi, &running)
            var left: Int32 = 0
            while let msg = curl_multi_info_read(multi, &left) {
                guard msg.pointee.msg == CURLMSG_DONE, let h = msg.pointee.easy_handle else { continue }
                let code = aphex_curl_msg_result(msg)
                _ = curl_multi_remove_handle(multi, h)
                active.removeValue(forKey: h)?(code)
            }
            // Sleeps until a socket is ready, libcurl's next timer, a hand-over (curl_multi_wakeup
            // is remembered if it comes before the poll) or, with transfers under way, a second
            // at most, so the progress callback sees a cancellation promptly.
            _ = curl_multi_poll(multi, nil, 0, active.isEmpty ? 60_000 : 1000, nil)
        }
        curl_multi_cleanup(multi)
    }
}

/// Idle easy handles, most recently used first.
final class CurlHandlePool: @unchecked Sendable {
    private let lock = NSLock()
    private var idle: [UnsafeMutableRawPointer] = []
    private let maxIdle: Int

    init(maxIdle: Int = 4) { self.maxIdle = maxIdle }

    func acquire() -> UnsafeMutableRawPointer? {
        if let h = lock.withLock({ idle.popLast() }) { return h }
        return curl_easy_init()
    }

    func release(_ h: UnsafeMutableRawPointer, keep: Bool) {
        let drop: Bool = lock.withLock {
            if keep && idle.count < maxIdle {
                idle.append(h)
                return false
            }
            return true
        }
        if drop { curl_easy_cleanup(h) }
    }

    deinit {
        for h in idle { curl_easy_cleanup(h) }
    }
}

/// Per-transfer state shared with the C callbacks (through an unretained pointer; the
/// transfer's frame keeps it alive).
final class CurlRequestState: @unchecked Sendable {
    let onData: (@Sendable ([UInt8]) -> Bool)?
    /// The most body bytes accepted (nil: no cap).
    let limit: Int?
    var body: [UInt8] = []
    var received = 0
    var headers: [String: String] = [:]
    var stoppedByConsumer = false
    var exceededLimit = false
    private let lock = NSLock()
    private var cancelled = false

    init(onData: (@Sendable ([UInt8]) -> Bool)?, limit: Int? = nil) {
        self.onData = onData
        self.limit = limit
    }

    private var continuation: CheckedContinuation<Int, any Error>?

    /// Stores the caller's continuation; false (and resumed with CancellationError) when the
    /// task was cancelled before the transfer started.
    func attach(_ c: CheckedContinuation<Int, any Error>) -> Bool {
        let alreadyCancelled: Bool = lock.withLock {
            if cancelled { return true }
            continuation = c
            return false
        }
        if alreadyCancelled { c.resume(throwing: CancellationError()) }
        return !alreadyCancelled
    }

    /// Resumes the caller once (the first of: the transfer's result, cancellation).
    func finish(_ result: Result<Int, any Error>) {
        let c: CheckedContinuation<Int, any Error>? = lock.withLock {
            defer { continuation = nil }
            return continuation
        }
        c?.resume(with: result)
    }

    func cancel() {
        let c: CheckedContinuation<Int, any Error>? = lock.withLock {
            cancelled = true
            defer { continuation = nil }
            return continuation
        }
        c?.resume(throwing: CancellationError())
    }
    var isCancelled: Bool { lock.withLock { cancelled } }

    func receive(_ bytes: UnsafeRawBufferPointer) -> Bool {
        if isCancelled { return false }
        received += bytes.count
        if let limit, received > limit {
            exceededLimit = true
            return false
        }
        if let onData {
            if !onData(Array(bytes)) {
                stoppedByConsumer = true
                return false
            }
        } else {
            body.append(contentsOf: bytes)
        }
        return true
    }

    func header(_ bytes: UnsafeRawBufferPointer) {
        let line = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if line.hasPrefix("HTTP/") {
            headers = [:]
            return
        }  // a new response (redirect, 100)
        guard let colon = line.firstIndex(of: ":") else { return }
        let name = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
        let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        if let old = headers[name] { headers[name] = old + ", " + value } else { headers[name] = value }
    }
}

private let curlWriteCallback: aphex_curl_data_cb = { ptr, size, nmemb, userdata in
    let n = size * nmemb
    guard let userdata else { return 0 }
    let state = Unmanaged<CurlRequestState>.fromOpaque(userdata).takeUnretainedValue()
    return state.receive(UnsafeRawBufferPointer(start: ptr, count: n)) ? n : 0
}

private let curlHeaderCallback: aphex_curl_data_cb = { ptr, size, nmemb, userdata in
    let n = size * nmemb
    guard let userdata else { return 0 }
    let state = Unmanaged<CurlRequestState>.fromOpaque(userdata).takeUnretainedValue()
    state.header(UnsafeRawBufferPointer(start: ptr, count: n))
    return n
}

private let curlXferInfoCallback: aphex_curl_xferinfo_cb = { clientp, _, _, _, _ in
    guard let clientp else { return 0 }
    let state = Unmanaged<CurlRequestState>.fromOpaque(clientp).takeUnretainedValue()
    return state.isCancelled ? 1 : 0
}
