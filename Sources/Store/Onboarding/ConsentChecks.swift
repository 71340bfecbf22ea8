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
