import Foundation

/// The environment variables that point aphex at a fake host (the black-box suite's k3s):
/// `APHEX_HOST_ROOT` (host paths under another root) and `APHEX_K3S_INSTALL_URL` (the
/// installer to run). As root they would let whoever sets aphex's environment (`sudo -E`)
/// choose the script aphex runs as root, or the files it writes, so they are honoured only:
/// - in a test build: a debug build (`swift build`, `swift test`), compiled with
///   APHEX_TEST_HOOKS; `aphex version` says which build it is; or
/// - for a user who is not root (then the hooks can reach nothing that user could not).
/// A release build running as root with a hook set refuses to run (exit 2) rather than
/// quietly act on the real host instead of the fake one.
public enum TestHooks {
    public static let hostRoot = "APHEX_HOST_ROOT"
    public static let k3sInstallURL = "APHEX_K3S_INSTALL_URL"

    /// True in debug builds (Package.swift defines APHEX_TEST_HOOKS for them).
    public static let compiledIn: Bool = {
        #if APHEX_TEST_HOOKS
            return true
        #else
            return false
        #endif
    }()

    /// Whether hooks are honoured for this host: a test build, or not root.
    public static func honoured(_ host: HostContext) -> Bool {
        host.testBuild || host.effectiveUID != 0
    }

    /// The hook's value when it is set and honoured; nil when unset or not honoured.
    public static func value(_ name: String, _ host: HostContext) -> String? {
        guard let v = host.environment[name], !v.isEmpty, honoured(host) else { return nil }
        return v
    }

    /// Throws (exit 2) when a hook is set but not honoured: a release build running as root.
    public static func refuseIgnored(_ names: [String], _ host: HostContext) throws {
        let set = names.filter { !(host.environment[$0] ?? "").isEmpty }
        guard !set.isEmpty, !honoured(host) else { return }
        throw AphexError.usage(
            """
            \(set.joined(separator: " and ")) \(set.count == 1 ? "is a test hook" : "are test hooks") of aphex's \
            test suite, not honoured by a release build running as root (they would choose what aphex runs or \
            writes as root). Unset \(set.count == 1 ? "it" : "them") (`sudo` without -E, or `env -u \(set[0])`); \
            to install k3s from a mirror or a saved installer, give its URL in a components file (urls: \
            {k3s-installer: https://... or file:///...}, see docs/drivers.md).
            """
        )
    }
}
