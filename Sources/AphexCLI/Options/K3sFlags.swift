import ArgumentParser
import AphexCore
import Bootstrap
import ClusterDrivers
import Foundation

/// The k3s install (bootstrap --deployment k3s, k3s install): the flags fill the driver's
/// `K3sInstallSpec`, validated here once.
struct K3sFlags: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "k3s version for the installer (INSTALL_K3S_VERSION). Default: the version pinned by this aphex release.",
            valueName: "version"))
    var k3sVersion: String?

    @Flag(name: .long, help: "Install k3s with --disable traefik.")
    var disableTraefik = false

    @Flag(
        name: .long,
        help: "GPU host: verify nvidia-smi and nvidia-container-runtime and configure the NVIDIA containerd runtime.")
    var gpu = false

    func validate() throws {
        try Self.validateVersion(k3sVersion)
    }

    /// --k3s-version (k3s install, bootstrap, k3s join): a k3s release name.
    static func validateVersion(_ version: String?) throws {
        if let v = version, v.range(of: #"^v\d+\.\d+\.\d+(-rc\d+)?\+k3s\d+$"#, options: .regularExpression) == nil {
            throw ValidationError(
                """
                --k3s-version '\(v)' is not a k3s release name: give it as the installer expects, for example \
                --k3s-version v1.31.4+k3s1.
                """
            )
        }
    }

    var isDefault: Bool { k3sVersion == nil && !disableTraefik && !gpu }

    /// The driver's spec (the cluster step or `k3s install` adds the name, timeout and pin).
    func spec(name: String = "platform-cluster", requirePinned: Bool = false) -> K3sInstallSpec {
        K3sInstallSpec(
            name: name, version: k3sVersion, disableTraefik: disableTraefik, gpu: gpu, requirePinned: requirePinned)
    }
}
