import Crypto
import Foundation

/// Microsoft Graph v1.0 `GET /tenantRelationships/delegatedAdminCustomers` and
/// `GET /tenantRelationships/delegatedAdminRelationships`, answered in a partner (MSP) tenant for its
/// customers' GDAP relationships, shaped as the vendored schema (`delegatedAdminCustomer`,
/// `delegatedAdminRelationship`) and Microsoft's list examples show them. As Microsoft documents:
/// both need DelegatedAdminRelationship.Read.All (or …ReadWrite.All) — 403 otherwise —, `$top` up to 300,
/// server-side pages of at most `World.gdapPageSize` followed through `@odata.nextLink`, and `$filter`
/// on `customer/tenantId` and `status` (`eq`, joined by `and`) for relationships, on `tenantId` for
/// customers. A customer is listed while one of its relationships is active (Microsoft deletes the
/// customer object when none is left); its relationships are listed whatever their status.
struct GDAPService: Sendable {
    static let read: Set<String> = ["DelegatedAdminRelationship.Read.All", "DelegatedAdminRelationship.ReadWrite.All"]

    var routes: [Route<GraphCall>] {
        [
            Route("GET", "/v1.0/tenantRelationships/delegatedAdminCustomers") { call in customers(call) },
            Route("GET", "/v1.0/tenantRelationships/delegatedAdminRelationships") { call in relationships(call) },
        ]
    }

    /// The customers of the partner whose tenant `call` is in, with their relationship (the default one
    /// when the world describes none); tenants described without one are left out.
    static func described(_ call: GraphCall) -> [(tenant: SimTenant, relationship: SimGDAPRelationship)] {
        call.world.gdapCustomers(of: call.tenant).compactMap { tenant in
            switch tenant.gdap {
            case .none: nil
            case .standard: (tenant, .standard(created: World.gdapStart))
            case .described(let relationship): (tenant, relationship)
            }
        }
    }

    func customers(_ call: GraphCall) -> SimResponse {
        if let denied = call.require(Self.read) { return denied }
        var listed = Self.described(call).filter { $0.relationship.status == "active" }.map(\.tenant)
        if let filter = call.request.query["$filter"] {
            guard let match = filter.wholeMatch(of: /tenantId eq '([0-9a-fA-F-]+)'/) else {
                return unsupported(call, filter, "DelegatedAdminCustomer")
            }
            listed = listed.filter { $0.id.uuidString.lowercased() == match.output.1.lowercased() }
        }
        return page(
            call, listed.map(Self.customerJSON), collection: "tenantRelationships/delegatedAdminCustomers")
    }

    func relationships(_ call: GraphCall) -> SimResponse {
        if let denied = call.require(Self.read) { return denied }
        var listed = Self.described(call)
        if let filter = call.request.query["$filter"] {
            for clause in filter.split(separator: " and ").map({ $0.trimmingCharacters(in: .whitespaces) }) {
                guard let match = clause.wholeMatch(of: /(customer\/tenantId|status) eq '([^']*)'/) else {
                    return unsupported(call, filter, "DelegatedAdminRelationship")
                }
                let value = String(match.output.2).lowercased()
                listed = listed.filter {
                    match.output.1 == "status"
                        ? $0.relationship.status.lowercased() == value
                        : $0.tenant.id.uuidString.lowercased() == value
                }
            }
        }
        let partner = call.tenant
        return page(
            call, listed.map { Self.relationshipJSON($0.tenant, $0.relationship, partner: partner) },
            collection: "tenantRelationships/delegatedAdminRelationships")
    }

    func unsupported(_ call: GraphCall, _ filter: String, _ resource: String) -> SimResponse {
        call.error(
            400, "BadRequest",
            "Invalid filter clause: the query '\(filter)' is not supported on resource '\(resource)'.")
    }

    /// One page: `$top` (at most 300, Microsoft's documented limit for these lists) within the partner
    /// tenant's server-side page size, and an `@odata.nextLink` carrying a `$skiptoken` while more remain.
    func page(_ call: GraphCall, _ items: [JSONValue], collection: String) -> SimResponse {
        let request = call.request
        let asked = Int(request.query["$top"] ?? "") ?? 300
        guard (1...300).contains(asked) else {
            return call.error(400, "BadRequest", "The value of $top must be between 1 and 300.")
        }
        return call.page(items, collection: collection, top: min(asked, max(1, call.world.gdapPageSize)))
    }

    static func customerJSON(_ tenant: SimTenant) -> JSONValue {
        let id = tenant.id.uuidString.lowercased()
        return .object([
            "@odata.type": .string("#microsoft.graph.delegatedAdminCustomer"),
            "id": .string(id), "tenantId": .string(id), "displayName": .string(tenant.displayName),
        ])
    }

    /// Microsoft's relationship ids are two GUIDs joined by a hyphen; this one is fixed by the partner and
    /// the customer, so a world lists the same ids on every run.
    static func relationshipID(_ tenant: SimTenant, partner: SimTenant) -> String {
        World.derivedID(partner.id, tenant.id).uuidString.lowercased() + "-" + tenant.id.uuidString.lowercased()
    }

    static func relationshipJSON(_ tenant: SimTenant, _ relationship: SimGDAPRelationship, partner: SimTenant)
        -> JSONValue
    {
        let pending = ["created", "approvalPending", "approved"].contains(relationship.status)
        let created = Timestamp.string(relationship.created)
        let name = "Onboarder \(tenant.defaultDomain)"
        return .object([
            "@odata.type": .string("#microsoft.graph.delegatedAdminRelationship"),
            "@odata.etag": .string("W/\"\(Base64URL.encode(Array("\(tenant.id)\(relationship.status)".utf8)))\""),
            "id": .string(relationshipID(tenant, partner: partner)),
            "displayName": .string(String(name.prefix(50))),
            "duration": .string("P730D"),
            "customer": .object([
                "tenantId": .string(tenant.id.uuidString.lowercased()), "displayName": .string(tenant.displayName),
            ]),
            "accessDetails": .object([
                "unifiedRoles": .array(relationship.roles.map { .object(["roleDefinitionId": .string($0)]) })
            ]),
            "status": .string(relationship.status),
            "autoExtendDuration": .string("PT0S"),
            "createdDateTime": .string(created),
            "lastModifiedDateTime": .string(created),
            "activatedDateTime": pending ? .null : .string(created),
            "endDateTime": relationship.end.map { .string(Timestamp.string($0)) } ?? .null,
        ])
    }
}
