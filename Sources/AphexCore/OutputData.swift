/// A command's result (stdout), in both of its forms: `description` is the text for humans,
/// the `Encodable` conformance the `--output json` document (swiftly's `OutputData`). One
/// `AppContext.output(_:)` picks the form by `--output`.
public protocol OutputData: Encodable, CustomStringConvertible {}
