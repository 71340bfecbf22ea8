import Synchronization

/// Requests served per endpoint (`POST token`, `GET applications`, `injected 503`, …), for
/// `GET /_sim/stats` and the tests' counts.
final class RequestCounter: Sendable {
    private let counts = Mutex([String: Int]())

    func count(_ endpoint: String) { counts.withLock { $0[endpoint, default: 0] += 1 } }

    var snapshot: [String: Int] { counts.withLock { $0 } }
}
