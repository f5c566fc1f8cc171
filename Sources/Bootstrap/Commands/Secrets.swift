import ClusterDrivers

extension Commands {
    public static func showSecrets(_ ctx: AppContext, _ options: ShowSecretsOptions) async throws -> ExitStatus {
        throw notYetAvailable("show-secrets")
    }

    public static func secretsExport(_ ctx: AppContext, file: String, force: Bool) async throws -> ExitStatus {
        throw notYetAvailable("secrets export")
    }

    public static func secretsRepair(_ ctx: AppContext, dryRun: Bool) async throws -> ExitStatus {
        throw notYetAvailable("secrets repair")
    }
}
