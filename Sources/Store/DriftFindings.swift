import Foundation
import Postgres

/// What Onboarder recorded of a customer: what its drift audit compares the tenant with.
public struct AuditRecord: Sendable {
    public var path: String?
    public var entraTenantID: String?
    public var appObjectID: String?
    public var appID: String?
    public var servicePrincipalID: String?
    public var sbcFQDN: String?
    public var onboarded: Bool
    public var offboarded: Bool
    /// The customer's last onboarding (its payload and checkpoints are the rest of the baseline).
    public var onboardJob: Int64?
    public var onboardPayload: PostgresJSON?
    /// Recorded credentials other than removed ones: (kind, state, key id or thumbprint).
    public var credentials: [(kind: String, state: CredentialState, id: String)]
    /// An offboarded customer: its last offboarding (its payload has the PBX and `keep_domain`).
    public var offboardJob: Int64?
    public var offboardPayload: PostgresJSON?
    /// Whether an onboarding or a (real) offboarding of the customer is active: a residue audit would see
    /// the objects it is making or removing.
    public var lifecycleActive: Bool
    /// The customer's credentials not destroyed: not `removed`, or removed with the sealed value still stored
    /// (kind, state, key id or thumbprint). An offboarded customer has none.
    public var undestroyedCredentials: [(kind: String, state: String, id: String, sealed: Bool)]
}

/// An audit's job, its customer, and whether it was enqueued by this call.
public struct EnqueuedAudit: Sendable, Equatable {
    public var job: Int64
    public var tenant: Int64
    public var msp: String
    public var tenantKey: String
    public var created: Bool
}

/// A finding as `dashboard.drift` shows it.
public struct DriftRow: Sendable, Equatable {
    public var msp: String
    public var customer: String
    public var finding: String
    public var subject: String
    public var detail: String
    public var since: Date
    public var seenAt: Date
}

/// An onboarding `onboarder audit --repair` enqueued (or found active) for a drifted customer.
public struct DriftRepair: Sendable, Equatable {
    public var tenant: Int64
    public var tenantKey: String
    public var job: Int64
    public var created: Bool
    public var findings: [String]
    /// The held batch the onboarding waits in for approval (more repairs than `approval_threshold`).
    public var batch: Int64?
}

/// `onboarder.drift_findings`: the audit job's record of each customer's drift, and what `onboarder audit`
/// enqueues and reads (sql/functions/82_audit.sql).
public enum DriftFindings {
    /// The baseline of customer row `tenant`.
    public static func record(tenant: Int64, on executor: some PostgresExecutor) async throws -> AuditRecord {
        let row = try await executor.query(
            """
            SELECT i.path, i.entra_tenant_id::text, i.app_object_id::text, i.app_id::text,
                   i.service_principal_id::text, i.sbc_fqdn, i.onboarded_at IS NOT NULL, i.offboarded_at IS NOT NULL,
                   j.id, j.payload, o.id, o.payload,
                   EXISTS (SELECT 1 FROM onboarder.jobs a
                            WHERE a.tenant_id = t.id AND a.state IN ('queued', 'running', 'waiting', 'needs_attention')
                              AND (a.kind = 'onboard' OR (a.kind = 'offboard' AND a.subject = '')))
              FROM onboarder.tenants t
              LEFT JOIN onboarder.integrations i ON i.tenant_id = t.id
              LEFT JOIN LATERAL (SELECT j.id, j.payload FROM onboarder.jobs j
                                  WHERE j.tenant_id = t.id AND j.kind = 'onboard'
                                    AND j.state IN ('succeeded', 'succeeded_with_warnings')
                                  ORDER BY j.id DESC LIMIT 1) j ON true
              LEFT JOIN onboarder.jobs o ON o.id = i.offboard_job_id
             WHERE t.id = \(tenant)
            """
        ).single()
        let (path, entra, appObject, appID, principal, sbc, onboarded, offboarded, job, payload) = try row.decode(
            (String?, String?, String?, String?, String?, String?, Bool?, Bool?, Int64?, PostgresJSON?).self)
        let (offboardJob, offboardPayload, lifecycleActive) = try (
            row[10].decode(Int64?.self), row[11].decode(PostgresJSON?.self), row[12].decode(Bool.self)
        )
        // The app's credentials, whichever customer row recorded them (the same tenant under another key).
        let credentials = try await executor.query(
            """
            SELECT c.kind, c.state, coalesce(lower(c.key_id::text), c.thumbprint)
              FROM (\(OnboardingStore.rowAndAppCredentials(tenant: tenant, appObjectID: appObject))) c
             WHERE coalesce(c.key_id::text, c.thumbprint) IS NOT NULL
            """
        ).map { row in
            let (kind, state, id) = try row.decode((String, CredentialState, String).self)
            return (kind: kind, state: state, id: id)
        }
        let undestroyed = try await executor.query(
            """
            SELECT kind, state, coalesce(lower(key_id::text), thumbprint, 'row ' || id), sealed IS NOT NULL
              FROM onboarder.credentials
             WHERE tenant_id = \(tenant) AND (state <> 'removed' OR sealed IS NOT NULL) ORDER BY id
            """
        ).map { row in
            let (kind, state, id, sealed) = try row.decode((String, String, String, Bool).self)
            return (kind: kind, state: state, id: id, sealed: sealed)
        }
        return AuditRecord(
            path: path, entraTenantID: entra, appObjectID: appObject, appID: appID, servicePrincipalID: principal,
            sbcFQDN: sbc, onboarded: onboarded ?? false, offboarded: offboarded ?? false, onboardJob: job,
            onboardPayload: payload, credentials: credentials, offboardJob: offboardJob,
            offboardPayload: offboardPayload, lifecycleActive: lifecycleActive, undestroyedCredentials: undestroyed)
    }

    /// Records an audit's findings for customer row `tenant` in one transaction: each finding upserted (`since`
    /// kept for one still present, `seen_at` now), and, when the audit read everything (`complete`), those no
    /// longer seen deleted; `integrations.audited_at/audit_job_id`; an event per finding new (`drift_found`)
    /// and cleared (`drift_cleared`). Returns how many were new and cleared.
    @discardableResult
    public static func store(
        tenant: Int64, msp: String, job: Int64, findings: [(finding: String, subject: String, detail: String)],
        complete: Bool, on executor: some PostgresExecutor
    ) async throws -> (found: Int, cleared: Int) {
        let names = findings.map(\.finding)
        let subjects = findings.map { String($0.subject.prefix(512)) }
        let details = findings.map { String($0.detail.prefix(2000)) }
        let row = try await executor.query(
            """
            WITH input AS (
                SELECT DISTINCT ON (i.finding, i.subject) i.finding, i.subject, i.detail
                  FROM unnest(\(names)::text[], \(subjects)::text[], \(details)::text[]) AS i(finding, subject, detail)
            ), upserted AS (
                INSERT INTO onboarder.drift_findings AS f (tenant_id, msp_id, finding, subject, detail, job_id)
                SELECT \(tenant), \(msp), i.finding, i.subject, i.detail, \(job) FROM input i
                ON CONFLICT (tenant_id, finding, subject) DO UPDATE
                   SET detail = EXCLUDED.detail, seen_at = now(), job_id = EXCLUDED.job_id, msp_id = EXCLUDED.msp_id
                RETURNING f.finding, f.subject, f.detail, (f.xmax = 0) AS new
            ), cleared AS (
                DELETE FROM onboarder.drift_findings f
                 WHERE f.tenant_id = \(tenant) AND \(complete)
                   AND NOT EXISTS (SELECT 1 FROM input i WHERE i.finding = f.finding AND i.subject = f.subject)
                RETURNING f.finding, f.subject
            ), audited AS (
                UPDATE onboarder.integrations SET audited_at = now(), audit_job_id = \(job) WHERE tenant_id = \(tenant)
                RETURNING 1
            ), found_events AS (
                INSERT INTO onboarder.events (job_id, kind, detail)
                SELECT \(job), 'drift_found', jsonb_build_object('finding', u.finding, 'subject', u.subject, 'detail', u.detail)
                  FROM upserted u WHERE u.new
                RETURNING 1
            ), cleared_events AS (
                INSERT INTO onboarder.events (job_id, kind, detail)
                SELECT \(job), 'drift_cleared', jsonb_build_object('finding', c.finding, 'subject', c.subject)
                  FROM cleared c
                RETURNING 1
            )
            SELECT (SELECT count(*)::int FROM found_events) AS found, (SELECT count(*)::int FROM cleared_events) AS cleared,
                   (SELECT count(*)::int FROM audited) AS audited
            """
        ).single()
        return (try row.decode(Int.self, column: "found"), try row.decode(Int.self, column: "cleared"))
    }

    /// Enqueues the audits of the onboarded customers the login acts for (`msp`, `customer` narrow them).
    public static func enqueueAudits(
        msp: String?, customer: String?, actor: String, on executor: some PostgresExecutor
    ) async throws -> [EnqueuedAudit] {
        try await executor.query(
            "SELECT job_id, tenant_id, msp, tenant_key, created FROM onboarder.enqueue_audits(\(msp), \(customer), \(actor))"
        ).map { row in
            let (job, tenant, msp, key, created) = try row.decode((Int64, Int64, String, String, Bool).self)
            return EnqueuedAudit(job: job, tenant: tenant, msp: msp, tenantKey: key, created: created)
        }
    }

    /// The jobs of `jobs` that have not ended: queued, running, or waiting for a retry.
    public static func unfinished(_ jobs: [Int64], on executor: some PostgresExecutor) async throws -> Int {
        try await executor.query(
            """
            SELECT count(*)::int AS n FROM onboarder.jobs
             WHERE id = ANY(\(jobs)) AND state IN ('queued', 'running', 'waiting')
            """
        ).single().decode(Int.self, column: "n")
    }

    /// Audit jobs of `jobs` that ended without a result (failed, needs attention, cancelled): job → why.
    public static func stopped(_ jobs: [Int64], on executor: some PostgresExecutor) async throws -> [(
        job: Int64, state: String, reason: String
    )] {
        try await executor.query(
            """
            SELECT id, state, coalesce(attention, last_error, '') FROM onboarder.jobs
             WHERE id = ANY(\(jobs)) AND state IN ('failed', 'needs_attention', 'cancelled') ORDER BY id
            """
        ).map { row in
            let (job, state, reason) = try row.decode((Int64, String, String).self)
            return (job, state, reason)
        }
    }

    /// The findings of `customers` (MSP, tenant key) as `dashboard.drift` shows them to the login.
    public static func findings(of customers: [(msp: String, tenantKey: String)], on executor: some PostgresExecutor)
        async throws -> [DriftRow]
    {
        guard !customers.isEmpty else { return [] }
        return try await executor.query(
            """
            SELECT d.msp, d.customer, d.finding, d.subject, d.detail, d.since, d.seen_at
              FROM dashboard.drift d
              JOIN unnest(\(customers.map(\.msp))::text[], \(customers.map(\.tenantKey))::text[]) AS c(msp, customer)
                ON c.msp = d.msp AND c.customer = d.customer
             ORDER BY d.msp, d.customer, d.finding, d.subject
            """
        ).map { row in
            let (msp, customer, finding, subject, detail, since, seen) = try row.decode(
                (String, String, String, String, String, Date, Date).self)
            return DriftRow(
                msp: msp, customer: customer, finding: finding, subject: subject, detail: detail, since: since,
                seenAt: seen)
        }
    }

    /// Enqueues an onboarding for each of `tenants` that has findings (`onboarder.repair_drift`).
    public static func repair(_ tenants: [Int64], actor: String, on executor: some PostgresExecutor) async throws
        -> [DriftRepair]
    {
        try await executor.query(
            """
            SELECT tenant_id, tenant_key, job_id, created, findings, batch_id
              FROM onboarder.repair_drift(\(tenants), \(actor))
            """
        ).map { row in
            let (tenant, key, job, created, findings, batch) = try row.decode(
                (Int64, String, Int64, Bool, [String], Int64?).self)
            return DriftRepair(
                tenant: tenant, tenantKey: key, job: job, created: created, findings: findings, batch: batch)
        }
    }
}
