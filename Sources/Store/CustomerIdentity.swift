import Postgres

/// Another customer row that already holds an Entra tenant id: the same customer enqueued under another
/// key, or another MSP's customer.
public struct CustomerHolder: Sendable, Equatable {
    public let tenant: Int64
    public let msp: String
    public let key: String
    /// Its active job (queued, running, waiting or needing attention), if any: the newest.
    public let activeJob: Int64?
    public let activeJobState: String?

    public init(tenant: Int64, msp: String, key: String, activeJob: Int64?, activeJobState: String?) {
        self.tenant = tenant
        self.msp = msp
        self.key = key
        self.activeJob = activeJob
        self.activeJobState = activeJobState
    }
}

/// What recording a customer row's Entra tenant id came to.
public enum CustomerClaim: Sendable, Equatable {
    /// The row holds the id now (or held it already).
    case claimed
    /// Another row holds it: the job must not touch the tenant.
    case heldBy(CustomerHolder)
    /// The row holds another tenant id (recorded at an earlier enqueue or run): not the tenant it named then.
    case recordedAs(String)
}

/// One customer, one Entra tenant (`onboarder.tenants.entra_tenant_id`, unique across every MSP; see
/// migration 0011). The worker records the id at resolve-tenant, before any write in the tenant.
public enum CustomerIdentity {
    /// Records `entraTenantID` on customer row `tenant` unless another row holds it. A concurrent claim of
    /// the same id by another row waits on the unique index and is answered with the winner.
    public static func claim(tenant: Int64, entraTenantID: String, on executor: some PostgresExecutor) async throws
        -> CustomerClaim
    {
        for _ in 0..<3 {
            if let holder = try await holder(of: entraTenantID, besides: tenant, on: executor) {
                return .heldBy(holder)
            }
            do {
                let rows = try await executor.query(
                    """
                    UPDATE onboarder.tenants SET entra_tenant_id = coalesce(entra_tenant_id, \(entraTenantID)::uuid)
                     WHERE id = \(tenant)
                    RETURNING entra_tenant_id::text
                    """)
                let recorded = try rows.first?[0].decode(String.self)
                return recorded == nil || recorded == entraTenantID ? .claimed : .recordedAs(recorded!)
            } catch let error as PostgresError where error.isUniqueViolation {
                continue  // another row took it between the look and the update: look again
            }
        }
        throw PostgresError(
            code: .server, message: "customer \(tenant): tenant id \(entraTenantID) changed hands three times")
    }

    /// The customer row other than `tenant` that holds `entraTenantID`, with its active job.
    public static func holder(of entraTenantID: String, besides tenant: Int64, on executor: some PostgresExecutor)
        async throws -> CustomerHolder?
    {
        let rows = try await executor.query(
            """
            SELECT t.id, t.msp_id, t.tenant_key, j.id, j.state
              FROM onboarder.tenants t
              LEFT JOIN LATERAL (
                    SELECT j.id, j.state FROM onboarder.jobs j
                     WHERE j.tenant_id = t.id AND j.state IN ('queued', 'running', 'waiting', 'needs_attention')
                     ORDER BY j.id DESC LIMIT 1) j ON true
             WHERE t.entra_tenant_id = \(entraTenantID)::uuid AND t.id <> \(tenant)
            """)
        guard let row = rows.first else { return nil }
        let (id, msp, key, job, state) = try row.decode((Int64, String, String, Int64?, String?).self)
        return CustomerHolder(tenant: id, msp: msp, key: key, activeJob: job, activeJobState: state)
    }
}

extension CustomerIdentity {
    /// The cloud (`global`, `usgov`, `china`) of each of `msps` the login acts for (`onboarder.msp_clouds`:
    /// enqueuers may not read `onboarder.msps`). An MSP not listed is not the login's, or not there yet.
    public static func clouds(of msps: [String], on executor: some PostgresExecutor) async throws -> [String: String] {
        guard !msps.isEmpty else { return [:] }
        let rows = try await executor.query("SELECT msp, cloud FROM onboarder.msp_clouds(\(Array(Set(msps))))")
        var clouds: [String: String] = [:]
        for row in rows {
            let (msp, cloud) = try row.decode((String, String).self)
            clouds[msp] = cloud
        }
        return clouds
    }
}

extension CustomerIdentity {
    /// Which of the rows (`msps[i]`, `tenantIDs[i]`) name another MSP's customer, by index: that MSP
    /// (`onboarder.customers_of_other_msps`). enqueue_many refuses the same rows whatever this said.
    public static func otherMSPs(msps: [String], tenantIDs: [String], on executor: some PostgresExecutor)
        async throws -> [Int: String]
    {
        guard !msps.isEmpty else { return [:] }
        let rows = try await executor.query(
            "SELECT ordinal, msp FROM onboarder.customers_of_other_msps(\(msps), \(tenantIDs)::uuid[])")
        var others: [Int: String] = [:]
        for row in rows {
            let (ordinal, msp) = try row.decode((Int, String).self)
            others[ordinal - 1] = msp
        }
        return others
    }
}
