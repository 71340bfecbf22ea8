import Foundation

/// `/organization` and `/subscribedSkus`: who the tenant is and what it bought.
extension GraphClient {
    /// The tenant's organization (one per tenant).
    public func organization(context: FailureContext = FailureContext()) async throws -> GraphOrganization? {
        try await items(GraphOrganization.self, "/organization", context: context).first
    }

    /// The tenant's id as Graph reports it, lower-cased.
    public func organizationID() async throws -> String? {
        try await organization()?.id.lowercased()
    }

    /// The tenant's subscriptions (SKUs) with their service plans and free units.
    public func subscribedSkus(context: FailureContext = FailureContext()) async throws -> [GraphSubscribedSku] {
        try await items(GraphSubscribedSku.self, "/subscribedSkus", context: context)
    }
}
