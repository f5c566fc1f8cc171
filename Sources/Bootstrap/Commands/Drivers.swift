import ClusterDrivers

extension Commands {
    public static func kindCreate(_ ctx: AppContext, _ options: KindOptions, timeout: Duration, dryRun: Bool) async throws -> ExitStatus {
        throw notYetAvailable("kind create")
    }
    public static func kindDelete(_ ctx: AppContext, dryRun: Bool) async throws -> ExitStatus {
        throw notYetAvailable("kind delete")
    }
    public static func kindList(_ ctx: AppContext) async throws -> ExitStatus {
        throw notYetAvailable("kind list")
    }
    public static func k3sInstall(_ ctx: AppContext, _ options: K3sOptions, timeout: Duration, dryRun: Bool) async throws -> ExitStatus {
        throw notYetAvailable("k3s install")
    }
    public static func k3sUninstall(_ ctx: AppContext, yes: Bool, dryRun: Bool) async throws -> ExitStatus {
        throw notYetAvailable("k3s uninstall")
    }
    public static func k3sStatus(_ ctx: AppContext) async throws -> ExitStatus {
        throw notYetAvailable("k3s status")
    }
}
