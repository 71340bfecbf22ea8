import Foundation
import Postgres

/// A tenant's newest active client secret, sealed (`activePassword`).
public struct ActivePassword: Sendable, Equatable {
    public let id: Int64
    public let keyID: String
    public let sealed: String
}

/// What a look at the PBX's hand-over (`verify`, `rotate-test-pbx`) reads of its job and customer before it
/// asks Graph and the PBX: the customer's active client secret and certificates, when the technician last
/// said the PBX part is done, and how many looks this wait made. One statement where it was four: a
/// customer's hand-over is looked at two or three times (`scripts/bench e2e` counts statements per customer).
/// Read before the look asks Graph and the PBX, where the certificates and the technician's word were read
/// after: the technician's word applies to a waiting job only, and only the job records its looks, so neither
/// changes meanwhile; a certificate `cert add` records meanwhile is seen at the next look, as one recorded just
/// after the old read was.
public struct HandoverLooks: Sendable {
    public let activePassword: ActivePassword?
    public let certificates: [StoredCertificate]
    public let handoverDoneAt: Date?
    /// `handoverChecks` at the looked-at step.
    public let checks: Int
}

extension OnboardingStore {
    /// `activePassword`, `certificates`, `handoverDoneAt` and `handoverChecks` of `job` at `step`, in one
    /// statement: a row per certificate (one row with NULL certificate columns when there is none), the
    /// password and the job's columns repeated on each.
    public static func handoverLooks(job: Int64, tenant: Int64, step: String, on executor: some PostgresExecutor)
        async throws -> HandoverLooks
    {
        let rows = try await executor.query(
            """
            WITH p (job, step) AS (SELECT \(job)::bigint, \(step)::text)
            SELECT (\(unsafeSQL: handoverChecksSince)) AS checks, (\(handoverDoneAtQuery(job: job))) AS done_at,
                   pw.id, pw.key_id, pw.sealed,
                   c.id, c.state, c.source, c.thumbprint, c.certificate_pem, c.sealed, c.display_name
              FROM p
              LEFT JOIN LATERAL (\(activePasswordQuery(tenant: tenant))) pw ON true
              LEFT JOIN LATERAL (\(certificatesQuery(tenant: tenant))) c ON true
             ORDER BY c.id
            """)
        var password: ActivePassword?
        var certificates: [StoredCertificate] = []
        var doneAt: Date?
        var checks = 0
        for row in rows {
            let (n, done, passwordID, keyID, sealed, id, state, source, thumbprint, pem, sealedKey, name) =
                try row.decode(
                    (
                        Int, Date?, Int64?, String?, String?, Int64?, CredentialState?, String?, String?, String?,
                        String?, String?
                    ).self)
            (checks, doneAt) = (n, done)
            if let passwordID, let keyID, let sealed {
                password = ActivePassword(id: passwordID, keyID: keyID, sealed: sealed)
            }
            if let id, let state, let source, let thumbprint, let pem, let name {
                certificates.append(
                    StoredCertificate(
                        id: id, state: state, source: source, thumbprint: thumbprint, pem: pem, sealedKey: sealedKey,
                        displayName: name))
            }
        }
        return HandoverLooks(
            activePassword: password, certificates: certificates, handoverDoneAt: doneAt, checks: checks)
    }
}
