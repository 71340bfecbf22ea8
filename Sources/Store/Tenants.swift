import Postgres

/// A customer as the store knows it: its row id, its MSP and the tenant key it was enqueued with.
public struct TenantRecord: Sendable, Equatable {
    public let id: Int64
    public let msp: String
    public let key: String
}

/// Customers (`onboarder.tenants`), and what the PBX generated for them.
public enum Tenants {
    /// The customers `name` may mean: its tenant key (GUID or domain) as enqueued, its Entra tenant id (the
    /// row's, or the one onboarding recorded) or its default domain, case-insensitively; only `msp`'s when
    /// given; only customers of MSPs the login acts for (what row-level security shows an operator). More than
    /// one: the name is ambiguous across MSPs.
    public static func matching(
        _ name: String, msp: String? = nil, on executor: some PostgresExecutor
    ) async throws -> [TenantRecord] {
        try await matching([name], msp: msp, on: executor)[0]
    }

    /// `matching(_:msp:on:)` for each of `names`, in one statement (a technician's round names hundreds):
    /// the customers of each name, in the order of `names`.
    public static func matching(
        _ names: [String], msp: String? = nil, on executor: some PostgresExecutor
    ) async throws -> [[TenantRecord]] {
        // onboarder.customers_named_many (72_identity.sql) finds each name by its own index.
        var found = [[TenantRecord]](repeating: [], count: names.count)
        guard !names.isEmpty else { return found }
        let rows = try await executor.query(
            "SELECT ordinal, id, msp_id, tenant_key FROM onboarder.customers_named_many(\(names), \(msp))")
        for row in rows {
            let (ordinal, id, msp, key) = try row.decode((Int, Int64, String, String).self)
            guard found.indices.contains(ordinal - 1) else {
                throw PostgresError(
                    code: .unexpectedResponse, message: "customers_named_many: name \(ordinal) of \(names.count)")
            }
            found[ordinal - 1].append(TenantRecord(id: id, msp: msp, key: key))
        }
        return found
    }

    /// The Teams PowerShell scripts the PBX generated for a customer (dial plan, user mapping), by name.
    public static func scripts(tenant: Int64, on executor: some PostgresExecutor) async throws -> [(
        name: String, body: String
    )] {
        try await executor.query(
            "SELECT name, body FROM onboarder.scripts WHERE tenant_id = \(tenant) ORDER BY name"
        ).map { try $0.decode((String, String).self) }
    }
}
