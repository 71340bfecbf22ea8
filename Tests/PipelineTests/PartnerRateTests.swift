import Foundation
import Pipeline
import Postgres
import Simulator
import TestSupport
import Testing

/// `partner.writes_per_second` across worker processes: the partner app's writes, as the simulator
/// recorded them, stay within the limit whatever the number of workers; and the gate of one process.
@Suite("Writes per second per partner app (worker processes, simulator, PostgreSQL)", .serialized)
struct PartnerRateTests {
    /// The Graph writes the simulator served, by the second it recorded each in (its journal's `ts` has
    /// whole seconds).
    static func writesPerSecond(journal: String) throws -> [Int: Int] {
        let formatter = ISO8601DateFormatter()
        var counts: [Int: Int] = [:]
        for line in try String(contentsOfFile: journal, encoding: .utf8).split(separator: "\n") {
            guard let entry = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let method = entry["method"] as? String, ["POST", "PATCH", "PUT", "DELETE"].contains(method),
                let path = entry["path"] as? String, path.hasPrefix("/v1.0/") || path.hasPrefix("/beta/"),
                let ts = entry["ts"] as? String, let date = formatter.date(from: ts)
            else { continue }
            counts[Int(date.timeIntervalSince1970), default: 0] += 1
        }
        return counts
    }

    /// The most writes any run of consecutive seconds may hold at `rate` with a bucket of `burst`: the
    /// writes of n whole seconds happened within less than n seconds, and a permit may be used up to its
    /// lifetime after it was granted (`WritePermitPlan.permitLifetime`), and the journal stamps a write when
    /// its answer is sent, up to `transit` after the worker let it go (its HTTP exchange, on a busy machine).
    static func worstExcess(
        _ perSecond: [Int: Int], rate: Double, burst: Double, permitLifetime: Double, transit: Double = 0.5
    )
        -> (excess: Double, window: String)
    {
        guard let first = perSecond.keys.min(), let last = perSecond.keys.max() else { return (-1, "no writes") }
        var worst = (excess: -Double.infinity, window: "")
        for start in first...last {
            var count = 0
            for end in start...last {
                count += perSecond[end] ?? 0
                let seconds = Double(end - start + 1)
                let excess = Double(count) - (burst + rate * (seconds + permitLifetime + transit))
                if excess > worst.excess { worst = (excess, "\(count) writes in \(Int(seconds)) s") }
            }
        }
        return worst
    }

    /// Six customers, two worker processes, the partner app limited to 6 writes a second: every second of
    /// the run, and every run of seconds, holds no more writes than the bucket allows (burst 6, plus what a
    /// permit's one-second lifetime lets through). Without the gate (checked once, with the call in
    /// GraphClient.sendRaw removed) the workers sent 66 of the 72 writes within one second, and the simulator's
    /// per-app quota answered 429s.
    @Test func twoWorkersTogetherStayWithinThePartnerAppsLimit() async throws {
        let domains = (1...6).map { "paced\($0).onmicrosoft.com" }
        let lab = try await PipelineLab("rates", world: PipelineLab.world(domains.map { ($0, .full, .e5) }))
        // The simulator also throttles the app as Graph does across all tenants, scaled down: 48 writes per 5 s
        // window. The gate's 6 a second can never meet it (at most 6 + 6 × (5 + 1) writes in 5 s, plus
        // transit); without the gate the workers meet it at once.
        var faults = Faults()
        faults.throttleAppWrites = 48
        faults.throttleAppWindowS = 5
        lab.simulator.setFaults(faults)
        var jobs: [Int64] = []
        for domain in domains { jobs.append(try await lab.enqueue(domain, path: "m365")) }
        let rate = 6
        let limit = ["ONBOARDER_PARTNER_WRITES_PER_SECOND": String(rate)]
        let workers = [
            try lab.startWorker("paced1", concurrency: 3, limit), try lab.startWorker("paced2", concurrency: 3, limit),
        ]
        try await lab.waitFor(jobs, seconds: 240)
        for (index, domain) in domains.enumerated() {
            #expect(try await lab.state(jobs[index]).state == "succeeded", "\(domain)")
        }
        for worker in workers { worker.signal(SIGTERM) }
        for worker in workers { _ = await worker.wait() }

        let perSecond = try Self.writesPerSecond(journal: lab.journal)
        let writes = perSecond.values.reduce(0, +)
        #expect(writes >= domains.count * 10, "too few writes recorded: \(writes)")
        let worst = Self.worstExcess(
            perSecond, rate: Double(rate), burst: Double(rate),
            permitLifetime: WritePermitPlan().permitLifetime / .seconds(1))
        #expect(
            worst.excess <= 0,
            "over the limit: \(worst.window); per second: \(perSecond.sorted { $0.key < $1.key }.map(\.value))")

        #expect(
            lab.simulator.requestCounts["throttled"] == nil,
            "Graph's per-app quota was met: \(lab.simulator.requestCounts)")

        // Both processes took permits from the one bucket, every write had one, and the limit bound:
        // some takes got nothing and their workers waited.
        let (granted, waits, shown) = try await lab.pool.query(
            """
            SELECT granted_total::int, waits_total::int, limit_per_second::float8
              FROM dashboard.partner_rates WHERE partner_app = \(lab.simulator.world.partnerApp.appID.uuidString.lowercased())
            """
        ).single().decode((Int, Int, Double).self)
        #expect(granted >= writes)
        #expect(waits > 0)
        #expect(shown == Double(rate))
        try await lab.close()
    }

    /// A job whose write waits for a permit stops waiting when it is cancelled, and a limit set on the MSP
    /// lowers the configured one.
    @Test func aCancelledWriteStopsWaiting() async throws {
        let (owner, name) = try await TestDatabase.makeMigratedScratchDatabase("rategate")
        let worker = try await TestDatabase.login(.worker, database: name, owner: owner)
        let pool = PostgresPool(configuration: worker, maxConnections: 2)
        let app = "dddddddd-0000-4000-8000-000000000001"
        let ownerPool = PostgresPool(configuration: owner, maxConnections: 1)
        try await ownerPool.query(
            """
            INSERT INTO onboarder.msps (id, display_name, partner_client_id, partner_tenant_id, writes_per_second)
            VALUES ('slow', 'Slow', \(app)::uuid, gen_random_uuid(), 0.01)
            """)
        // 200 configured, 0.01 (one write per 100 s) from the MSP: the lowest applies.
        let gate = PartnerWriteGates(configured: 200, defaultClientID: "").gate(for: app.uppercased(), pool: pool)
        try await gate.admit()  // the burst's one permit
        let waiting = Task { try await gate.admit() }
        // The second admit waits for a permit 100 s away; cancelled, it ends at once with CancellationError.
        while await gate.waitingWrites < 1 { try await Task.sleep(for: .milliseconds(10)) }
        waiting.cancel()
        await #expect(throws: CancellationError.self) { try await waiting.value }
        #expect(await gate.waitingWrites == 0)
        let limit = try await ownerPool.query(
            "SELECT writes_per_second::float8 FROM onboarder.partner_rates WHERE client_id = \(app)"
        ).single()[0].decode(Double.self)
        #expect(abs(limit - 0.01) < 1e-6)
        await pool.close()
        await ownerPool.close()
        try await TestDatabase.dropScratchDatabase(name)
    }
}
