import Foundation
import Postgres
import Store
import TestSupport
import Testing

@Suite("Finding a customer by name")
struct CustomerLookupTests {
    /// `handover done`, `cert add --dir` (many names in one statement) and the operator commands (one) name
    /// customers: each name must be found by an index, not by reading every customer (a scan of 10,000 per
    /// name made a benchmark's hand-over quadratic). Among 3,000 customers, each kind of name finds its
    /// customer, alone and among others, for the owner and for an operator under row-level security, and the
    /// tables' statistics show neither tenants nor integrations read whole.
    @Test func eachNameFindsItsCustomerByIndex() async throws {
        let (owner, name) = try await TestDatabase.makeMigratedScratchDatabase("lookup")
        let pool = PostgresPool(configuration: owner, maxConnections: 1)
        let customers = 3_000
        _ = try await Jobs.enqueueAll(
            (0..<customers).map { onboard($0 % 2 == 0 ? "alpha" : "beta", "c\($0).example") }, actor: nil, on: pool)
        let tenantID = "1b1e2d3c-0000-4000-8000-00000000002a", onboardedID = "1b1e2d3c-0000-4000-8000-00000000002b"
        try await pool.query(
            "UPDATE onboarder.tenants SET entra_tenant_id = \(tenantID)::uuid WHERE tenant_key = 'c42.example'")
        try await pool.query(
            """
            INSERT INTO onboarder.integrations (tenant_id, path, entra_tenant_id, default_domain)
            SELECT id, 'teams', CASE WHEN tenant_key = 'c43.example' THEN \(onboardedID)::uuid ELSE gen_random_uuid() END,
                   replace(tenant_key, '.example', '.onmicrosoft.com')
              FROM onboarder.tenants
            """)
        try await pool.query("ANALYZE onboarder.tenants")
        try await pool.query("ANALYZE onboarder.integrations")
        func scanned() async throws -> Int {
            try await pool.query("SELECT pg_stat_force_next_flush()")
            try await pool.query("SELECT pg_stat_clear_snapshot()")
            return try await pool.query(
                """
                SELECT sum(seq_tup_read)::int AS n FROM pg_stat_user_tables
                 WHERE relid IN ('onboarder.tenants'::regclass, 'onboarder.integrations'::regclass)
                """
            ).single().decode(Int.self, column: "n")
        }
        let before = try await scanned()
        for (customerName, key) in [
            ("C41.Example", "c41.example"), (tenantID.uppercased(), "c42.example"), (onboardedID, "c43.example"),
            ("c44.onmicrosoft.com", "c44.example"),
        ] {
            #expect(try await Tenants.matching(customerName, on: pool).map(\.key) == [key], "\(customerName)")
        }
        #expect(try await Tenants.matching("c41.example", msp: "alpha", on: pool).isEmpty)
        #expect(try await Tenants.matching("c41.example", msp: "beta", on: pool).map(\.msp) == ["beta"])
        #expect(try await Tenants.matching("nobody.example", on: pool).isEmpty)
        // Many names in one statement: each name's customers in the names' order, a name twice found twice,
        // an unknown name nothing, --msp applied to each.
        let many = try await Tenants.matching(
            ["c44.onmicrosoft.com", "nobody.example", tenantID, "C41.EXAMPLE", "c44.example", onboardedID], on: pool)
        #expect(
            many.map { $0.map(\.key) } == [
                ["c44.example"], [], ["c42.example"], ["c41.example"], ["c44.example"], ["c43.example"],
            ])
        #expect(
            try await Tenants.matching(["c40.example", "c41.example", "c42.example"], msp: "beta", on: pool).map {
                $0.map(\.key)
            } == [[], ["c41.example"], []])
        #expect(try await Tenants.matching([String](), on: pool).isEmpty)
        // An operator of alpha (row-level security on the tables): alpha's customers only, still by index.
        let operatorLogin = try await TestDatabase.login(.operator, msps: ["alpha"], database: name, owner: owner)
        let staff = PostgresPool(configuration: operatorLogin, maxConnections: 1)
        #expect(try await Tenants.matching("C40.example", on: staff).map(\.key) == ["c40.example"])
        #expect(try await Tenants.matching("c44.onmicrosoft.com", on: staff).map(\.key) == ["c44.example"])
        #expect(try await Tenants.matching("c41.example", on: staff).isEmpty)
        #expect(try await Tenants.matching(onboardedID, on: staff).isEmpty)
        #expect(
            try await Tenants.matching(["c41.example", "c40.example", onboardedID], on: staff).map { $0.map(\.key) }
                == [[], ["c40.example"], []])
        // The one-name function SQL users call: the same answer, through the many-name one.
        for (customerName, keys) in [("C40.EXAMPLE", ["c40.example"]), ("c41.example", [])] {
            #expect(
                try await staff.query("SELECT tenant_key FROM onboarder.customers_named(\(customerName))").map {
                    try $0[0].decode(String.self)
                } == keys, "\(customerName)")
        }
        await staff.close()
        #expect(try await scanned() == before, "a customer was looked up by reading a whole table")
        await pool.close()
        try await TestDatabase.dropScratchDatabase(name)
    }
}
