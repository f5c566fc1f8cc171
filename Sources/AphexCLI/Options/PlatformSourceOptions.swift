import ArgumentParser
import AphexCore
import Bootstrap
import ClusterDrivers
import Foundation

/// Which Git repository, revision and path platform-root tracks (bootstrap).
struct PlatformSourceOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Git repository of the platform (a fork, say). Default: the Aphex platform repository.", valueName: "url"))
    var repoURL: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Git revision (branch, tag or commit) platform-root tracks. Default: HEAD.", valueName: "rev"))
    var revision: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            """
            Path of the Applications directory in the repository. Default: per --deployment (kind: \
            platform/base/argocd/apps, k3s: platform/deployments/k3s/argocd/apps).
            """,
            valueName: "path"))
    var path: String?

    func validate() throws {
        if let url = repoURL, !Validate.isRepoURL(url) {
            throw ValidationError(
                """
                '\(url)' is not a Git repository URL ArgoCD can clone. Use an https://, ssh:// or git@host:path \
                URL, for example --repo-url https://github.com/you/AphexPlatformInfrastructure.git.
                """
            )
        }
        if let rev = revision, rev.trimmingCharacters(in: .whitespaces).isEmpty || rev.contains(" ") {
            throw ValidationError(
                """
                --revision needs a branch, tag or commit without spaces (for example --revision main), or drop it \
                to track HEAD.
                """
            )
        }
        if let p = path, p.isEmpty || p.hasPrefix("/") || p.contains("..") {
            throw ValidationError(
                """
                --path '\(p)' must be a relative path inside the repository without '..' (for example \
                platform/base/argocd/apps).
                """
            )
        }
    }

    var library: RootAppOptions {
        var o = RootAppOptions()
        o.repoURL = repoURL
        o.revision = revision
        o.path = path
        return o
    }
}
