/// Every way a checkpoint can be refused, with the file, the field and the reason, so a user
/// sees which file is wrong and why instead of a crash or a silently half-loaded model.
public struct CheckpointError: Error, CustomStringConvertible, Equatable {
    public var file: String
    public var field: String
    public var reason: String

    public init(file: String, field: String, reason: String) {
        self.file = file
        self.field = field
        self.reason = reason
    }

    public var description: String { "\(file): \(field): \(reason)" }
}
