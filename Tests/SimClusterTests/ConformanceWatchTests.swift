import AphexCore
import KubeClient
import Foundation
@testable import SimCluster
import Testing
import TestSupport

/// Watches, held to list-watch/watch-*.json, their byte-exact bodies (.body.ndjson) and raw
/// wire (.wire.txt): status, headers, chunked framing (one terminating 0-chunk), the event
/// sequence and the objects' structure, BOOKMARKs, and the in-stream 410.
@Suite(.serialized) struct ConformanceWatch {
    struct Recorded {
        var query: [String: String]
        var status: Int
        var headers: [String: String]
        var chunks: [Int]
        var events: [JSON]
        /// Event sizes per TCP read group (events that arrived together).
        var body: [String]

        init(_ stem: String) throws {
            let j = try RealAPI.load("list-watch/\(stem).json")
            query = j[path: "request", "query"]?.stringMap ?? [:]
            status = Int(j[path: "response", "status"]?.int ?? 0)
            var h: [String: String] = [:]
            for (k, v) in j[path: "response", "headers"]?.stringMap ?? [:] { h[k.lowercased()] = v }
            headers = h
            chunks = (j[path: "response", "chunks"]?.array ?? []).compactMap { $0.int.map(Int.init) }
            body = String(decoding: try RealAPI.bytes("list-watch/\(stem).body.ndjson"), as: UTF8.self)
                .split(separator: "\n").map(String.init)
            events = body.compactMap { try? JSON.parse($0) }
        }
    }

    /// The bytes Go's bufio.Writer (2048) hands to the chunked writer when `batches` of events
    /// are written, each batch followed by a Flush (the watch encoder flushes when no further
    /// event is pending): the chunk sizes a client sees.
    static func bufioChunks(_ batches: [[Int]]) -> [Int] {
        var out: [Int] = [], buffered = 0
        for batch in batches {
            for var p in batch {
                while p > 2048 - buffered {
                    if buffered == 0 {
                        out.append(p)
                        p = 0
                    } else {
                        p -= 2048 - buffered
                        out.append(2048)
                        buffered = 0
                    }
                }
                buffered += p
            }
            if buffered > 0 {
                out.append(buffered)
                buffered = 0
            }
        }
        return out
    }

    /// The model reproduces the recorded framing from the recorded event sizes and arrival
    /// groups (the replayed ConfigMap history shares 2 KB chunks; large events go alone).
    @Test func goBufferedFramingModelMatchesTheRecordings() throws {
        let replayed = try Recorded("watch-configmaps-rv1-replayed")
        #expect(Self.bufioChunks([replayed.body.map { $0.utf8.count + 1 }]) == replayed.chunks)
        let rv0 = try Recorded("watch-applications-rv0")
        #expect(Self.bufioChunks([rv0.body.map { $0.utf8.count + 1 }]) == rv0.chunks)
        let live = try Recorded("watch-applications")
        #expect(Self.bufioChunks(live.body.map { [$0.utf8.count + 1] }) == live.chunks)
    }

    /// A watch over the loopback socket, read to its end while `during` drives the world.
    static func watch(_ sim: SimCluster, _ target: String, clock: VirtualClock?, during: (() throws -> Void)? = nil)
        throws -> WireResponse
    {
        let box = ResultBox<Result<WireResponse, Error>>()
        let done = DispatchSemaphore(value: 0)
        let port = sim.server.port
        Thread {
            box.value = Result {
                try WireClient.send(port: port, method: "GET", target: target, headers: ["Accept": "application/json"])
            }
            done.signal()
        }.start()
        usleep(100_000)
        try during?()
        // Let the stream run to its timeoutSeconds in virtual time.
        var ended = false
        for _ in 0..<200 {
            if done.wait(timeout: .now()) == .success {
                ended = true
                break
            }
            clock?.advance(by: .milliseconds(100))
            usleep(2_000)
        }
        guard ended || done.wait(timeout: .now() + 30) == .success, let r = box.value else {
            throw SimError("the watch did not end")
        }
        return try r.get()
    }

    static func events(_ r: WireResponse) -> [JSON] {
        r.text.split(separator: "\n").compactMap { try? JSON.parse(String($0)) }
    }

    static func checkHead(_ r: WireResponse, _ rec: Recorded) {
        #expect(r.status == rec.status)
        for h in ["cache-control", "content-type", "transfer-encoding"] {
            #expect(r.headers[h]?.lowercased() == rec.headers[h]?.lowercased(), "\(h)")
        }
    }

    static let applications = "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications"

    @Test func watchFromAListVersionStreamsLiveEventsThenBookmarksThenEnds() throws {
        let rec = try Recorded("watch-applications")
        let clock = VirtualClock(mode: .manual, epoch: Date())
        let sim = try SimCluster(scenario: Scenario.load("conformance"), clock: clock)
        try Conformance.run(.seedApplications, sim)
        let rv =
            try WireClient.send(port: sim.server.port, method: "GET", target: Self.applications).json?[
                path: "metadata", "resourceVersion"]?.string ?? ""
        let target = Self.applications + "?allowWatchBookmarks=true&resourceVersion=\(rv)&timeoutSeconds=5&watch=true"
        let r = try Self.watch(sim, target, clock: clock) {
            func send(_ method: String, _ path: String, _ type: String, _ body: String) throws {
                let resp = try WireClient.send(
                    port: sim.server.port, method: method, target: path, headers: ["Content-Type": type],
                    body: Array(body.utf8))
                guard resp.status < 300 else { throw SimError("\(method) \(path): \(resp.status) \(resp.text)") }
                clock.advance(by: .milliseconds(500))
                usleep(150_000)  // the watch loop delivers it before the next write
            }
            try send(
                "PATCH", Self.applications + "/platform-gpu", "application/merge-patch+json",
                #"{"metadata":{"labels":{"watch-demo":"1"}}}"#)
            // The Application the capture created: the recorded ADDED event's object, as a client sends it.
            var demo = rec.events[1]["object"] ?? [:]
            demo["metadata"] = ["name": "watch-demo", "namespace": "argocd"]
            demo["status"] = nil
            try send("POST", Self.applications, "application/json", demo.serialized())
            try send("DELETE", Self.applications + "/watch-demo", "application/json", "")
        }
        Self.checkHead(r, rec)
        let got = Self.events(r)
        #expect(got.map { $0["type"]?.string ?? "" } == rec.events.map { $0["type"]?.string ?? "" })
        #expect(
            got.compactMap { $0[path: "object", "metadata", "name"]?.string } == [
                "platform-gpu", "watch-demo", "watch-demo"
            ])
        for (g, w) in zip(got, rec.events) {
            #expect(
                Shape.diff(w, g, relax: ["skip:.object.status", "skip:.object.metadata.managedFields"]).isEmpty,
                "\(w["type"]?.string ?? ""): \(Shape.diff(w, g))")
        }
        // Each event arrived on its own, so each is its own chunk (Go flushes when none is pending).
        #expect(r.chunkSizes == Self.bufioChunks(r.text.split(separator: "\n").map { [$0.utf8.count + 1] }))
    }

    @Test(arguments: ["watch-applications-rv0", "watch-applications-no-rv"])
    func watchWithoutAVersionStartsWithTheCurrentObjects(_ stem: String) throws {
        let rec = try Recorded(stem)
        let sim = try Conformance.world()
        try Conformance.run(.seedApplications, sim)
        // Recorded after the live watch test's merge patch of platform-gpu's labels.
        _ = try WireClient.send(
            port: sim.server.port, method: "PATCH", target: Self.applications + "/platform-gpu",
            headers: ["Content-Type": "application/merge-patch+json"],
            body: Array(#"{"metadata":{"labels":{"watch-demo":"1"}}}"#.utf8))
        let query = rec.query.keys.sorted().map { "\($0)=\(rec.query[$0]!)" }.joined(separator: "&")
        let r = try Self.watch(sim, Self.applications + "?" + query, clock: sim.virtualClock)
        Self.checkHead(r, rec)
        let got = Self.events(r)
        #expect(got.map { $0["type"]?.string ?? "" } == rec.events.map { $0["type"]?.string ?? "" })
        #expect(
            got.compactMap { $0[path: "object", "metadata", "name"]?.string }
                == rec.events.compactMap { $0[path: "object", "metadata", "name"]?.string })
        for (g, w) in zip(got, rec.events) { #expect(Shape.diff(w, g).isEmpty, "\(Shape.diff(w, g))") }
        // Written together: Go's buffered framing, as recorded.
        #expect(r.chunkSizes == Self.bufioChunks([r.text.split(separator: "\n").map { $0.utf8.count + 1 }]))
    }

    @Test func sendInitialEventsIsRefusedWithAPlainResponse() throws {
        let rec = try Recorded("watch-applications-sendinitialevents")
        let recorded = try #require(
            try RealAPI.load("list-watch/watch-applications-sendinitialevents.json")["non_stream_body"])
        let sim = try Conformance.world()
        try Conformance.run(.seedApplications, sim)
        let query = rec.query.keys.sorted().map { "\($0)=\(rec.query[$0]!)" }.joined(separator: "&")
        let r = try WireClient.send(port: sim.server.port, method: "GET", target: Self.applications + "?" + query)
        #expect(r.status == 422 && !r.chunked && r.headers["content-length"] != nil)
        #expect(r.headers["content-type"] == "application/json" && r.headers["cache-control"] == "no-cache, private")
        #expect(r.json == recorded)
        #expect(Shape.topLevelKeys(r.body) == SimWire.statusKeys)
    }

    /// A young server replays its watch cache for any old version; once the cache dropped
    /// events, the same request is an in-stream 410.
    @Test func anOldVersionIsReplayedUntilTheHistoryWrapsThenExpires() throws {
        let replayed = try Recorded("watch-configmaps-rv1-replayed")
        let sim = try Conformance.world()
        for f in ["crud/201-create-configmap.json", "crud/201-create-unknown-field-warn.json"]
            + Conformance.conflictFiles.map({ Conformance.conflict + $0 })
        {
            try Conformance.run(.replay(f), sim)
        }
        let target =
            """
            /api/v1/namespaces/default/configmaps?allowWatchBookmarks=true&resourceVersion=1&timeoutSeconds=5&\
            watch=true
            """
        let r = try Self.watch(sim, target, clock: sim.virtualClock)
        Self.checkHead(r, replayed)
        let got = Self.events(r)
        let types = Set(got.compactMap { $0["type"]?.string })
        #expect(types.subtracting(["ADDED", "MODIFIED", "BOOKMARK"]).isEmpty, "\(types)")
        #expect(got.first?[path: "object", "metadata", "name"] == "kube-root-ca.crt")
        #expect(got.contains { $0["type"] == "MODIFIED" && $0[path: "object", "metadata", "name"] == "conflict" })
        // The replayed history is written at once (2 KB chunks), each BOOKMARK later on its own.
        let sizes = r.text.split(separator: "\n").map { $0.utf8.count + 1 }
        let bookmarks = got.filter { $0["type"] == "BOOKMARK" }.count
        #expect(bookmarks == 2)
        #expect(
            r.chunkSizes == Self.bufioChunks([Array(sizes.dropLast(bookmarks))] + sizes.suffix(bookmarks).map { [$0] }),
            "\(r.chunkSizes)")

        // Wrap the history: many updates of one ConfigMap with a small watch cache.
        sim.world.lock.lock()
        sim.world.historyCapacity = 40
        sim.world.lock.unlock()
        for i in 0..<60 {
            _ = try WireClient.send(
                port: sim.server.port, method: "PATCH", target: "/api/v1/namespaces/default/configmaps/cm1",
                headers: ["Content-Type": "application/merge-patch+json"], body: Array(#"{"data":{"i":"\#(i)"}}"#.utf8))
        }
        for stem in ["watch-configmaps-rv1-after-wrap", "watch-configmaps-too-old-410"] {
            let rec = try Recorded(stem)
            let expired = try Self.watch(
                sim,
                """
                /api/v1/namespaces/default/configmaps?allowWatchBookmarks=true&\
                resourceVersion=\(rec.query["resourceVersion"]!)&timeoutSeconds=5&watch=true
                """,
                clock: sim.virtualClock)
            Self.checkHead(expired, rec)
            let events = Self.events(expired)
            #expect(events.count == 1 && expired.chunkSizes.count == 1)
            #expect(Shape.diff(rec.events[0], events[0]).isEmpty)
            let message = events.first?[path: "object", "message"]?.string ?? ""
            #expect(
                message.range(of: #"^too old resource version: \d+ \(\d+\)$"#, options: .regularExpression) != nil,
                "\(message)")
            #expect(Shape.topLevelKeys(Array(expired.text.utf8)) == ["type", "object"])
        }
    }
}
