/// The label aphex puts on every object it creates (`app.kubernetes.io/managed-by=aphex`):
/// namespaces, Secrets, the platform-root Application, release objects and the ownership record.
/// `aphex status` finds the platform's Secrets by it; the ownership record, not the label,
/// decides what `aphex destroy` may delete.
public enum ManagedBy {
    public static let key = "app.kubernetes.io/managed-by"
    public static let value = "aphex"
    /// `key=value`, as a label selector.
    public static let selector = "\(key)=\(value)"
}
