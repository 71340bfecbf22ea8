import Foundation
import Postgres

/// A job waiting for its customer's consent to the MSP's partner app, as `dashboard.consent_waiting` shows it.
public struct ConsentWaiting: Sendable, Equatable {
    public let msp: String
    /// The customer's tenant key, as enqueued.
    public let customer: String
    /// The customer's directory (Entra tenant) id, when known (resolved, or enqueued as a GUID).
    public let tenantID: String?
    public let jobID: Int64
    public let waitingSince: Date
    /// The Microsoft Graph application roles the partner app lacks in the tenant, sorted.
    public let missing: [String]
    /// The partner app has a service principal in the tenant (false: never consented at all).
    public let servicePrincipal: Bool
    /// Microsoft's admin-consent link for the partner app in the tenant, as the worker built it.
    public let consentURL: String?
    public let clientID: String?
    public let checks: Int
    public let message: String?

    public init(
        msp: String, customer: String, tenantID: String?, jobID: Int64, waitingSince: Date, missing: [String],
        servicePrincipal: Bool, consentURL: String?, clientID: String?, checks: Int, message: String?
    ) {
        self.msp = msp
        self.customer = customer
        self.tenantID = tenantID
        self.jobID = jobID
        self.waitingSince = waitingSince
        self.missing = missing
        self.servicePrincipal = servicePrincipal
        self.consentURL = consentURL
        self.clientID = clientID
        self.checks = checks
        self.message = message
    }
}

/// The consent waits (`sql/functions/74_consent.sql`).
public enum ConsentWaits {
    /// The jobs waiting for consent, oldest wait first; only `msp`'s when given. Row-level security limits an
    /// operator to its MSPs.
    public static func waiting(msp: String?, on executor: some PostgresExecutor) async throws -> [ConsentWaiting] {
        try await executor.query(
            """
            SELECT msp, customer, tenant_id, job_id, waiting_since, array_to_string(missing, ',') AS missing,
                   service_principal, consent_url, client_id, checks, message
              FROM dashboard.consent_waiting
             WHERE \(msp)::text IS NULL OR msp = \(msp)
             ORDER BY waiting_since, job_id
            """
        ).map { row in
            let (msp, customer, tenantID, job, since, missing, principal, url, client, checks, message) =
                try row.decode(
                    (String, String, String?, Int64, Date, String, Bool, String?, String?, Int, String?).self)
            return ConsentWaiting(
                msp: msp, customer: customer, tenantID: tenantID, jobID: job, waitingSince: since,
                missing: missing.split(separator: ",").map(String.init), servicePrincipal: principal,
                consentURL: url, clientID: client, checks: checks, message: message)
        }
    }
}
