import Postgres
import Queue

/// Jobs (`onboarder.jobs`) as the CLI reads and enqueues them. The worker's side of the queue (claim,
/// finish, heartbeat) is `Queue.JobQueue`'s.
public enum Jobs {
    /// Requests per `enqueue_many` call in `enqueueAll`: a statement's arrays stay a few megabytes.
    public static let batchSize = 5000

    /// The customer's latest job of `kind`, if any.
    public static func latest(tenant: Int64, kind: String, on executor: some PostgresExecutor) async throws -> Int64? {
        try await executor.query(
            "SELECT id FROM onboarder.jobs WHERE tenant_id = \(tenant) AND kind = \(kind) ORDER BY id DESC LIMIT 1"
        ).first?.decode(Int64.self, column: "id")
    }

    /// Enqueues every request in one transaction — all or nothing — in calls of `batchSize`; on a
    /// connection already in a transaction, as part of it. `progress` is told how many requests are
    /// done after each call. Results come back in request order (see `JobQueue.enqueue`).
    ///
    /// Approval: `hold` holds the onboard jobs whatever their count ("gdap"); `plan(range)` is the plan of
    /// the requests of each call, which a held batch stores. The database counts each call against its
    /// threshold, and the calls after a held one join its batch; when a later call is held after earlier
    /// ones were not (they created few jobs, most customers being active already), `HeldPartway` is
    /// thrown and the whole transaction undone: enqueue again with `hold: "threshold"`.
    public static func enqueueAll(
        _ requests: [EnqueueRequest], actor: String?, hold: String? = nil,
        plan: (Range<Int>) throws -> PostgresJSON? = { _ in nil }, batchSize: Int = Jobs.batchSize,
        on executor: some PostgresExecutor, progress: (Int) -> Void = { _ in }
    ) async throws -> [EnqueueResult?] {
        func statement(_ range: Range<Int>) throws -> PostgresQuery {
            JobQueue.enqueueStatement(Array(requests[range]), actor: actor, hold: hold, plan: try plan(range))
        }
        return try await executor.transaction(isolation: #isolation) { connection in
            var results: [EnqueueResult?] = []
            results.reserveCapacity(requests.count)
            var range = 0..<min(batchSize, requests.count)
            var next = range.isEmpty ? nil : try statement(range)
            while let current = next {
                // The database runs this call while the next one's arrays are written here (a core each).
                async let rows = connection.query(current)
                let following = range.upperBound..<min(range.upperBound + batchSize, requests.count)
                next = following.isEmpty ? nil : try statement(following)
                results += try JobQueue.enqueueResults(try await rows)
                progress(range.upperBound)
                range = following
            }
            let created = zip(requests, results).compactMap { request, result in
                request.kind == "onboard" && result?.created == true ? result : nil
            }
            if created.contains(where: { $0.batchID != nil }) && created.contains(where: { $0.batchID == nil }) {
                throw HeldPartway()
            }
            return results
        }
    }

    /// A multi-statement enqueue whose later statement was held for approval after earlier ones were not.
    public struct HeldPartway: Error {}

    /// How many of `ids` are still on their way: queued, running, or waiting for anything but an operator.
    public static func unsettledCount(_ ids: [Int64], on executor: some PostgresExecutor) async throws -> Int {
        try await executor.query(
            """
            SELECT count(*)::int AS n FROM onboarder.jobs WHERE id = ANY(\(ids))
               AND (state IN ('queued', 'running') OR (state = 'waiting' AND wait_reason <> 'input'))
            """
        ).single().decode(Int.self, column: "n")
    }
}
