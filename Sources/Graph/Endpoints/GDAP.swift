import Foundation

/// `/tenantRelationships/delegatedAdminCustomers` and `…/delegatedAdminRelationships`: the MSP's customers
/// and its GDAP relationships with them, read in the MSP's own (partner) tenant with the partner app's
/// app-only token. Both need the application permission DelegatedAdminRelationship.Read.All (least
/// privileged; …ReadWrite.All also does) consented in the partner tenant. Both are paged through
/// `@odata.nextLink`; `$top` is at most 300 (Microsoft's list pages for both endpoints), asked for so that a
/// partner with many customers costs few requests.
extension GraphClient {
    /// The largest page Microsoft serves for these lists.
    public static let gdapPageSize = 300

    /// Every customer with a GDAP relationship, all pages.
    public func delegatedAdminCustomers(context: FailureContext = FailureContext()) async throws
        -> [GraphDelegatedAdminCustomer]
    {
        try await items(
            GraphDelegatedAdminCustomer.self, "/tenantRelationships/delegatedAdminCustomers",
            select: ["id", "tenantId", "displayName"], top: Self.gdapPageSize, context: context)
    }

    /// The GDAP relationships, all pages: every one (`customerTenantID` nil), or one customer's
    /// (`$filter=customer/tenantId eq '…'`, as Microsoft's list documents filtering by customer).
    public func delegatedAdminRelationships(
        customerTenantID: String? = nil, context: FailureContext = FailureContext()
    ) async throws -> [GraphDelegatedAdminRelationship] {
        try await items(
            GraphDelegatedAdminRelationship.self, "/tenantRelationships/delegatedAdminRelationships",
            filter: customerTenantID.map { .equals("customer/tenantId", $0) },
            select: ["id", "displayName", "status", "endDateTime", "customer", "accessDetails"],
            top: Self.gdapPageSize, context: context)
    }
}
