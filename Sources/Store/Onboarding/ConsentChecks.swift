import Foundation
import Postgres

/// The partner app's consent waits at `resolve-tenant` (`consent_check` events).
extension OnboardingStore {
    /// How many times the job looked at the partner app's consent since `since` (nil: ever): the count the
    /// next look's delay doubles with, and whether the job ever waited for consent.
    public static func consentChecks(job: Int64, since: Date?, on executor: some PostgresExecutor) async throws
        -> Int
    {
        try await executor.query(
            """
            SELECT count(*)::int AS n FROM onboarder.events
             WHERE job_id = \(job) AND kind = 'consent_check'
               AND at >= coalesce(\(since), '-infinity'::timestamptz)
            """
        ).single().decode(Int.self, column: "n")
    }
}

extension OnboardingStore {
    /// The latest Partner Center ask of this job since `since` (a `partner_center_consent` event): its
    /// outcome (`asked`, `exists`, `throttled`, `refused`, `failed`) and what the wait message said of it.
    public static func latestPartnerCenterConsent(job: Int64, since: Date?, on executor: some PostgresExecutor)
        async throws -> (outcome: String, note: String)?
    {
        try await executor.query(
            """
            SELECT detail->>'outcome' AS outcome, coalesce(detail->>'note', '') AS note FROM onboarder.events
             WHERE job_id = \(job) AND kind = 'partner_center_consent'
               AND at >= coalesce(\(since), '-infinity'::timestamptz)
             ORDER BY id DESC LIMIT 1
            """
        ).first.map { try $0.decode((String, String).self) }.map { (outcome: $0.0, note: $0.1) }
    }
}
