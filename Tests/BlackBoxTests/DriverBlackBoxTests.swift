import AphexCore
import ClusterDrivers
import KubeClient
import Foundation
import Testing
import TestSupport

// Black-box tests of `aphex kind ...` and `aphex k3s ...`: the built binary runs against a
// stand-in `kind` executable (a tiny shell script keeping its state in a directory and
// logging every argv; a `kubectl` that only logs and fails, since nothing should run it), a
// fake host root for k3s (APHEX_HOST_ROOT) with a fake installer served from a file:// URL
// (APHEX_K3S_INSTALL_URL), and a loopback API server (`DriverAPI`) that serves the nodes of
// those clusters from the same state directory: the kubeconfigs the stand-ins write point at
// it ($FAKE_API). The stand-in rejects unknown flags
// (exit 64) and the API server unknown requests (404), so an argv or path typo fails the test.
// DriverSimTests runs the same commands against the simulated cluster (SimHarness); these
// stand-ins additionally pin exact argv lines and failure modes the scenarios do not cover.

enum DriverStandIns {
    static let kind = #"""
        #!/bin/sh
        S="$FAKE_STATE"
        printf '%s\n' "kind $*" >> "$S/argv.log"
        kubeconfig_for() {
        cat <<EOF
        apiVersion: v1
        kind: Config
        clusters:
        - cluster:
            server: $FAKE_API/kind/$1
          name: kind-$1
        contexts:
        - context:
            cluster: kind-$1
            user: kind-$1
          name: kind-$1
        current-context: kind-$1
        users:
        - name: kind-$1
          user:
            token: FAKE-TOKEN
        EOF
        }
        case "$1" in
          version) echo "kind v0.26.0 go1.23.4 linux/amd64"; exit 0;;
        esac
        [ $# -ge 2 ] || { echo "fake kind: unsupported: $*" >&2; exit 64; }
        sub="$1 $2"; shift; shift
        name=kind; kc=""; cfg=""; retain=no
        while [ $# -gt 0 ]; do
          case "$1" in
            --name) name="$2"; shift 2;;
            --kubeconfig) kc="$2"; shift 2;;
            --config) cfg="$2"; shift 2;;
            --image|--wait) shift 2;;
            --retain) retain=yes; shift;;
            *) echo "fake kind: unknown flag $1" >&2; exit 64;;
          esac
        done
        case "$sub" in
          "get clusters")
            if [ -n "$(ls "$S/clusters" 2>/dev/null)" ]; then ls "$S/clusters"; else echo "No kind clusters found." \#
        >&2; fi;;
          "create cluster")
            [ "$cfg" = "-" ] || { echo "fake kind: expected --config -" >&2; exit 64; }
            cat > "$S/config-$name.yaml"
            if [ -f "$S/hang-create" ]; then
              # a wedged create that ignores SIGTERM and SIGINT, with a child of its own
              trap '' TERM INT; sleep 300 & echo $! > "$S/grandchild.pid"; echo $$ > "$S/child.pid"; wait; wait; exit 1
            fi
            mkdir -p "$S/clusters/$name"
            if [ -f "$S/fail-create" ]; then echo "ERROR: failed to create cluster: failed to init node with \#
        kubeadm" >&2; exit 1; fi
            [ -f "$S/notready" ] && touch "$S/clusters/$name/notready"
            if [ -n "$kc" ]; then kubeconfig_for "$name" > "$kc"; else mkdir -p "$HOME/.kube"; kubeconfig_for \#
        "$name" >> "$HOME/.kube/config"; fi
            echo " ✓ Ensuring node image" >&2;;
          "get kubeconfig")
            [ -d "$S/clusters/$name" ] || { echo "ERROR: could not locate any control plane nodes for cluster named \#
        '$name'" >&2; exit 1; }
            kubeconfig_for "$name";;
          "delete cluster")
            rm -rf "$S/clusters/$name"; echo "Deleting cluster \"$name\" ..." >&2;;
          "export kubeconfig")
            mkdir -p "$HOME/.kube"; kubeconfig_for "$name" >> "$HOME/.kube/config"; echo "Set kubectl context to \#
        \"kind-$name\"" >&2;;
          *) echo "fake kind: unsupported: $sub" >&2; exit 64;;
        esac
        """#

    /// kubectl as if it did not work: the drivers read the API themselves, so a call is logged
    /// (and the exact-log assertions fail) and fails like a missing command.
    static let kubectl = #"""
        #!/bin/sh
        printf '%s\n' "kubectl $*" >> "$FAKE_STATE/argv.log"
        echo "fake kubectl: the drivers must not run kubectl" >&2; exit 127
        """#

    /// A stand-in for get.k3s.io: "installs" under $APHEX_HOST_ROOT and logs its environment.
    static let installer = #"""
        #!/bin/sh
        set -e
        R="$APHEX_HOST_ROOT"
        printf 'INSTALL_K3S_VERSION=%s INSTALL_K3S_EXEC=%s\n' "$INSTALL_K3S_VERSION" "$INSTALL_K3S_EXEC" >> \#
        "$FAKE_STATE/installer.log"
        mkdir -p "$R/usr/local/bin" "$R/etc/rancher/k3s" "$FAKE_STATE/k3s"
        printf '#!/bin/sh\necho "k3s version %s (fake)"\n' "$INSTALL_K3S_VERSION" > "$R/usr/local/bin/k3s"
        printf '#!/bin/sh\nrm -rf "%s/usr/local/bin/k3s" "%s/etc/rancher" "%s/k3s"\nrm -f "$0"\n' "$R" "$R" \#
        "$FAKE_STATE" > "$R/usr/local/bin/k3s-uninstall.sh"
        chmod 755 "$R/usr/local/bin/k3s" "$R/usr/local/bin/k3s-uninstall.sh"
        umask 077
        printf 'apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: %s/k3s\n  name: \#
        default\ncontexts:\n- context:\n    cluster: default\n    user: default\n  name: default\ncurrent-context: \#
        default\nusers:\n- name: default\n  user:\n    token: FAKE-TOKEN\n' "$FAKE_API" > "$R/etc/rancher/k3s/k3s.yaml"
        echo "[INFO]  systemd: Starting k3s"
        """#
}

/// The clusters' API server: LIST /api/v1/nodes under /kind/NAME (kind cluster NAME, its
/// state in $FAKE_STATE/clusters/NAME) and /k3s (the k3s install, $FAKE_STATE/k3s). One node,
/// NotReady while the cluster's directory holds `notready`; a missing cluster, or one whose
/// directory holds `broken`, gets its connection closed without an answer (an API server that
/// does not answer). While $FAKE_STATE/hang-nodes exists a read hangs (`nodes.hung` says one
/// arrived).
enum DriverAPI {
    static func serve(_ req: HTTPTestServer.Request, state: String) -> HTTPTestServer.Response {
        let fm = FileManager.default
        let parts = req.path.split(separator: "/").map(String.init)
        let dir: String
        let node: String
        if parts.count == 5, parts[0] == "kind", parts[2...] == ["api", "v1", "nodes"] {
            (dir, node) = (state + "/clusters/" + parts[1], parts[1] + "-control-plane")
        } else if parts == ["k3s", "api", "v1", "nodes"] {
            (dir, node) = (state + "/k3s", "k3s-node")
        } else {
            return .text(404, "fake API server: unsupported: \(req.method) \(req.target)\n")
        }
        guard req.method == "GET", req.target == req.path else {
            return .text(400, "fake API server: unsupported: \(req.method) \(req.target)\n")
        }
        if fm.fileExists(atPath: state + "/hang-nodes") {
            _ = fm.createFile(atPath: state + "/nodes.hung", contents: Data())
            let deadline = Date().addingTimeInterval(300)
            while fm.fileExists(atPath: state + "/hang-nodes") && Date() < deadline { usleep(20_000) }
            return .close
        }
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue, !fm.fileExists(atPath: dir + "/broken")
        else { return .close }
        let ready = !fm.fileExists(atPath: dir + "/notready")
        let condition: JSON = [
            "type": "Ready", "status": .string(ready ? "True" : "False"),
            "reason": .string(ready ? "KubeletReady" : "KubeletNotReady"),
            "message": .string(ready ? "kubelet is posting ready status" : "container runtime network not ready")
        ]
        let list: JSON = [
            "apiVersion": "v1", "kind": "NodeList",
            "items": [
                [
                    "apiVersion": "v1", "kind": "Node", "metadata": ["name": .string(node)],
                    "status": ["conditions": [condition]]
                ]
            ]
        ]
        return .json(200, list.serialized())
    }
}

/// One black-box world: HOME, a stand-in bin dir, the stand-ins' state, a fake host root and
/// the clusters' API server.
final class DriverWorld: @unchecked Sendable {
    let root: String
    let api: HTTPTestServer
    init() throws {
        root =
            FileManager.default.temporaryDirectory.appendingPathComponent("aphex-bb-drivers-\(UUID().uuidString)").path
        let state = root + "/state"
        api = try HTTPTestServer { DriverAPI.serve($0, state: state) }
        for d in [home, bin, state, hostRoot, tmp] {
            try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        }
        for (name, text) in [("kind", DriverStandIns.kind), ("kubectl", DriverStandIns.kubectl)] {
            try write(bin + "/" + name, text, mode: 0o755)
        }
        try write(root + "/install.sh", DriverStandIns.installer, mode: 0o644)
        // let an unprivileged run (setpriv) traverse to the binary's HOME and files
        _ = chmod(root, 0o755)
        _ = chmod(home, 0o777)
    }
    deinit {
        api.stop()
        try? FileManager.default.removeItem(atPath: root)
    }

    var home: String { root + "/home" }
    var bin: String { root + "/bin" }
    var state: String { root + "/state" }
    var hostRoot: String { root + "/host" }
    var tmp: String { root + "/tmp" }
    func kubeconfig(_ name: String) -> String { home + "/.aphex/clusters/\(name)/kubeconfig" }

    func write(_ path: String, _ text: String, mode: Int) throws {
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        guard
            FileManager.default.createFile(
                atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: mode])
        else {
            throw CocoaError(.fileWriteUnknown)
        }
    }
    func touch(_ rel: String) throws { try write(state + "/" + rel, "", mode: 0o644) }
    func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    /// The node reads the API server answered or refused: "GET /kind/NAME/api/v1/nodes".
    var apiLog: [String] { api.requests.map { "\($0.method) \($0.target)" } }

    /// The stand-ins' argv log, one line per command.
    var log: [String] {
        (try? String(contentsOfFile: state + "/argv.log", encoding: .utf8))?.split(separator: "\n").map(String.init)
            ?? []
    }
    var installerLog: [String] {
        (try? String(contentsOfFile: state + "/installer.log", encoding: .utf8))?.split(separator: "\n").map(
            String.init) ?? []
    }

    var env: [String: String] {
        [
            "PATH": bin + ":/usr/bin:/bin", "FAKE_STATE": state, "FAKE_API": api.baseURL, "TMPDIR": tmp,
            "APHEX_HOST_ROOT": hostRoot,
            "APHEX_K3S_INSTALL_URL": "file://" + root + "/install.sh"
        ]
    }

    func aphex(_ args: [String]) async throws -> CommandOutput {
        try await BuiltAphex.run(args, env: env, home: home)
    }

    /// As an unprivileged user (nobody), through setpriv.
    func aphexAsNobody(_ args: [String]) async throws -> CommandOutput {
        var e = env
        e["HOME"] = home
        e["NO_COLOR"] = "1"
        let argv =
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/env", "-i"]
            + e.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" } + [BuiltAphex.path] + args
        return try await SubprocessRunner().run(Command(argv, timeout: .seconds(60), checkExit: false))
    }
}

@Suite(.serialized) struct DriverBlackBoxTests {
    static let image = KindClusterSpec.defaultNodeImage

    func createLine(_ w: DriverWorld, _ name: String, retain: Bool = false) -> String {
        """
        kind create cluster --name \(name) --config - --image \(Self.image) --wait 0s --kubeconfig \
        \(w.kubeconfig(name))
        """
            + (retain ? " --retain" : "")
    }

    @Test func kindCreateThenReuse() async throws {
        let w = try DriverWorld()
        let first = try await w.aphex(["kind", "create", "--cluster-name", "bb", "--timeout", "20s"])
        #expect(first.status == 0, "\(first.stderrText)")
        #expect(first.stdoutText.contains("kind cluster bb created"))
        #expect(first.stderrText.contains("Creating kind cluster bb"))
        #expect(
            w.log == [
                "kind version", "kind get clusters", createLine(w, "bb"), "kind get kubeconfig --name bb"
            ])
        // one node read, at the server of the kubeconfig's context kind-bb
        #expect(w.apiLog == ["GET /kind/bb/api/v1/nodes"])
        let config = try String(contentsOfFile: w.state + "/config-bb.yaml", encoding: .utf8)
        #expect(config.contains("node-labels: \"ingress-ready=true\""))
        #expect(config.contains("oidc-issuer-url: \"https://dex.home.local\""))
        #expect(PrivateFiles.mode(w.kubeconfig("bb")) == 0o600)
        #expect(!w.exists(w.home + "/.kube/config"))
        #expect(w.exists(w.home + "/.aphex/clusters/bb/cluster.json"))

        let second = try await w.aphex(["kind", "create", "--cluster-name", "bb", "--output", "json"])
        #expect(second.status == 0, "\(second.stderrText)")
        let json = try JSON.parse(second.stdoutText)
        #expect(json["outcome"]?.string == "reused")
        #expect(json["kubeconfig"]?.string == w.kubeconfig("bb"))
        #expect(json["context"]?.string == "kind-bb")
        #expect(w.log.filter { $0.hasPrefix("kind create") }.count == 1)
    }

    @Test func brokenClusterIsRefusedThenRecreated() async throws {
        let w = try DriverWorld()
        try w.touch("clusters/bb/broken")
        let refused = try await w.aphex(["kind", "create", "--cluster-name", "bb"])
        #expect(refused.status == 2)
        #expect(refused.stderrText.contains("--recreate"))
        #expect(!w.log.contains { $0.hasPrefix("kind create") || $0.hasPrefix("kind delete") })
        // Nothing written for the cluster: only the run's lock file (issue 14.3).
        #expect(!w.exists(w.home + "/.aphex/clusters/bb"))
        #expect((try? FileManager.default.contentsOfDirectory(atPath: w.home + "/.aphex/clusters")) == ["bb.lock"])

        let recreated = try await w.aphex(["kind", "create", "--cluster-name", "bb", "--recreate", "--timeout", "20s"])
        #expect(recreated.status == 0, "\(recreated.stderrText)")
        #expect(w.log.contains("kind delete cluster --name bb --kubeconfig \(w.kubeconfig("bb"))"))
        #expect(w.log.last { $0.hasPrefix("kind create") } == createLine(w, "bb"))
    }

    @Test func failedCreateIsCleanedUpUnlessRetained() async throws {
        let w = try DriverWorld()
        try w.touch("fail-create")
        let failed = try await w.aphex(["kind", "create", "--cluster-name", "bb"])
        #expect(failed.status == 1)
        #expect(failed.stderrText.contains("failed to init node with kubeadm"))
        #expect(
            w.log.suffix(2) == [createLine(w, "bb"), "kind delete cluster --name bb --kubeconfig \(w.kubeconfig("bb"))"]
        )
        #expect(!w.exists(w.state + "/clusters/bb"))
        #expect(!w.exists(w.home + "/.aphex/clusters/bb"))

        let kept = try await w.aphex(["kind", "create", "--cluster-name", "bb2", "--retain"])
        #expect(kept.status == 1)
        #expect(w.log.last == createLine(w, "bb2", retain: true))
        #expect(w.exists(w.state + "/clusters/bb2"))
    }

    @Test func deleteAndList() async throws {
        let w = try DriverWorld()
        #expect(try await w.aphex(["kind", "create", "--cluster-name", "mine"]).status == 0)
        try w.touch("clusters/theirs/.keep")
        let n = w.log.count
        let list = try await w.aphex(["kind", "list"])
        #expect(list.status == 0)
        #expect(Array(w.log[n...]) == ["kind version", "kind get clusters"])
        let rows = list.stdoutText.split(separator: "\n").map {
            $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        }
        #expect(rows.contains(["mine", "yes", w.kubeconfig("mine")]))
        #expect(rows.contains(["theirs", "no", "-"]))
        let listJSON = try JSON.parse(try await w.aphex(["kind", "list", "--output", "json"]).stdoutText)
        let managed = Dictionary(
            uniqueKeysWithValues: (listJSON["clusters"]?.array ?? []).map {
                ($0["name"]!.string!, $0["managed"]!.bool!)
            })
        #expect(managed == ["mine": true, "theirs": false])
        // a record whose cluster was deleted behind aphex's back is listed as gone
        try FileManager.default.removeItem(atPath: w.state + "/clusters/mine")
        let stale = try await w.aphex(["kind", "list"])
        #expect(stale.stdoutText.contains("cluster gone"))
        let staleJSON = try JSON.parse(try await w.aphex(["kind", "list", "--output", "json"]).stdoutText)
        #expect(staleJSON["clusters"]?.array?.first { $0["name"]?.string == "mine" }?["exists"] == .bool(false))
        try w.touch("clusters/mine/.keep")

        let del = try await w.aphex(["kind", "delete", "--cluster-name", "mine", "--yes"])
        #expect(del.status == 0, "\(del.stderrText)")
        #expect(w.log.last == "kind delete cluster --name mine --kubeconfig \(w.kubeconfig("mine"))")
        #expect(!w.exists(w.home + "/.aphex/clusters/mine"))
        #expect(!w.exists(w.state + "/clusters/mine"))
        let again = try await w.aphex(["kind", "delete", "--cluster-name", "mine", "--yes"])
        #expect(again.status == 0)
        #expect(again.stdoutText.contains("nothing changed"))
    }

    @Test func nodeWaitTimeoutExits3() async throws {
        let w = try DriverWorld()
        try w.touch("notready")
        let r = try await w.aphex(["kind", "create", "--cluster-name", "slow", "--timeout", "3s"])
        #expect(r.status == 3)
        #expect(r.stderrText.contains("slow-control-plane"))
        #expect(r.stderrText.contains("KubeletNotReady"))
    }

    @Test func dryRunsRunNothing() async throws {
        let w = try DriverWorld()
        let kind = try await w.aphex(["kind", "create", "--cluster-name", "dry", "--workers", "1", "--dry-run"])
        #expect(kind.status == 0)
        #expect(kind.stdoutText.contains("kind: Cluster"))
        #expect(kind.stdoutText.contains("- role: worker"))
        #expect(kind.stdoutText.contains(createLine(w, "dry")))
        let kindDel = try await w.aphex(["kind", "delete", "--cluster-name", "dry", "--dry-run", "--output", "json"])
        #expect(kindDel.status == 0)
        #expect(try JSON.parse(kindDel.stdoutText)["dryRun"] == .bool(true))
        let k3s = try await w.aphex(["k3s", "install", "--dry-run", "--disable-traefik"])
        #expect(k3s.status == 0)
        #expect(k3s.stdoutText.contains("INSTALL_K3S_EXEC='--write-kubeconfig-mode 0600 --disable traefik'"))
        let un = try await w.aphex(["k3s", "uninstall", "--dry-run"])
        #expect(un.status == 0)
        #expect(w.log.isEmpty)
        #expect(w.apiLog.isEmpty)
        #expect(w.installerLog.isEmpty)
        #expect(!w.exists(w.home + "/.aphex"))
        #expect(!w.exists(w.hostRoot + "/usr"))
    }

    @Test func k3sInstallTwiceStatusAndUninstall() async throws {
        let w = try DriverWorld()
        let first = try await w.aphex(["k3s", "install", "--timeout", "20s"])
        #expect(first.status == 0, "\(first.stderrText)")
        #expect(w.installerLog == ["INSTALL_K3S_VERSION=v1.31.4+k3s1 INSTALL_K3S_EXEC=--write-kubeconfig-mode 0600"])
        #expect(w.log.isEmpty)
        #expect(w.apiLog == ["GET /k3s/api/v1/nodes"])
        #expect(PrivateFiles.mode(w.kubeconfig("platform-cluster")) == 0o600)
        // no installer left behind in TMPDIR
        #expect(try FileManager.default.contentsOfDirectory(atPath: w.tmp).isEmpty)

        let second = try await w.aphex(["k3s", "install", "--output", "json"])
        #expect(second.status == 0, "\(second.stderrText)")
        #expect(try JSON.parse(second.stdoutText)["outcome"]?.string == "reused")
        #expect(w.installerLog.count == 1)

        let n = w.apiLog.count
        let status = try await w.aphex(["k3s", "status", "--output", "json"])
        #expect(status.status == 0)
        #expect(w.log.isEmpty)
        // one node read, with k3s's own kubeconfig (its server)
        #expect(Array(w.apiLog[n...]) == ["GET /k3s/api/v1/nodes"])
        let s = try JSON.parse(status.stdoutText)
        #expect(s["installed"] == .bool(true) && s["running"] == .bool(true) && s["ready"] == .bool(true))

        let refused = try await w.aphex(["k3s", "uninstall"])
        #expect(refused.status == 2)
        #expect(refused.stderrText.contains("--yes"))
        #expect(w.exists(w.hostRoot + "/usr/local/bin/k3s"))

        let un = try await w.aphex(["k3s", "uninstall", "--yes"])
        #expect(un.status == 0, "\(un.stderrText)")
        #expect(!w.exists(w.hostRoot + "/usr/local/bin/k3s"))
        #expect(!w.exists(w.home + "/.aphex/clusters/platform-cluster"))
        let after = try await w.aphex(["k3s", "status"])
        #expect(after.status == 1)
        #expect(after.stdoutText.contains("installed:  no"))
    }

    @Test func k3sInstallAsNonRootExits4() async throws {
        let w = try DriverWorld()
        let r = try await w.aphexAsNobody(["k3s", "install"])
        #expect(r.status == 4, "\(r.stderrText)")
        #expect(r.stderrText.contains("sudo aphex k3s install"))
        #expect(w.installerLog.isEmpty)
        #expect(w.log.isEmpty)
        #expect(w.apiLog.isEmpty)
        #expect(!w.exists(w.hostRoot + "/usr"))
    }
}
