import Foundation

/// `/subscribedSkus`: what the tenant bought.
extension GraphClient {
    /// The tenant's subscriptions (SKUs) with their service plans and free units.
    public func subscribedSkus(context: FailureContext = FailureContext()) async throws -> [GraphSubscribedSku] {
        try await items(GraphSubscribedSku.self, "/subscribedSkus", context: context)
    }
}
