import ClusterDrivers

extension Commands {
    public static func status(_ ctx: AppContext, _ options: StatusOptions) async throws -> ExitStatus {
        throw notYetAvailable("status")
    }

    public static func wait(_ ctx: AppContext, _ options: WaitOptions) async throws -> ExitStatus {
        throw notYetAvailable("wait")
    }
}
