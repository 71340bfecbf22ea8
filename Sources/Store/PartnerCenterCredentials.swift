import Foundation
import Postgres

/// An MSP's Partner Center credential (`onboarder.msp_secrets.partner_center_refresh_token_sealed`, migration
/// 0012): the sealed refresh token of its admin agent. Workers read it; only the owner writes it.
public enum PartnerCenterCredentials {
    /// The sealing context of the refresh token, as for the MSP's other sealed columns.
    public static func sealingContext(msp: String) -> String {
        "onboarder.msp_secrets/partner_center_refresh_token/\(msp)"
    }

    /// The sealed refresh token of `msp`'s admin agent, or nil.
    public static func sealedRefreshToken(msp: String, on executor: some PostgresExecutor) async throws -> String? {
        try await executor.query(
            "SELECT partner_center_refresh_token_sealed FROM onboarder.msp_secrets WHERE msp_id = \(msp)"
        ).first.flatMap { try $0.decode(String?.self, column: "partner_center_refresh_token_sealed") }
    }

    /// Stores `sealed` for `msp` (the owner's login: `onboarder msp set`, tests).
    public static func setSealedRefreshToken(_ sealed: String?, msp: String, on executor: some PostgresExecutor)
        async throws
    {
        try await executor.query(
            """
            INSERT INTO onboarder.msp_secrets (msp_id, partner_center_refresh_token_sealed) VALUES (\(msp), \(sealed))
            ON CONFLICT (msp_id) DO UPDATE
               SET partner_center_refresh_token_sealed = excluded.partner_center_refresh_token_sealed, updated_at = now()
            """)
    }
}
