import AphexCore
import Foundation
import KubeClient
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The JSON half of the hand-written-infrastructure question (issue 16, docs/architecture.md):
/// decoding the simulator's ArgoCD Application list (scenario bench-25, converged: platform-root
/// and 25 children, ~53 KiB, as `aphex status` reads it) with
///   (a) aphex's own parser `JSON.parse`, then the fields aphex reads, read by subscript as
///       Waves/Readiness/Webhook/StatusSnapshot do today;
///   (b) Swift 6's `JSONDecoder` into typed, field-limited models (BenchApplicationModels.swift);
///   (c) JSONSerialization, for reference (and with `JSON(any:)`, the path aphex replaced).
/// Run by scripts/bench-json.sh (release build): APHEX_BENCH_JSON_FILE=<list.json>
/// [APHEX_BENCH_ITERATIONS=300]; skipped otherwise.
@Suite struct JSONDecodeBenchmark {
    static var file: String? { ProcessInfo.processInfo.environment["APHEX_BENCH_JSON_FILE"] }
    static var iterations: Int {
        ProcessInfo.processInfo.environment["APHEX_BENCH_ITERATIONS"].flatMap(Int.init) ?? 300
    }

    @Test(.enabled(if: JSONDecodeBenchmark.file != nil))
    func applicationListDecoders() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: Self.file!))
        let bytes = [UInt8](data)
        // Both ways read the same values: (a) and (b) must agree before either is timed.
        let today = try Self.extract(JSON.parse(bytes))
        let codable = try JSONDecoder().decode(BenchApplicationList.self, from: data)
        #expect(today == codable)
        #expect(codable.items.count > 1)
        let kib = String(format: "%.1f", Double(bytes.count) / 1024)
        print(
            "BENCH json input: \(bytes.count) bytes (\(kib) KiB), \(codable.items.count) Applications, "
                + "\(Self.iterations) iterations each")

        let n = Self.iterations
        Self.report("(a) JSON.parse + field reads (today)", n) { _ = try Self.extract(JSON.parse(bytes)) }
        Self.report("(a1) JSON.parse alone", n) { _ = try JSON.parse(bytes) }
        Self.report("(b) JSONDecoder, typed field-limited models", n) {
            _ = try JSONDecoder().decode(BenchApplicationList.self, from: data)
        }
        Self.report("(b1) JSONDecoder from [UInt8] (incl. Data copy)", n) {
            _ = try JSONDecoder().decode(BenchApplicationList.self, from: Data(bytes))
        }
        Self.report("(b2) JSONDecoder into the JSON enum (Codable)", n) {
            _ = try JSONDecoder().decode(JSON.self, from: data)
        }
        Self.report("(c) JSONSerialization.jsonObject", n) { _ = try JSONSerialization.jsonObject(with: data) }
        Self.report("(c1) JSONSerialization + JSON(any:)", n) {
            _ = JSON(any: try JSONSerialization.jsonObject(with: data))
        }

        // Heap held by each decoded form (malloc's in-use bytes before and after, result alive).
        Self.retained("(a) JSON value tree") { try JSON.parse(bytes) }
        Self.retained("(a) typed values read from it") { try Self.extract(JSON.parse(bytes)) }
        Self.retained("(b) typed values (JSONDecoder)") {
            try JSONDecoder().decode(BenchApplicationList.self, from: data)
        }
        Self.retained("(c) Foundation object tree") { try JSONSerialization.jsonObject(with: data) }
    }

    /// The field reads aphex does today, by `JSON` subscript, into the typed models (so (a) and
    /// (b) produce the same values and can be compared).
    static func extract(_ list: JSON) -> BenchApplicationList {
        typealias App = BenchApplication
        typealias Op = App.Status.OperationState
        func metadata(_ m: JSON) -> App.Metadata {
            App.Metadata(
                name: m["name"]?.string, namespace: m["namespace"]?.string,
                creationTimestamp: m["creationTimestamp"]?.string,
                annotations: m["annotations"]?.stringMap, labels: m["labels"]?.stringMap)
        }
        func spec(_ s: JSON) -> App.Spec {
            App.Spec(
                source: s["source"].map { .init(path: $0["path"]?.string) },
                destination: s["destination"].map {
                    .init(server: $0["server"]?.string, namespace: $0["namespace"]?.string)
                })
        }
        func operationState(_ op: JSON) -> Op {
            Op(
                phase: op["phase"]?.string, message: op["message"]?.string,
                startedAt: op["startedAt"]?.string, finishedAt: op["finishedAt"]?.string,
                syncResult: op["syncResult"].map { r in
                    .init(
                        revision: r["revision"]?.string,
                        resources: r["resources"]?.array?.map { .init(message: $0["message"]?.string) })
                },
                operation: op["operation"].map { o in
                    .init(sync: o["sync"].map { .init(revision: $0["revision"]?.string) })
                })
        }
        func status(_ st: JSON) -> App.Status {
            App.Status(
                sync: st["sync"].map { .init(status: $0["status"]?.string, revision: $0["revision"]?.string) },
                health: st["health"].map { .init(status: $0["status"]?.string, message: $0["message"]?.string) },
                operationState: st["operationState"].map(operationState),
                reconciledAt: st["reconciledAt"]?.string,
                conditions: st["conditions"]?.array?.map {
                    .init(type: $0["type"]?.string, message: $0["message"]?.string)
                },
                resources: st["resources"]?.array?.map {
                    .init(
                        group: $0["group"]?.string, kind: $0["kind"]?.string, name: $0["name"]?.string,
                        namespace: $0["namespace"]?.string)
                })
        }
        return BenchApplicationList(
            items: list.items.map { app in
                App(
                    metadata: app["metadata"].map(metadata), spec: app["spec"].map(spec),
                    status: app["status"].map(status))
            })
    }

    /// Times `body` `n` times after 20 warm-up runs; prints median, p95, min in milliseconds.
    static func report(_ label: String, _ n: Int, _ body: () throws -> Void) {
        do {
            for _ in 0..<20 { try body() }
            var ms: [Double] = []
            ms.reserveCapacity(n)
            for _ in 0..<n {
                let t0 = ContinuousClock.now
                try body()
                ms.append((ContinuousClock.now - t0).seconds * 1000)
            }
            ms.sort()
            let p95 = ms[min(ms.count - 1, Int((Double(ms.count) * 0.95).rounded(.up)) - 1)]
            print(
                String(
                    format: "BENCH json %-50@ median %.3f ms  p95 %.3f ms  min %.3f ms", label as NSString,
                    ms[ms.count / 2], p95, ms[0]))
        } catch {
            Issue.record("\(label): \(error)")
        }
    }

    /// Prints the heap `make`'s result holds: glibc's bytes in use (`mallinfo2().uordblks`) before
    /// and after, the result alive. mallinfo2 is not in Swift's Glibc module; it is called through
    /// dlsym with its struct return passed as the hidden result pointer (x86-64 System V: the
    /// first argument register), hence x86-64 only.
    static func retained<T>(_ label: String, _ make: () throws -> T) {
        #if os(Linux) && arch(x86_64)
            typealias MallInfo2 = @convention(c) (UnsafeMutablePointer<Int>) -> Void
            guard let sym = dlsym(nil, "mallinfo2") else { return }  // nil: RTLD_DEFAULT on glibc
            let mallinfo2 = unsafeBitCast(sym, to: MallInfo2.self)
            func inUse() -> Int {
                var fields = [Int](repeating: 0, count: 10)  // struct mallinfo2: ten size_t; uordblks is the 8th
                fields.withUnsafeMutableBufferPointer { mallinfo2($0.baseAddress!) }
                return fields[7]
            }
            let before = inUse()
            let value = try? make()
            let after = inUse()
            withExtendedLifetime(value) {
                let kib = (after - before) / 1024
                print(String(format: "BENCH json heap held by %-34@ %d KiB", label as NSString, kib))
            }
        #endif
    }
}
