import Foundation
import Graph
import Postgres
import Synchronization

/// The `WriteGate` of one partner app in this worker process, backed by its token bucket in PostgreSQL
/// (`onboarder.take_partner_writes`, shared by every worker host): every job of the process writing with
/// the app awaits the same gate. The writes waiting at once are asked for in one statement, with a few
/// permits more for the writes that follow (`WritePermitPlan`); when the bucket is empty every waiter
/// sleeps (a suspended task, no thread held) until the next permit, and a cancelled job stops waiting.
public actor PartnerWriteGate: WriteGate {
    /// The partner app's client id: the bucket's key.
    public let clientID: String
    /// `partner.writes_per_second` (0: none of its own; an MSP's `writes_per_second` may still limit).
    let configured: Double
    /// Whether the app is the configuration's, which MSPs without an app of their own use.
    let isDefault: Bool
    let pool: any PostgresExecutor
    let plan: WritePermitPlan

    private var held = 0
    private var heldUntil = ContinuousClock.now
    private var unlimitedUntil: ContinuousClock.Instant?
    private var nextTake: ContinuousClock.Instant?
    private var burst: Double?
    private var waiting = 0
    /// Writes admitted in the current second and the one before (the demand `WritePermitPlan` prefetches for).
    private var admittedNow = 0
    private var admittedBefore = 0
    private var admittedSecond = ContinuousClock.now
    private var taking: Task<Void, any Error>?
    /// Takes made (for tests and diagnostics).
    public private(set) var takes = 0
    /// Writes waiting for a permit now.
    public var waitingWrites: Int { waiting }

    public init(
        clientID: String, configured: Double, isDefault: Bool, pool: any PostgresExecutor,
        plan: WritePermitPlan = WritePermitPlan()
    ) {
        self.clientID = clientID
        self.configured = configured
        self.isDefault = isDefault
        self.pool = pool
        self.plan = plan
    }

    public func admit() async throws {
        waiting += 1
        defer { waiting -= 1 }
        while true {
            try Task.checkCancellation()
            let now = ContinuousClock.now
            if let unlimitedUntil, now < unlimitedUntil { return }
            if held > 0, now < heldUntil {
                held -= 1
                count(now)
                return
            }
            if let taking {
                // Another waiter is asking for all of us; its failure is ours too (the step retries).
                try await taking.value
                continue
            }
            if let nextTake, now < nextTake {
                try await Task.sleep(until: nextTake, clock: .continuous)
                continue
            }
            let wanted = plan.batch(waiting: waiting, recent: recent(now), burst: burst)
            // Unstructured, so that a waiter cancelled meanwhile does not cancel the take the others await.
            let take = Task { try await self.take(wanted) }
            taking = take
            try await take.value
        }
    }

    private func roll(_ now: ContinuousClock.Instant) {
        let elapsed = now - admittedSecond
        guard elapsed >= .seconds(1) else { return }
        admittedBefore = elapsed < .seconds(2) ? admittedNow : 0
        admittedNow = 0
        admittedSecond = now
    }

    private func count(_ now: ContinuousClock.Instant) {
        roll(now)
        admittedNow += 1
    }

    /// Writes admitted in about the last second.
    private func recent(_ now: ContinuousClock.Instant) -> Int {
        roll(now)
        return max(admittedNow, admittedBefore)
    }

    /// One statement: up to `wanted` permits, and what to do until the next take.
    private func take(_ wanted: Int) async throws {
        defer { taking = nil }
        let row: PostgresRow
        do {
            row = try await pool.query(
                """
                SELECT granted, writes_per_second::float8, burst::float8, wait_seconds
                  FROM onboarder.take_partner_writes(\(clientID), \(wanted)::integer, \(configured)::real, \(isDefault))
                """
            ).single()
        } catch {
            throw WriteGateError(clientID: clientID, underlying: "\(error)")
        }
        let (granted, rate, burst, waitSeconds) = try row.decode((Int, Double?, Double?, Double).self)
        takes += 1
        let now = ContinuousClock.now
        guard let rate else {
            unlimitedUntil = now + plan.unlimitedRecheck
            held = 0
            nextTake = nil
            return
        }
        unlimitedUntil = nil
        self.burst = burst
        held = granted
        heldUntil = now + plan.permitLifetime
        nextTake = plan.retryDelay(wanted: wanted, granted: granted, waitSeconds: waitSeconds, rate: rate).map {
            now + $0
        }
    }
}

/// The bucket could not be asked: the write waits for its step's retry (transient, like a network error).
public struct WriteGateError: Error, CustomStringConvertible {
    public let clientID: String
    public let underlying: String
    public var description: String {
        "the write limit of partner app \(clientID) could not be read from PostgreSQL (onboarder.take_partner_writes): \(underlying)"
    }
}

/// The gates of this worker process, one per partner app (client id), created on first use and shared by
/// every job (a lock, not an actor: `Run.graph()` builds its client synchronously).
public final class PartnerWriteGates: Sendable {
    private let gates = Mutex<[String: PartnerWriteGate]>([:])
    let configured: Double
    let defaultClientID: String
    let plan: WritePermitPlan

    /// `configured`: `partner.writes_per_second`; `defaultClientID`: `partner.client_id`.
    public init(configured: Double, defaultClientID: String, plan: WritePermitPlan = WritePermitPlan()) {
        self.configured = configured
        self.defaultClientID = defaultClientID
        self.plan = plan
    }

    /// The gate of partner app `clientID`, its bucket reached through `pool`.
    public func gate(for clientID: String, pool: any PostgresExecutor) -> PartnerWriteGate {
        let key = clientID.lowercased()
        return gates.withLock { gates in
            if let gate = gates[key] { return gate }
            let gate = PartnerWriteGate(
                clientID: key, configured: configured, isDefault: key == defaultClientID.lowercased(), pool: pool,
                plan: plan)
            gates[key] = gate
            return gate
        }
    }
}
