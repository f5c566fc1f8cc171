import ClusterDrivers

extension Commands {
    public static func destroy(_ ctx: AppContext, _ options: DestroyOptions) async throws -> ExitStatus {
        throw notYetAvailable("destroy")
    }
}
