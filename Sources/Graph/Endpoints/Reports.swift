import Foundation

/// `/reports/appCredentialSignInActivities` (Graph beta): when each credential of an app last signed in.
extension GraphClient {
    /// The report's answer: its rows, or why the tenant does not serve it.
    public enum CredentialSignInReport: Sendable {
        case activities([GraphAppCredentialSignInActivity])
        /// The report is not available to the partner app in this tenant: no Entra ID P1/P2 licence
        /// (`Authentication_RequestFromNonPremiumTenantOrB2CTenant`), AuditLog.Read.All not consented
        /// (`Authorization_RequestDenied`), or the beta endpoint not served. The text is Graph's.
        case unavailable(String)
    }

    /// The per-credential sign-in activity of the app `appID` (its client id), from `reportsBaseURL` (the
    /// beta base, `microsoft.graph_reports_base_url`). A refusal that means "not available here" (403, 404,
    /// or the non-premium code at any status) is an answer, not a failure: the caller falls back to other
    /// evidence. Every other failure is classified as usual.
    public func credentialSignInActivities(
        appID: String, reportsBaseURL: String, context: FailureContext = FailureContext()
    ) async throws -> CredentialSignInReport {
        do {
            return .activities(
                try await items(
                    GraphAppCredentialSignInActivity.self, reportsBaseURL + "/reports/appCredentialSignInActivities",
                    filter: .equals("appId", appID), context: context))
        } catch let error as GraphError
            where error.status == 403 || error.status == 404
            || error.code == "Authentication_RequestFromNonPremiumTenantOrB2CTenant"
        {
            return .unavailable(error.description)
        }
    }
}
