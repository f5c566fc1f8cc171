import AphexCore
import Foundation
import Yams

/// A kubeconfig file (clusters, users, contexts, current-context), as kubectl reads it.
/// File references (certificate-authority, client-certificate, client-key, tokenFile) are
/// resolved relative to the kubeconfig's directory, as kubectl does.
public struct Kubeconfig: Sendable, Equatable {
    public struct Cluster: Sendable, Equatable {
        public var name: String
        public var server: String
        public var certificateAuthorityData: [UInt8]?
        public var certificateAuthority: String?
        public var insecureSkipTLSVerify: Bool
        public var tlsServerName: String?
        public var proxyURL: String?
    }

    public struct User: Sendable, Equatable {
        public var name: String
        public var clientCertificateData: [UInt8]?
        public var clientCertificate: String?
        public var clientKeyData: [UInt8]?
        public var clientKey: String?
        public var token: String?
        public var tokenFile: String?
        /// `exec:` credential plugin command (e.g. aws, gke-gcloud-auth-plugin, kubelogin).
        public var execCommand: String?
        /// `auth-provider:` name (legacy gcp/azure/oidc).
        public var authProvider: String?
        public var hasBasicAuth: Bool
    }

    public struct Context: Sendable, Equatable {
        public var name: String
        public var cluster: String
        public var user: String
        public var namespace: String?
    }

    /// The file it was read from ("" when parsed from text without one).
    public var path: String
    public var clusters: [String: Cluster]
    public var users: [String: User]
    public var contexts: [String: Context]
    public var currentContext: String?

    /// Context names, sorted (for messages).
    public var contextNames: [String] { contexts.keys.sorted() }

    // MARK: loading

    // MARK: KUBECONFIG path lists

    /// Whether `spec` is a KUBECONFIG-style list of files ("a:b"), not one file. A single path
    /// that exists is never a list, even with a colon in its name.
    public static func isList(_ spec: String) -> Bool {
        spec.contains(":") && !FileManager.default.fileExists(atPath: spec) && listedFiles(spec).count > 1
    }

    /// The files `spec` names, in order: itself, or a list's non-empty entries.
    public static func listedFiles(_ spec: String) -> [String] {
        guard spec.contains(":"), !FileManager.default.fileExists(atPath: spec) else { return [spec] }
        return spec.split(separator: ":").map { (String($0) as NSString).expandingTildeInPath }.filter { !$0.isEmpty }
    }

    /// Whether there is anything to read: the file, or at least one file of a list.
    public static func exists(_ spec: String) -> Bool {
        listedFiles(spec).contains { FileManager.default.fileExists(atPath: $0) }
    }

    /// Whether this user can read the file, or at least one file of a list.
    public static func isReadable(_ spec: String) -> Bool {
        listedFiles(spec).contains { FileManager.default.isReadableFile(atPath: $0) }
    }

    /// kubectl's flags for `spec`: `--kubeconfig FILE`, or none for a list (kubectl takes a
    /// list only from $KUBECONFIG; see `kubectlEnvironment`).
    public static func kubectlFlags(_ spec: String) -> [String] {
        isList(spec) ? [] : ["--kubeconfig", spec]
    }

    /// The environment a kubectl child needs for `spec`: KUBECONFIG for a list, else nothing.
    public static func kubectlEnvironment(_ spec: String) -> [String: String] {
        isList(spec) ? ["KUBECONFIG": spec] : [:]
    }

    /// Reads a kubeconfig file, or merges a KUBECONFIG list as kubectl does (client-go's
    /// loading rules): files that do not exist are skipped; the first file to define a
    /// cluster, user or context name wins; current-context comes from the first file that sets
    /// one; relative file references stay relative to the file that made them.
    public static func load(path: String) throws -> Kubeconfig {
        guard isList(path) else { return try loadFile(path: path) }
        let present = listedFiles(path).filter { FileManager.default.fileExists(atPath: $0) }
        guard !present.isEmpty else {
            throw AphexError.usage(
                """
                None of the files in the kubeconfig list '\(path)' exists. Fix KUBECONFIG, pass one file with \
                --kubeconfig, or create the cluster first (aphex bootstrap).
                """
            )
        }
        var merged = Kubeconfig(path: path, clusters: [:], users: [:], contexts: [:], currentContext: nil)
        for file in present {
            let one = try loadFile(path: file).withAbsoluteReferences()
            merged.clusters.merge(one.clusters) { first, _ in first }
            merged.users.merge(one.users) { first, _ in first }
            merged.contexts.merge(one.contexts) { first, _ in first }
            if merged.currentContext == nil { merged.currentContext = one.currentContext }
        }
        return merged
    }

    /// File references made absolute against this kubeconfig's directory.
    func withAbsoluteReferences() -> Kubeconfig {
        let dir = (path as NSString).deletingLastPathComponent
        func absolute(_ file: String?) -> String? {
            guard let file else { return nil }
            let expanded = (file as NSString).expandingTildeInPath
            return expanded.hasPrefix("/") || dir.isEmpty
                ? expanded : (dir as NSString).appendingPathComponent(expanded)
        }
        var copy = self
        for (k, var c) in clusters {
            c.certificateAuthority = absolute(c.certificateAuthority)
            copy.clusters[k] = c
        }
        for (k, var u) in users {
            u.clientCertificate = absolute(u.clientCertificate)
            u.clientKey = absolute(u.clientKey)
            u.tokenFile = absolute(u.tokenFile)
            copy.users[k] = u
        }
        return copy
    }

    static func loadFile(path: String) throws -> Kubeconfig {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue else {
            throw AphexError.usage(
                """
                The kubeconfig file '\(path)' does not exist. Pass an existing kubeconfig with --kubeconfig, set \
                KUBECONFIG, or create the cluster first (aphex bootstrap).
                """
            )
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw AphexError.usage(
                """
                The kubeconfig file '\(path)' is not readable by this user. Fix its permissions (chmod 600, owned \
                by you) or pass another file with --kubeconfig.
                """
            )
        }
        return try parse(String(decoding: data, as: UTF8.self), path: path)
    }

    public static func parse(_ text: String, path: String = "") throws -> Kubeconfig {
        let shown = path.isEmpty ? "kubeconfig" : "kubeconfig '\(path)'"
        let root: Node?
        do {
            // Every value is read as its scalar text, so no tag resolution is needed: the basic
            // resolver skips the default one's regular expressions (a millisecond per run).
            root = try YAMLGuard.compose(text, .basic)
        } catch let refusal as YAMLGuard.Refusal {
            throw AphexError.usage(
                "The \(shown) contains \(refusal). \(refusal.advice) Or pass another kubeconfig with --kubeconfig.")
        } catch {
            throw AphexError.usage(
                """
                The \(shown) is not valid YAML (\(Self.oneLine(error))). Fix the file, or pass another with \
                --kubeconfig.
                """
            )
        }
        guard let root, root.mapping != nil else {
            throw AphexError.usage(
                """
                The \(shown) is empty or not a kubeconfig (expected a mapping with clusters, users and contexts). \
                Pass a kubeconfig with --kubeconfig.
                """
            )
        }
        if let kind = root["kind"]?.string, kind != "Config" {
            throw AphexError.usage(
                "The \(shown) has kind '\(kind)', not 'Config'. Pass a kubeconfig with --kubeconfig.")
        }

        var config = Kubeconfig(
            path: path, clusters: [:], users: [:], contexts: [:],
            currentContext: root["current-context"]?.string.flatMap { $0.isEmpty ? nil : $0 })

        for entry in Array(root["clusters"]?.sequence ?? []) {
            guard let name = entry["name"]?.string else { continue }
            let c = entry["cluster"]
            config.clusters[name] = Cluster(
                name: name,
                server: c?["server"]?.string ?? "",
                certificateAuthorityData: try decodeBase64(
                    c?["certificate-authority-data"]?.string,
                    field: "clusters[\(name)].cluster.certificate-authority-data", shown: shown),
                certificateAuthority: nonEmpty(c?["certificate-authority"]?.string),
                insecureSkipTLSVerify: truthy(c?["insecure-skip-tls-verify"]?.string),
                tlsServerName: nonEmpty(c?["tls-server-name"]?.string),
                proxyURL: nonEmpty(c?["proxy-url"]?.string))
        }
        for entry in Array(root["users"]?.sequence ?? []) {
            guard let name = entry["name"]?.string else { continue }
            let u = entry["user"]
            config.users[name] = User(
                name: name,
                clientCertificateData: try decodeBase64(
                    u?["client-certificate-data"]?.string,
                    field: "users[\(name)].user.client-certificate-data", shown: shown),
                clientCertificate: nonEmpty(u?["client-certificate"]?.string),
                clientKeyData: try decodeBase64(
                    u?["client-key-data"]?.string,
                    field: "users[\(name)].user.client-key-data", shown: shown),
                clientKey: nonEmpty(u?["client-key"]?.string),
                token: nonEmpty(u?["token"]?.string),
                tokenFile: nonEmpty(u?["tokenFile"]?.string),
                execCommand: u?["exec"].map { $0["command"]?.string ?? "(no command)" },
                authProvider: u?["auth-provider"].map { $0["name"]?.string ?? "(unnamed)" },
                hasBasicAuth: nonEmpty(u?["username"]?.string) != nil || nonEmpty(u?["password"]?.string) != nil)
        }
        for entry in Array(root["contexts"]?.sequence ?? []) {
            guard let name = entry["name"]?.string else { continue }
            let c = entry["context"]
            config.contexts[name] = Context(
                name: name, cluster: c?["cluster"]?.string ?? "",
                user: c?["user"]?.string ?? "",
                namespace: nonEmpty(c?["namespace"]?.string))
        }
        return config
    }

    // MARK: resolving one context

    /// The API server URL of `context` (or the current context) as kubectl would pick it, from
    /// one file or a KUBECONFIG list (merged as `load` merges it); nil when the kubeconfig
    /// cannot be read or the context or its cluster is not defined. For messages and reports:
    /// no referenced file is read.
    public static func serverURL(path: String, context: String?) -> String? {
        guard let config = try? load(path: path),
            let name = context.flatMap({ $0.isEmpty ? nil : $0 }) ?? config.currentContext,
            let ctx = config.contexts[name], let cluster = config.clusters[ctx.cluster]
        else { return nil }
        return cluster.server
    }

    /// Resolves `context` (or current-context) to a server and credentials, reading any
    /// referenced files. Errors name the fix.
    public func resolve(context requested: String? = nil) throws -> KubeEndpoint {
        let shown = path.isEmpty ? "the kubeconfig" : "the kubeconfig '\(path)'"
        let available = contextNames.isEmpty ? "none" : contextNames.joined(separator: ", ")
        let contextName: String
        if let requested, !requested.isEmpty {
            contextName = requested
        } else if let currentContext {
            contextName = currentContext
        } else {
            let useContext =
                Self.isList(path)
                ? "kubectl config use-context NAME"
                : "kubectl --kubeconfig \(Shell.quote([path])) config use-context NAME"
            throw AphexError.usage(
                """
                \(shown.capitalizedFirst) has no current-context. Pass --context NAME (available contexts: \
                \(available)), or run `\(useContext)`.
                """
            )
        }
        guard let ctx = contexts[contextName] else {
            let origin = requested == nil ? "The current-context '\(contextName)'" : "The context '\(contextName)'"
            throw AphexError.usage(
                """
                \(origin) is not in \(shown). Available contexts: \(available). Pass one of them with --context, \
                or fix current-context with `kubectl config use-context NAME`.
                """
            )
        }
        guard let cluster = clusters[ctx.cluster] else {
            let known = clusters.keys.sorted().joined(separator: ", ")
            throw AphexError.usage(
                """
                The context '\(contextName)' in \(shown) names the cluster '\(ctx.cluster)', which is not defined \
                (clusters: \(known.isEmpty ? "none" : known)). Fix the context's cluster, or pick another context \
                with --context.
                """
            )
        }
        let server = cluster.server.trimmingCharacters(in: .whitespaces)
        guard let url = URL(string: server), let scheme = url.scheme?.lowercased(),
            scheme == "https" || scheme == "http", url.host != nil
        else {
            throw AphexError.usage(
                """
                The cluster '\(cluster.name)' in \(shown) has server '\(server)', which is not an http(s) URL \
                like https://127.0.0.1:6443. Fix clusters[].cluster.server.
                """
            )
        }
        var user: User? = nil
        if !ctx.user.isEmpty {
            guard let u = users[ctx.user] else {
                let known = users.keys.sorted().joined(separator: ", ")
                throw AphexError.usage(
                    """
                    The context '\(contextName)' in \(shown) names the user '\(ctx.user)', which is not defined \
                    (users: \(known.isEmpty ? "none" : known)). Fix the context's user, or pick another context \
                    with --context.
                    """
                )
            }
            user = u
        }

        var tls = TLSOptions()
        tls.insecureSkipVerify = cluster.insecureSkipTLSVerify
        if !cluster.insecureSkipTLSVerify {
            if let data = cluster.certificateAuthorityData {
                tls.caPEM = data
            } else if let file = cluster.certificateAuthority {
                tls.caPEM = try readReferenced(file, what: "certificate-authority of cluster '\(cluster.name)'")
            }
        }

        var fallback: [String] = []
        if let user {
            if let data = user.clientCertificateData {
                tls.clientCertPEM = data
            } else if let file = user.clientCertificate {
                tls.clientCertPEM = try readReferenced(file, what: "client-certificate of user '\(user.name)'")
            }
            if let data = user.clientKeyData {
                tls.clientKeyPEM = data
            } else if let file = user.clientKey {
                tls.clientKeyPEM = try readReferenced(file, what: "client-key of user '\(user.name)'")
            }
            if (tls.clientCertPEM == nil) != (tls.clientKeyPEM == nil) {
                throw AphexError.usage(
                    """
                    The user '\(user.name)' in \(shown) has a client certificate without its key (or a key \
                    without its certificate). Add the missing client-certificate-data/client-key-data, or pick \
                    another context with --context.
                    """
                )
            }
            if let token = user.token {
                tls.bearerToken = token
            } else if let file = user.tokenFile {
                let bytes = try readReferenced(file, what: "tokenFile of user '\(user.name)'")
                tls.bearerToken = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            }
            if let exec = user.execCommand {
                fallback.append("user '\(user.name)' authenticates with the exec plugin '\(exec)'")
            }
            if let provider = user.authProvider {
                fallback.append("user '\(user.name)' uses the auth-provider '\(provider)'")
            }
            if user.hasBasicAuth && tls.bearerToken == nil && tls.clientCertPEM == nil {
                fallback.append("user '\(user.name)' uses username/password")
            }
        }
        if let name = cluster.tlsServerName {
            fallback.append("cluster '\(cluster.name)' sets tls-server-name '\(name)'")
        }
        if cluster.proxyURL != nil { fallback.append("cluster '\(cluster.name)' sets proxy-url") }

        var base = server
        while base.hasSuffix("/") { base.removeLast() }
        return KubeEndpoint(
            kubeconfigPath: path, contextName: contextName, clusterName: cluster.name,
            userName: ctx.user, server: base, namespace: ctx.namespace, tls: tls,
            kubectlFallbackReason: fallback.isEmpty ? nil : fallback.joined(separator: "; "))
    }

    private func readReferenced(_ file: String, what: String) throws -> [UInt8] {
        let expanded = (file as NSString).expandingTildeInPath
        let full: String
        if expanded.hasPrefix("/") || path.isEmpty {
            full = expanded
        } else {
            full = ((path as NSString).deletingLastPathComponent as NSString).appendingPathComponent(expanded)
        }
        guard let data = FileManager.default.contents(atPath: full) else {
            throw AphexError.usage(
                """
                The \(what) in the kubeconfig '\(path)' points to '\(full)', which does not exist or is not \
                readable. Fix the path (relative paths are relative to the kubeconfig's directory), or embed the \
                data with the *-data field.
                """
            )
        }
        return Array(data)
    }

    // MARK: helpers

    private static func decodeBase64(_ text: String?, field: String, shown: String) throws -> [UInt8]? {
        guard let text = nonEmpty(text) else { return nil }
        // Strict, as kubectl is (only line breaks and spaces are tolerated).
        let compact = text.filter { !$0.isWhitespace }
        guard let data = Data(base64Encoded: compact), !data.isEmpty else {
            throw AphexError.usage(
                """
                The field \(field) in the \(shown) is not valid base64. Re-export the kubeconfig (kind export \
                kubeconfig / k3s's /etc/rancher/k3s/k3s.yaml), or fix the field.
                """
            )
        }
        return Array(data)
    }

    private static func nonEmpty(_ s: String?) -> String? {
        guard let s, !s.trimmingCharacters(in: .whitespaces).isEmpty else { return nil }
        return s
    }

    private static func truthy(_ s: String?) -> Bool {
        guard let s = s?.lowercased() else { return false }
        return ["true", "yes", "on", "1"].contains(s)
    }

    private static func oneLine(_ error: any Error) -> String {
        String(describing: error).split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .joined(separator: " ")
    }
}

/// One resolved kubeconfig context: where the API server is and how to authenticate.
public struct KubeEndpoint: Sendable, Equatable {
    public var kubeconfigPath: String
    public var contextName: String
    public var clusterName: String
    public var userName: String
    /// Server URL without a trailing slash (https://127.0.0.1:6443, or http:// for a proxy).
    public var server: String
    /// The context's default namespace.
    public var namespace: String?
    /// CA, client certificate/key, insecure flag and bearer token for the transport.
    public var tls: TLSOptions
    /// Why libcurl cannot authenticate as this user (exec plugin, auth-provider, ...) and
    /// aphex must go through `kubectl get --raw`; nil when the direct client works.
    public var kubectlFallbackReason: String?
}

extension String {
    fileprivate var capitalizedFirst: String { prefix(1).uppercased() + dropFirst() }
}
