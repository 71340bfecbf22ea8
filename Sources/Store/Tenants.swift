import Foundation
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
    /// given. Row-level security limits an operator to its MSPs' customers. More than one: the name is
    /// ambiguous across MSPs.
    public static func matching(
        _ name: String, msp: String? = nil, on executor: some PostgresExecutor
    ) async throws -> [TenantRecord] {
        // Each name by its own index (0018_customer_lookup.sql): an OR across the two tables read them whole.
        let tenantID = UUID(uuidString: name)?.uuidString.lowercased()
        let rows = try await executor.query(
            """
            SELECT t.id, t.msp_id, t.tenant_key FROM onboarder.tenants t
             WHERE t.id IN (SELECT k.id FROM onboarder.tenants k WHERE lower(k.tenant_key) = lower(\(name))
                            UNION ALL
                            SELECT e.id FROM onboarder.tenants e WHERE e.entra_tenant_id = \(tenantID)::uuid
                            UNION ALL
                            SELECT i.tenant_id FROM onboarder.integrations i WHERE i.entra_tenant_id = \(tenantID)::uuid
                            UNION ALL
                            SELECT d.tenant_id FROM onboarder.integrations d WHERE d.default_domain = lower(\(name)))
               AND (\(msp)::text IS NULL OR t.msp_id = \(msp))
             ORDER BY t.id
            """)
        return try rows.map { row in
            let (id, msp, key) = try row.decode((Int64, String, String).self)
            return TenantRecord(id: id, msp: msp, key: key)
        }
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
