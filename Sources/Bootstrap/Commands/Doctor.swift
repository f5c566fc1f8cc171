import ClusterDrivers

extension Commands {
    public static func doctor(_ ctx: AppContext, _ options: DoctorOptions) async throws -> ExitStatus {
        throw notYetAvailable("doctor")
    }
}
