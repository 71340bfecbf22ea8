import Foundation
import Postgres
import TestSupport
import Testing

/// The partner apps' write buckets (sql/functions/70_partner_rates.sql): the arithmetic, the limit each
/// app gets, takes on a clock the test controls, and two sessions taking at once against the database's
/// own clock.
@Suite("Writes per second per partner app in SQL", .serialized)
struct PartnerRateSQLTests {
    struct BucketCase: Sendable {
        var name: String
        var tokens: Double
        var elapsed: Double
        var rate: Double
        var burst: Double
        var wanted: Int
        var granted: Int
        var left: Double
        var wait: Double
    }

    static let bucketCases: [BucketCase] = [
        BucketCase(
            name: "a full bucket grants what is asked", tokens: 10, elapsed: 0, rate: 10, burst: 10, wanted: 4,
            granted: 4, left: 6, wait: 0),
        BucketCase(
            name: "never more than it holds", tokens: 3, elapsed: 0, rate: 10, burst: 10, wanted: 8, granted: 3,
            left: 0, wait: 0.1),
        BucketCase(
            name: "an empty bucket grants nothing and says when", tokens: 0.25, elapsed: 0, rate: 2, burst: 2,
            wanted: 1, granted: 0, left: 0.25, wait: 0.375),
        BucketCase(
            name: "refills by elapsed time × rate", tokens: 0, elapsed: 0.5, rate: 10, burst: 10, wanted: 10,
            granted: 5, left: 0, wait: 0.1),
        BucketCase(
            name: "the rounding of 0.1 s at 10/s is one permit", tokens: 0, elapsed: 0.1, rate: 10, burst: 10,
            wanted: 1, granted: 1, left: 0, wait: 0.1),
        BucketCase(
            name: "refill stops at the burst", tokens: 1, elapsed: 3600, rate: 5, burst: 5, wanted: 100, granted: 5,
            left: 0, wait: 0.2),
        BucketCase(
            name: "a clock read backwards refills nothing", tokens: 2, elapsed: -5, rate: 10, burst: 10, wanted: 5,
            granted: 2, left: 0, wait: 0.1),
        BucketCase(
            name: "a partial permit stays for the next take", tokens: 1.5, elapsed: 0, rate: 1, burst: 2,
            wanted: 1, granted: 1, left: 0.5, wait: 0.5),
        BucketCase(
            name: "permits left over: no wait", tokens: 4, elapsed: 0, rate: 1, burst: 4, wanted: 2, granted: 2,
            left: 2, wait: 0),
        BucketCase(
            name: "fractional rate", tokens: 0, elapsed: 3, rate: 0.5, burst: 1, wanted: 3, granted: 1, left: 0,
            wait: 2),
    ]

    /// The table above, on one database (the function is pure: no table is read or written).
    @Test func bucketArithmetic() async throws {
        let (owner, name) = try await TestDatabase.makeMigratedScratchDatabase("ratesbucket")
        let connection = try await PostgresConnection.connect(owner)
        for c in Self.bucketCases {
            let (granted, left, wait) = try await connection.query(
                """
                SELECT granted, tokens, wait_seconds
                  FROM onboarder.partner_bucket(\(c.tokens), \(c.elapsed), \(c.rate), \(c.burst), \(c.wanted)::integer)
                """
            ).single().decode((Int, Double, Double).self)
            #expect(granted == c.granted, "\(c.name)")
            #expect(abs(left - c.left) < 1e-6, "\(c.name): left \(left)")
            #expect(abs(wait - c.wait) < 1e-6, "\(c.name): wait \(wait)")
        }
        await connection.close()
        try await TestDatabase.dropScratchDatabase(name)
    }

    /// One take on the test's clock: (granted, limit, wait) at `seconds` after a fixed start.
    static func take(
        _ connection: PostgresConnection, app: String, wanted: Int, configured: Double, isDefault: Bool = false,
        at seconds: Double
    ) async throws -> (granted: Int, limit: Double?, wait: Double) {
        try await connection.query(
            """
            SELECT granted, writes_per_second::float8, wait_seconds
              FROM onboarder.take_partner_writes(\(app), \(wanted)::integer, \(configured)::real, \(isDefault),
                                                 timestamptz '2026-12-01 00:00:00+00' + \(seconds) * interval '1 second')
            """
        ).single().decode((Int, Double?, Double).self)
    }

    @Test func takesOnAControlledClock() async throws {
        let (owner, name) = try await TestDatabase.makeMigratedScratchDatabase("ratesclock")
        let connection = try await PostgresConnection.connect(owner)
        let app = "11111111-2222-4333-8444-555555555555"
        // 4 a second: the bucket holds 4 and starts full.
        var t = try await Self.take(connection, app: app, wanted: 3, configured: 4, at: 0)
        #expect(t.granted == 3 && t.limit == 4 && t.wait == 0)
        t = try await Self.take(connection, app: app, wanted: 3, configured: 4, at: 0)
        #expect(t.granted == 1 && abs(t.wait - 0.25) < 1e-9)
        t = try await Self.take(connection, app: app, wanted: 1, configured: 4, at: 0.1)
        #expect(t.granted == 0 && abs(t.wait - 0.15) < 1e-6)
        t = try await Self.take(connection, app: app, wanted: 16, configured: 4, at: 0.75)
        #expect(t.granted == 3)
        // A minute idle refills only to the burst.
        t = try await Self.take(connection, app: app, wanted: 16, configured: 4, at: 60.75)
        #expect(t.granted == 4)
        // Client ids are one bucket whatever their case.
        t = try await Self.take(connection, app: app.uppercased(), wanted: 1, configured: 4, at: 60.75)
        #expect(t.granted == 0)
        let (granted, waits, rows) = try await connection.query(
            """
            SELECT granted_total, waits_total, (SELECT count(*)::int FROM onboarder.partner_rates)
              FROM onboarder.partner_rates WHERE client_id = \(app)
            """
        ).single().decode((Int, Int, Int).self)
        #expect(granted == 11 && waits == 2 && rows == 1)
        await connection.close()
        try await TestDatabase.dropScratchDatabase(name)
    }

    /// The app's limit is the lowest given for it: the configuration's and every MSP's using the app (its
    /// own, or the configuration's app for MSPs naming none); none given: no limit, nothing counted.
    @Test func theLowestLimitGivenForAnAppApplies() async throws {
        let (owner, name) = try await TestDatabase.makeMigratedScratchDatabase("rateslimit")
        let connection = try await PostgresConnection.connect(owner)
        let own = "aaaaaaaa-0000-4000-8000-000000000001"
        let shared = "aaaaaaaa-0000-4000-8000-000000000002"
        let other = "aaaaaaaa-0000-4000-8000-000000000003"
        try await connection.query(
            """
            INSERT INTO onboarder.msps (id, display_name, partner_client_id, partner_tenant_id, writes_per_second)
            SELECT v.id, v.id, v.app, CASE WHEN v.app IS NOT NULL THEN gen_random_uuid() END, v.rate
              FROM (VALUES ('own-slow', \(own)::uuid, 5::real), ('own-fast', \(own)::uuid, 50),
                           ('default-slow', NULL, 7), ('default-none', NULL, NULL),
                           ('other-none', \(other)::uuid, NULL)) AS v(id, app, rate)
            """)
        let cases: [(app: String, configured: Double, isDefault: Bool, limit: Double?)] = [
            (own, 200, false, 5),  // the slowest MSP using it
            (own, 3, false, 3),  // the configuration's is lower
            (own, 0, false, 5),  // 0: the configuration gives none
            (shared, 200, true, 7),  // the configuration's app: the MSPs naming no app
            (shared, 200, false, 200),  // not the configuration's app: only the configured limit
            (other, 0, false, nil),  // nobody limits it
        ]
        for c in cases {
            let t = try await Self.take(
                connection, app: c.app, wanted: 1, configured: c.configured, isDefault: c.isDefault, at: 0)
            #expect(t.limit == c.limit, "\(c)")
            #expect(t.granted == 1)
        }
        // Unlimited takes are not counted: no row for the app nobody limits.
        let unlimitedRows = try await connection.query(
            "SELECT count(*)::int FROM onboarder.partner_rates WHERE client_id = \(other)"
        ).single()[0].decode(Int.self)
        #expect(unlimitedRows == 0)
        await connection.close()
        try await TestDatabase.dropScratchDatabase(name)
    }

    /// Two sessions take permits as fast as they are given, each sleeping when told to, on the database's
    /// own clock; then, for every window between two takes, the permits granted in it never exceed the
    /// burst plus the rate times the window's length (as the database measured it).
    @Test func twoSessionsTogetherStayWithinTheRate() async throws {
        let (owner, name) = try await TestDatabase.makeMigratedScratchDatabase("ratestwo")
        let worker = try await TestDatabase.login(.worker, database: name, owner: owner)
        let app = "bbbbbbbb-0000-4000-8000-000000000001"
        let rate = 40.0
        let burst = 40.0
        let target = 120  // three bursts' worth: the refill is exercised, not only the first burst
        @Sendable func session() async throws -> [(at: Double, granted: Int)] {
            let connection = try await PostgresConnection.connect(worker)
            var takes: [(at: Double, granted: Int)] = []
            var total = 0
            while total < target / 2 {
                let (granted, wait, at) = try await connection.query(
                    """
                    SELECT granted, wait_seconds, extract(epoch FROM at)::float8
                      FROM onboarder.take_partner_writes(\(app), 3, \(rate)::real, false)
                    """
                ).single().decode((Int, Double, Double).self)
                takes.append((at, granted))
                total += granted
                if granted == 0 { try await Task.sleep(for: .microseconds(Int64(wait * 1_000_000) + 100)) }
            }
            await connection.close()
            return takes
        }
        async let first = session()
        async let second = session()
        let takes = try await (first + second).sorted { $0.at < $1.at }
        let total = takes.reduce(0) { $0 + $1.granted }
        #expect(total >= target)
        var worst = (excess: -Double.infinity, window: "")
        for i in takes.indices {
            var granted = 0
            for j in i..<takes.count {
                granted += takes[j].granted
                let allowed = burst + rate * (takes[j].at - takes[i].at)
                if Double(granted) - allowed > worst.excess {
                    worst = (Double(granted) - allowed, "\(granted) granted in \(takes[j].at - takes[i].at) s")
                }
            }
        }
        #expect(worst.excess <= 1e-6, "over the limit: \(worst.window)")
        // The waits were counted: every take that got nothing, once. (How many there are depends on the
        // machine's pace — a slow one takes so slowly that the refill keeps up — so the count is compared with
        // the takes, not with a number.)
        let waits = try await PostgresConnection.connect(owner)
        let waited = try await waits.query("SELECT waits_total FROM onboarder.partner_rates").single()[0].decode(
            Int.self)
        #expect(waited == takes.filter { $0.granted == 0 }.count)
        await waits.close()
        try await TestDatabase.dropScratchDatabase(name)
    }

    /// The dashboard: per app its limit, its MSPs and what was granted; an operator sees only the apps of
    /// its MSPs; only workers take permits.
    @Test func theDashboardShowsEachAppToItsMSPsOperators() async throws {
        let (owner, name) = try await TestDatabase.makeMigratedScratchDatabase("ratesview")
        let connection = try await PostgresConnection.connect(owner)
        let alphaApp = "cccccccc-0000-4000-8000-000000000001"
        let defaultApp = "cccccccc-0000-4000-8000-000000000002"
        try await connection.query(
            """
            INSERT INTO onboarder.msps (id, display_name, partner_client_id, partner_tenant_id, writes_per_second)
            VALUES ('alpha', 'Alpha', \(alphaApp)::uuid, gen_random_uuid(), 10), ('beta', 'Beta', NULL, NULL, NULL),
                   ('gamma', 'Gamma', NULL, NULL, NULL)
            """)
        let worker = try await TestDatabase.login(.worker, database: name, owner: owner)
        let workerConnection = try await PostgresConnection.connect(worker)
        // Four takes of 4 at one instant (now(), the transaction's): 4, 4, 2, then nothing, a wait.
        let takes = try await workerConnection.query(
            """
            SELECT (onboarder.take_partner_writes(\(alphaApp), 4, 0::real, false, now())).granted
              FROM generate_series(1, 4)
            """
        ).map { try $0[0].decode(Int.self) }
        #expect(takes == [4, 4, 2, 0])
        try await workerConnection.query(
            "SELECT * FROM onboarder.take_partner_writes(\(defaultApp), 2, 100::real, true)")
        await workerConnection.close()

        let rows = try await connection.query(
            """
            SELECT partner_app, limit_per_second::float8, burst::float8, array_to_string(msps, ','),
                   granted_last_minute::int, waits_last_minute::int, granted_total::int, waits_total::int
              FROM dashboard.partner_rates ORDER BY partner_app
            """
        ).map { try $0.decode((String, Double, Double, String, Int, Int, Int, Int).self) }
        #expect(rows.count == 2)
        #expect(
            rows.first.map { [$0.0, "\($0.1)", "\($0.2)", $0.3, "\($0.4)", "\($0.5)", "\($0.6)", "\($0.7)"] }
                == [alphaApp, "10.0", "10.0", "alpha", "10", "1", "10", "1"])
        #expect(rows.last.map { [$0.0, "\($0.1)", $0.3, "\($0.4)"] } == [defaultApp, "100.0", "beta,gamma", "2"])

        let alphaOperator = try await TestDatabase.login(.operator, msps: ["alpha"], database: name, owner: owner)
        let betaOperator = try await TestDatabase.login(.operator, msps: ["beta"], database: name, owner: owner)
        for (login, expected) in [(alphaOperator, [alphaApp + " alpha"]), (betaOperator, [defaultApp + " beta"])] {
            let seen = try await PostgresConnection.connect(login)
            let apps = try await seen.query(
                "SELECT partner_app || ' ' || array_to_string(msps, ',') FROM dashboard.partner_rates ORDER BY 1"
            ).map { try $0[0].decode(String.self) }
            #expect(apps == expected)
            await #expect(throws: PostgresError.self) {
                try await seen.query("SELECT * FROM onboarder.take_partner_writes(\(alphaApp), 1, 0::real, false)")
            }
            await #expect(throws: PostgresError.self) {
                try await seen.query("UPDATE onboarder.partner_rates SET tokens = 1000")
            }
            await seen.close()
        }
        await connection.close()
        try await TestDatabase.dropScratchDatabase(name)
    }
}
