import Foundation
import Synchronization

/// The fault settings in force and their seeded generator, shared by the fault middleware (errors,
/// throttling, lost responses, latency) and the services that model delays inside the cloud (replication
/// lag, credential and DNS propagation). Its own lock: nothing else is held while it is taken.
final class FaultController: Sendable {
    private let state = Mutex(FaultState())

    var faults: Faults { state.withLock { $0.faults } }

    /// Replaces the settings, reseeds the generator and forgets the throttling windows.
    func set(_ faults: Faults) {
        state.withLock { state in
            state.faults = faults
            state.random = SeededRandom(seed: faults.seed)
            state.windows = [:]
        }
    }

    /// Runs `body` on the state: a fault decision takes every draw it needs in one turn, so a seed replays.
    func decide<T>(_ body: (inout FaultState) -> T) -> T { state.withLock { body(&$0) } }

    /// Whether an object created at `created` is visible yet under the replication-lag setting.
    func visible(_ created: Date) -> Bool {
        let lag = faults.replicationLag
        return lag <= 0 || Date().timeIntervalSince(created) >= lag
    }

    /// Whether a credential added at `added` is accepted yet under the propagation setting.
    func propagated(_ added: Date) -> Bool {
        let delay = faults.propagation
        return delay <= 0 || Date().timeIntervalSince(added) >= delay
    }

    /// How long a published TXT record takes to be seen by domain verification.
    var dnsPropagation: TimeInterval { TimeInterval(faults.dnsPropagationMs) / 1000 }
}

/// The mutable side of fault injection: the seeded generator and the throttling windows.
package struct FaultState {
    package var faults = Faults()
    var random = SeededRandom(seed: 1)
    /// (tenant, app) → the start of its window and the writes in it.
    var windows: [String: (start: Date, writes: Int)] = [:]

    package init(faults: Faults = Faults()) {
        self.faults = faults
        random = SeededRandom(seed: faults.seed)
    }

    mutating func roll() -> Double { Double(random.next() >> 11) / Double(1 << 53) }
}
