import Synchronization

/// `http` or `https`, as the server was started: the scheme of the links the simulator hands out.
final class ServingScheme: Sendable {
    private let value = Mutex("http")

    var current: String { value.withLock { $0 } }

    func set(tls: Bool) { value.withLock { $0 = tls ? "https" : "http" } }
}
