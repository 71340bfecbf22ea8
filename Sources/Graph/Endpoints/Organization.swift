import Foundation

/// `/organization`: who the tenant is.
extension GraphClient {
    /// The tenant's organization (one per tenant).
    public func organization(context: FailureContext = FailureContext()) async throws -> GraphOrganization? {
        try await items(GraphOrganization.self, "/organization", context: context).first
    }

    /// The tenant's id as Graph reports it, lower-cased.
    public func organizationID() async throws -> String? {
        try await organization()?.id.lowercased()
    }
}
