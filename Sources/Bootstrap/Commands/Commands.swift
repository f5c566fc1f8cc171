import AphexCore
import KubeClient
import ClusterDrivers

/// The library entry points behind each CLI command. Each returns the exit status the
/// command ends with; errors thrown are `AphexError`s (or mapped by `exitStatus(for:)`).
/// One file per command family in this folder.
public enum Commands {}

func notYetAvailable(_ what: String) -> AphexError {
    AphexError(.failed, "`aphex \(what)` is not available in this build yet. Track the issue for it; meanwhile use the shell workflow in the platform's docs.")
}
