import Foundation

/// A kubeconfig for `server`: a token user (the simulator accepts any bearer token) or an
/// exec plugin, the cluster's CA as `certificate-authority-data` when given.
func testKubeconfig(server: String, caData: String?, user: String) throws -> String {
    let path = NSTemporaryDirectory() + "aphex-bb-kc-" + UUID().uuidString.prefix(8).lowercased()
    try """
    apiVersion: v1
    kind: Config
    clusters:
    - name: lab
      cluster:
        server: \(server)\(caData.map { "\n    certificate-authority-data: \($0)" } ?? "")
    users:
    - name: lab
      user:
    \(user)
    contexts:
    - name: lab
      context: {cluster: lab, user: lab}
    current-context: lab
    """.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}
