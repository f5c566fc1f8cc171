import ClusterDrivers

extension Commands {
    public static func bootstrap(_ ctx: AppContext, _ options: BootstrapOptions) async throws -> ExitStatus {
        throw notYetAvailable("bootstrap")
    }

    public static func destroy(_ ctx: AppContext, _ options: DestroyOptions) async throws -> ExitStatus {
        throw notYetAvailable("destroy")
    }
}
