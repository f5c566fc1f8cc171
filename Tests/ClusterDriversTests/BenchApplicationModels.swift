import Foundation

/// Typed, field-limited Codable models of an ArgoCD ApplicationList: exactly the fields aphex
/// reads from Applications today (Waves, Readiness, Webhook.syncTexts, StatusSnapshot), and no
/// others. Benchmark only (JSONDecodeBenchmark): what switching the Application reads from
/// `JSON` to Codable would take. Every field is optional, as aphex reads each of them.
struct BenchApplicationList: Codable, Equatable {
    var items: [BenchApplication]
}

struct BenchApplication: Codable, Equatable {
    var metadata: Metadata?
    var spec: Spec?
    var status: Status?

    struct Metadata: Codable, Equatable {
        var name: String?
        var namespace: String?
        var creationTimestamp: String?
        var annotations: [String: String]?
        var labels: [String: String]?
    }

    struct Spec: Codable, Equatable {
        var source: Source?
        var destination: Destination?
        struct Source: Codable, Equatable { var path: String? }
        struct Destination: Codable, Equatable {
            var server: String?
            var namespace: String?
        }
    }

    struct Status: Codable, Equatable {
        var sync: Sync?
        var health: Health?
        var operationState: OperationState?
        var reconciledAt: String?
        var conditions: [Condition]?
        var resources: [Resource]?

        struct Sync: Codable, Equatable {
            var status: String?
            var revision: String?
        }
        struct Health: Codable, Equatable {
            var status: String?
            var message: String?
        }
        struct OperationState: Codable, Equatable {
            var phase: String?
            var message: String?
            var startedAt: String?
            var finishedAt: String?
            var syncResult: SyncResult?
            var operation: Operation?
            struct SyncResult: Codable, Equatable {
                var revision: String?
                var resources: [Message]?
            }
            struct Message: Codable, Equatable { var message: String? }
            struct Operation: Codable, Equatable {
                var sync: Sync?
                struct Sync: Codable, Equatable { var revision: String? }
            }
        }
        struct Condition: Codable, Equatable {
            var type: String?
            var message: String?
        }
        struct Resource: Codable, Equatable {
            var group: String?
            var kind: String?
            var name: String?
            var namespace: String?
        }
    }
}
