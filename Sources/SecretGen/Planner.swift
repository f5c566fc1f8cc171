import AphexCore
/// Deciding, key by key, what to do with the platform's secrets given what the cluster
/// already stores. Pure: the caller reads the cluster and writes the plan's `writes`.
///
/// Rules (docs/secrets.md):
/// - A stored value is never overwritten or regenerated.
/// - A copy (`sameAs` / `derivedFrom`) takes its source's STORED value, or the value created
///   for the source in the same plan. A stored copy that disagrees with its source is
///   reported (`derivedMismatch`) and left alone; `aphex secrets repair` fixes it.
/// - A missing source whose copy is stored adopts the copy's value, so the two agree.
/// - Imported values (`--secrets-from`) fill keys the cluster does not have; a stored value
///   wins over a different imported one (with a warning).

/// What happens to one key.
public enum KeyAction: String, Sendable, Codable, CaseIterable {
    /// The Secret does not exist: it is created with this key.
    case create
    /// Stored already; left exactly as it is.
    case keep
    /// The Secret exists without this key: the key is added.
    case addMissingKey
    /// A copy that disagrees with its source: reported, not changed (see `aphex secrets repair`).
    case derivedMismatch
    /// Not written: an optional environment variable is unset (a warning says what will not work).
    case skip
    /// Not written yet: the Secret is created by another installer (argocd-secret by ArgoCD's
    /// install); the key is added when it exists (a later call of the same step).
    case deferred
    /// `secrets repair`: the copy is set to its source's value.
    case repair
    /// Not stored and not created by this operation (health checks, repair).
    case missing
}

/// Where the value written (or kept) comes from.
public enum ValueOrigin: String, Sendable, Codable {
    case stored, generated, imported, environment, copied
    /// A missing source took its stored copy's value.
    case adopted
}

public struct KeyDecision: Sendable, Equatable {
    public var ref: KeyRef
    public var displayName: String
    public var action: KeyAction
    public var origin: ValueOrigin?
    /// Human note (never a value).
    public var note: String?

    public init(ref: KeyRef, displayName: String, action: KeyAction, origin: ValueOrigin?, note: String? = nil) {
        self.ref = ref
        self.displayName = displayName
        self.action = action
        self.origin = origin
        self.note = note
    }
}

/// One Secret to write.
public struct SecretWrite: Sendable, Equatable {
    public enum Method: String, Sendable, Codable {
        /// `kubectl apply --server-side --field-manager=aphex` of the whole Secret (every
        /// catalog key it holds, stored ones unchanged, so aphex keeps owning them).
        case serverSideApply
        /// A JSON merge patch of just the new keys (Secrets another installer owns).
        case mergePatch
    }
    public var id: SecretID
    public var method: Method
    /// Whether the Secret already exists in the cluster.
    public var exists: Bool
    /// The data to send, plain values (rendering base64-encodes them).
    public var data: [String: String]
    /// Keys whose value changes (created, added, repaired).
    public var changedKeys: [String]
    /// The created-at annotation to keep (an existing Secret's), nil to stamp now.
    public var createdAt: String?
    /// SSA must take ownership of fields another manager set (repair only).
    public var forceConflicts: Bool

    public init(
        id: SecretID, method: Method, exists: Bool, data: [String: String], changedKeys: [String],
        createdAt: String? = nil, forceConflicts: Bool = false
    ) {
        self.id = id
        self.method = method
        self.exists = exists
        self.data = data
        self.changedKeys = changedKeys
        self.createdAt = createdAt
        self.forceConflicts = forceConflicts
    }
}

/// What the cluster holds for one catalog Secret (values decoded from base64).
public struct StoredSecret: Sendable, Equatable {
    public var data: [String: String]
    public var annotations: [String: String]

    public init(data: [String: String], annotations: [String: String] = [:]) {
        self.data = data
        self.annotations = annotations
    }
}

public struct SecretPlan: Sendable, Equatable {
    public var decisions: [KeyDecision]
    /// In dependency order: sources before their copies.
    public var writes: [SecretWrite]
    public var warnings: [String]
    /// The value each key will hold after the writes (stored or planned). SECRET: never
    /// print or log it.
    public var values: [KeyRef: String]

    public func decision(_ ref: KeyRef) -> KeyDecision? { decisions.first { $0.ref == ref } }
    public var changes: Bool { !writes.isEmpty }
    public func count(_ action: KeyAction) -> Int { decisions.filter { $0.action == action }.count }
}

public struct SecretsPlanInput: Sendable {
    public var catalog: SecretCatalog
    /// `Deployment.rawValue` ("kind", "k3s"); nil = every entry.
    public var deployment: String?
    /// What exists: absent from the map = the Secret does not exist.
    public var existing: [SecretID: StoredSecret]
    public var imported: SecretsFile?
    /// Where the environment sources are read (CLOUDFLARE_API_TOKEN).
    public var environment: [String: String]

    public init(
        catalog: SecretCatalog = .platform, deployment: String?, existing: [SecretID: StoredSecret],
        imported: SecretsFile? = nil, environment: [String: String] = [:]
    ) {
        self.catalog = catalog
        self.deployment = deployment
        self.existing = existing
        self.imported = imported
        self.environment = environment
    }
}

public enum SecretAnnotations {
    public static let createdAt = "aphex.dev/created-at"
}

/// The bootstrap plan: create only what is missing, never overwrite.
public func planSecrets(_ input: SecretsPlanInput, generator: SecretGenerator = SecretGenerator()) throws -> SecretPlan
{
    let specs = input.catalog.secrets(for: input.deployment)
    let applicable = Set(specs.map(\.id))
    var values: [KeyRef: String] = [:]
    var decisions: [KeyRef: KeyDecision] = [:]
    var warnings: [String] = []

    func stored(_ ref: KeyRef) -> String? { input.existing[ref.secret]?.data[ref.key] }
    func imported(_ ref: KeyRef) -> String? { input.imported?.secrets[ref.secret]?[ref.key] }
    func newAction(_ id: SecretID) -> KeyAction { input.existing[id] == nil ? .create : .addMissingKey }

    // Import-file entries the catalog does not know (or this deployment does not use).
    if let file = input.imported {
        for (id, data) in file.secrets.sorted(by: { $0.key < $1.key }) {
            guard applicable.contains(id), let spec = input.catalog.spec(id) else {
                warnings.append(
                    "The secrets file lists \(id), which is not in the catalog for this deployment: ignored.")
                continue
            }
            for key in data.keys.sorted() where !spec.keys.contains(where: { $0.key == key }) {
                warnings.append("The secrets file lists key \(key) of \(id), which is not in the catalog: ignored.")
            }
        }
    }

    // Copies whose source is this key, with their stored values (for adoption).
    func storedCopies(of source: KeyRef) -> [(KeyRef, String)] {
        var out: [(KeyRef, String)] = []
        for s in specs {
            for k in s.keys where k.source.source(in: s.id) == source {
                let ref = KeyRef(s.id, k.key)
                if let v = stored(ref) { out.append((ref, v)) }
            }
        }
        return out
    }

    // Pass 1: originals (random and environment keys).
    for spec in specs {
        for key in spec.keys where key.source.source(in: spec.id) == nil {
            let ref = KeyRef(spec.id, key.key)
            if let v = stored(ref) {
                values[ref] = v
                decisions[ref] = KeyDecision(ref: ref, displayName: key.displayName, action: .keep, origin: .stored)
                if let imp = imported(ref), imp != v {
                    warnings.append(
                        """
                        \(ref) in the secrets file differs from the value stored in the cluster: the stored value \
                        is kept.
                        """
                    )
                }
                if case .environment(let variable, _, _) = key.source, let e = input.environment[variable], !e.isEmpty,
                    e != v
                {
                    warnings.append(
                        """
                        $\(variable) differs from \(ref) stored in the cluster: the stored value is kept \
                        (docs/secrets.md says how to rotate it).
                        """
                    )
                }
                continue
            }
            let copies = storedCopies(of: ref)
            if let (first, v) = copies.first {
                values[ref] = v
                decisions[ref] = KeyDecision(
                    ref: ref, displayName: key.displayName, action: newAction(spec.id), origin: .adopted,
                    note: "takes the value stored in its copy \(first), so they agree")
                if copies.contains(where: { $0.1 != v }) {
                    warnings.append(
                        """
                        The stored copies of \(ref) disagree with each other; \(ref) takes the value of \(first). \
                        Run `aphex secrets repair` afterwards.
                        """
                    )
                }
                if let imp = imported(ref), imp != v {
                    warnings.append(
                        """
                        \(ref) in the secrets file differs from its copy \(first) stored in the cluster: the \
                        stored value is used.
                        """
                    )
                }
                continue
            }
            switch key.source {
            case .random(let bytes, let encoding):
                if let imp = imported(ref) {
                    values[ref] = imp
                    decisions[ref] = KeyDecision(
                        ref: ref, displayName: key.displayName, action: newAction(spec.id), origin: .imported)
                } else {
                    values[ref] = try generator.generate(bytes: bytes, encoding: encoding)
                    decisions[ref] = KeyDecision(
                        ref: ref, displayName: key.displayName, action: newAction(spec.id), origin: .generated)
                }
            case .environment(let variable, let optional, let effect):
                if let e = input.environment[variable], !e.isEmpty {
                    values[ref] = e
                    decisions[ref] = KeyDecision(
                        ref: ref, displayName: key.displayName, action: newAction(spec.id), origin: .environment)
                } else if let imp = imported(ref) {
                    values[ref] = imp
                    decisions[ref] = KeyDecision(
                        ref: ref, displayName: key.displayName, action: newAction(spec.id), origin: .imported)
                } else {
                    let note =
                        """
                        $\(variable) is not set: \(effect). Set it (or use --cloudflare-token-file) and re-run to \
                        store it.
                        """
                    decisions[ref] = KeyDecision(
                        ref: ref, displayName: key.displayName, action: .skip, origin: nil, note: note)
                    if optional {
                        warnings.append("\(ref) not created: \(note)")
                    } else {
                        throw SecretGenError.missingEnvironment(
                            "\(ref) needs $\(variable), which is not set: \(effect). Set it and re-run.")
                    }
                }
            case .sameAs, .derivedFrom:
                break
            }
        }
    }

    // Pass 2: copies.
    for spec in specs {
        for key in spec.keys {
            guard let source = key.source.source(in: spec.id) else { continue }
            let ref = KeyRef(spec.id, key.key)
            guard let srcValue = values[source] else {
                decisions[ref] = KeyDecision(
                    ref: ref, displayName: key.displayName, action: .skip, origin: nil,
                    note: "its source \(source) has no value")
                warnings.append("\(ref) not written: its source \(source) has no value.")
                continue
            }
            if let imp = imported(ref), imp != srcValue {
                warnings.append(
                    """
                    \(ref) in the secrets file differs from its source \(source): the source's value is used (a \
                    copy always equals its source).
                    """
                )
            }
            if let v = stored(ref) {
                values[ref] = v
                if v == srcValue {
                    decisions[ref] = KeyDecision(ref: ref, displayName: key.displayName, action: .keep, origin: .stored)
                } else {
                    decisions[ref] = KeyDecision(
                        ref: ref, displayName: key.displayName, action: .derivedMismatch, origin: .stored,
                        note: "differs from its source \(source); run `aphex secrets repair` to copy the source")
                    warnings.append(
                        """
                        \(ref) differs from its source \(source): left unchanged. Run `aphex secrets repair` to \
                        make it equal its source.
                        """
                    )
                }
                continue
            }
            if spec.ownership == .mergeKeys && input.existing[spec.id] == nil {
                decisions[ref] = KeyDecision(
                    ref: ref, displayName: key.displayName, action: .deferred, origin: nil,
                    note:
                        """
                        \(spec.id) is created by \(spec.createdBy ?? "another installer"); the key is added once \
                        it exists
                        """
                )
                continue
            }
            values[ref] = srcValue
            decisions[ref] = KeyDecision(
                ref: ref, displayName: key.displayName, action: newAction(spec.id), origin: .copied)
        }
    }

    let ordered = orderedDecisions(specs, decisions)
    let writes = makeWrites(specs, ordered, values: values, existing: input.existing, forceConflicts: false)
    return SecretPlan(decisions: ordered, writes: writes, warnings: warnings, values: values)
}

/// `aphex secrets repair`: copies take their source's stored value; nothing else changes
/// and nothing is generated.
public func planRepair(
    catalog: SecretCatalog = .platform, deployment: String?,
    existing: [SecretID: StoredSecret]
) -> SecretPlan {
    let specs = catalog.secrets(for: deployment)
    var values: [KeyRef: String] = [:]
    var decisions: [KeyRef: KeyDecision] = [:]
    var warnings: [String] = []
    func stored(_ ref: KeyRef) -> String? { existing[ref.secret]?.data[ref.key] }

    for spec in specs {
        for key in spec.keys {
            let ref = KeyRef(spec.id, key.key)
            guard let source = key.source.source(in: spec.id) else {
                if let v = stored(ref) {
                    values[ref] = v
                    decisions[ref] = KeyDecision(ref: ref, displayName: key.displayName, action: .keep, origin: .stored)
                } else {
                    decisions[ref] = KeyDecision(
                        ref: ref, displayName: key.displayName, action: .missing, origin: nil,
                        note: "not stored; `aphex bootstrap` creates it")
                }
                continue
            }
            let target = stored(ref)
            guard let srcValue = stored(source) else {
                if let target { values[ref] = target }
                decisions[ref] = KeyDecision(
                    ref: ref, displayName: key.displayName, action: target == nil ? .missing : .keep,
                    origin: target == nil ? nil : .stored,
                    note: "its source \(source) is not stored: nothing to copy")
                warnings.append(
                    """
                    \(ref) cannot be repaired: its source \(source) is not stored. `aphex bootstrap` creates the \
                    source from its copy.
                    """
                )
                continue
            }
            if target == srcValue {
                values[ref] = srcValue
                decisions[ref] = KeyDecision(ref: ref, displayName: key.displayName, action: .keep, origin: .stored)
            } else if spec.ownership == .mergeKeys && existing[spec.id] == nil {
                decisions[ref] = KeyDecision(
                    ref: ref, displayName: key.displayName, action: .deferred, origin: nil,
                    note: "\(spec.id) does not exist yet (created by \(spec.createdBy ?? "another installer"))")
            } else {
                values[ref] = srcValue
                let action: KeyAction = target == nil ? (existing[spec.id] == nil ? .create : .addMissingKey) : .repair
                decisions[ref] = KeyDecision(
                    ref: ref, displayName: key.displayName, action: action, origin: .copied,
                    note: target == nil ? nil : "set to the value of \(source)")
            }
        }
    }
    let ordered = orderedDecisions(specs, decisions)
    let writes = makeWrites(specs, ordered, values: values, existing: existing, forceConflicts: true)
    return SecretPlan(decisions: ordered, writes: writes, warnings: warnings, values: values)
}

private func orderedDecisions(_ specs: [SecretSpec], _ decisions: [KeyRef: KeyDecision]) -> [KeyDecision] {
    var out: [KeyDecision] = []
    for s in specs { for k in s.keys { if let d = decisions[KeyRef(s.id, k.key)] { out.append(d) } } }
    return out
}

/// Writes for every Secret with a changed key: Secrets without copies of other Secrets first,
/// so an interrupted run never stores a copy whose source is missing.
private func makeWrites(
    _ specs: [SecretSpec], _ decisions: [KeyDecision], values: [KeyRef: String],
    existing: [SecretID: StoredSecret], forceConflicts: Bool
) -> [SecretWrite] {
    let changing: Set<KeyAction> = [.create, .addMissingKey, .repair]
    func copiesOtherSecret(_ s: SecretSpec) -> Bool {
        s.keys.contains { if case .derivedFrom = $0.source { return true } else { return false } }
    }
    let ordered = specs.filter { !copiesOtherSecret($0) } + specs.filter(copiesOtherSecret)
    var writes: [SecretWrite] = []
    for spec in ordered {
        let changed = decisions.filter { $0.ref.secret == spec.id && changing.contains($0.action) }.map(\.ref.key)
        guard !changed.isEmpty else { continue }
        let stored = existing[spec.id]
        var data: [String: String] = [:]
        switch spec.ownership {
        case .aphex:
            // Every catalog key stored or planned: server-side apply removes fields its
            // manager owned but left out, so the whole set is sent each time.
            for k in spec.keys {
                let ref = KeyRef(spec.id, k.key)
                if changed.contains(k.key) {
                    data[k.key] = values[ref]
                } else if let v = stored?.data[k.key] {
                    data[k.key] = v
                }
            }
        case .mergeKeys:
            for key in changed { data[key] = values[KeyRef(spec.id, key)] }
        }
        writes.append(
            SecretWrite(
                id: spec.id, method: spec.ownership == .aphex ? .serverSideApply : .mergePatch,
                exists: stored != nil, data: data, changedKeys: changed,
                createdAt: stored?.annotations[SecretAnnotations.createdAt], forceConflicts: forceConflicts))
    }
    return writes
}
