import Foundation

/// The host filesystem locations the k3s driver reads and writes, resolved in ONE place.
///
/// Every path is rooted at `APHEX_HOST_ROOT` (default "/"), a test hook that lets the
/// black-box suite point aphex at a fake host tree (honoured as `TestHooks` says).
public struct HostPaths: Sendable, Equatable {
    /// The resolved root ("/" in production).
    public var root: String

    public init(root: String = "/") {
        var r = root.isEmpty ? "/" : root
        while r.count > 1 && r.hasSuffix("/") { r.removeLast() }
        self.root = r
    }

    /// Reads `APHEX_HOST_ROOT` from the given environment.
    public init(environment: [String: String]) {
        self.init(root: environment[TestHooks.hostRoot] ?? "/")
    }

    /// `APHEX_HOST_ROOT` when `TestHooks` honours it for this host (a test build, or not
    /// root); else the real root.
    public init(host: HostContext) {
        self.init(root: TestHooks.value(TestHooks.hostRoot, host) ?? "/")
    }

    /// `path` (absolute, as on a real host) under the root.
    public func resolve(_ path: String) -> String {
        precondition(path.hasPrefix("/"), "host paths are absolute")
        return root == "/" ? path : root + path
    }

    /// /etc/rancher/k3s — k3s's config directory.
    public var k3sConfigDirectory: String { resolve("/etc/rancher/k3s") }
    /// /etc/rancher/k3s/k3s.yaml — the admin kubeconfig k3s writes.
    public var k3sKubeconfig: String { resolve("/etc/rancher/k3s/k3s.yaml") }
    /// /usr/local/bin/k3s — the binary the installer puts in place.
    public var k3sBinary: String { resolve("/usr/local/bin/k3s") }
    /// /usr/local/bin/k3s-uninstall.sh — written by the installer; removes everything.
    public var k3sUninstallScript: String { resolve("/usr/local/bin/k3s-uninstall.sh") }
    /// /var/lib/rancher — k3s's data (and /var/lib/rancher/k3s).
    public var rancherDataDirectory: String { resolve("/var/lib/rancher") }
    /// The systemd unit the installer writes (its ExecStart holds the INSTALL_K3S_EXEC flags).
    public var k3sServiceUnit: String { resolve("/etc/systemd/system/k3s.service") }
    /// The containerd config k3s generates on every start (it detects NVIDIA runtimes).
    public var k3sContainerdConfig: String { resolve("/var/lib/rancher/k3s/agent/etc/containerd/config.toml") }
    /// The template k3s renders into config.toml when present (aphex never writes it).
    public var k3sContainerdTemplate: String { resolve("/var/lib/rancher/k3s/agent/etc/containerd/config.toml.tmpl") }
}
