import Foundation
import Postgres

/// A job waiting for the customer's technician, as `dashboard.handover_waiting` shows it.
public struct HandoverWaiting: Sendable, Equatable {
    public let msp: String
    /// The customer's tenant key, as enqueued.
    public let customer: String
    /// The customer's directory (Entra tenant) id; nil before the pipeline resolved it.
    public let tenantID: String?
    public let jobID: Int64
    /// `onboard`, `rotate-secret` or `rotate-certificate`.
    public let kind: String
    /// `certificate`, `verify`, `rotate-handover`, `rotate-test-pbx` or `rotate-cert-new`.
    public let step: String
    public let waitingSince: Date
    /// The job's wait message (`step: what is missing`).
    public let message: String?
    public let pbxURL: String?
    public let applicationID: String?
    /// No PBX certificate is supplied or on the app for this job yet.
    public let certificateNeeded: Bool
    /// The customer's row (`onboarder.tenants.id`).
    public let customerID: Int64

    public init(
        msp: String, customer: String, tenantID: String?, jobID: Int64, kind: String, step: String,
        waitingSince: Date, message: String?, pbxURL: String?, applicationID: String?, certificateNeeded: Bool,
        customerID: Int64
    ) {
        self.msp = msp
        self.customer = customer
        self.tenantID = tenantID
        self.jobID = jobID
        self.kind = kind
        self.step = step
        self.waitingSince = waitingSince
        self.message = message
        self.pbxURL = pbxURL
        self.applicationID = applicationID
        self.certificateNeeded = certificateNeeded
        self.customerID = customerID
    }

    /// A secret rotation hands over its own new secret; a certificate rotation hands over none (the PBX
    /// keeps the secret it has); an onboarding hands over the customer's current one.
    public var handsOverASecret: Bool { kind != "rotate-certificate" }
}

/// The technician's hand-over (`sql/functions/60_handover.sql`): who waits for it, and the technician's word
/// that the PBX part is done (the secret each one gets: `CredentialRecords.handedOver`).
public enum Handover {
    /// The jobs waiting for their technician, oldest wait first; only `msp`'s when given. Row-level
    /// security limits an operator to its MSPs.
    public static func waiting(msp: String?, on executor: some PostgresExecutor) async throws -> [HandoverWaiting] {
        try await executor.query(
            """
            SELECT msp, customer, tenant_id, job_id, kind, step, waiting_since, message, pbx_url, application_id,
                   certificate_needed, customer_id
              FROM dashboard.handover_waiting
             WHERE \(msp)::text IS NULL OR msp = \(msp)
             ORDER BY waiting_since, job_id
            """
        ).map { row in
            let (msp, customer, tenantID, job, kind, step, since, message, pbx, app, needed, customerID) =
                try row.decode(
                    (
                        String, String, String?, Int64, String, String, Date, String?, String?, String?, Bool,
                        Int64
                    ).self)
            return HandoverWaiting(
                msp: msp, customer: customer, tenantID: tenantID, jobID: job, kind: kind, step: step,
                waitingSince: since, message: message, pbxURL: pbx, applicationID: app, certificateNeeded: needed,
                customerID: customerID)
        }
    }

    /// Records the technician's word that the PBX part is done for each customer of `tenants` and wakes their
    /// jobs waiting at the hand-over, in one statement (a technician's round names hundreds). Returns, per
    /// customer, how many were woken (0: none waits, nothing recorded for it); a customer that does not exist
    /// or belongs to an MSP this login may not act for is absent (the database answers both alike).
    public static func done(tenants: [Int64], actor: String?, on executor: some PostgresExecutor) async throws
        -> [Int64: Int]
    {
        guard !tenants.isEmpty else { return [:] }
        var woken: [Int64: Int] = [:]
        for row in try await executor.query(
            "SELECT tenant, woken FROM onboarder.handover_done_many(\(tenants), \(actor))")
        {
            let (tenant, count) = try row.decode((Int64, Int?).self)
            if let count { woken[tenant] = count }
        }
        return woken
    }
}
