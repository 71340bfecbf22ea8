import Foundation

/// `/policies`: the tenant's default app-management policy.
extension GraphClient {
    /// The tenant's cap on password lifetime in days, from its default app-management policy. Reading it
    /// needs Policy.Read.All; without that the error says so and the caller falls back to addPassword's
    /// own refusal ("Credential lifetime exceeds the max value allowed").
    public func maxPasswordLifetimeDays(context: FailureContext = FailureContext()) async throws -> Int? {
        try await send(GraphAppManagementPolicy.self, "GET", "/policies/defaultAppManagementPolicy", context: context)
            .maxPasswordLifetimeDays
    }
}
