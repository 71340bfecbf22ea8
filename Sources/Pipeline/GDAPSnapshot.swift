import Foundation
import Graph

/// What an MSP's partner tenant listed of its GDAP customers and relationships, at a time: read with the
/// partner app (`read`), or carried in a file from the login that can use the partner app to the one that
/// enqueues (`onboarder gdap export` → `onboarder enqueue --from-gdap FILE`). No secret is in it: tenant ids,
/// names, relationship statuses, ends and role ids.
public struct GDAPSnapshot: Codable, Sendable, Equatable {
    public var msp: String
    public var partnerTenantID: String
    /// ISO 8601; a snapshot is used for at most `maximumAge`.
    public var readAt: String
    public var customers: [GraphDelegatedAdminCustomer]
    public var relationships: [GraphDelegatedAdminRelationship]

    /// Relationships end and are terminated: a day-old list is as old as Onboarder trusts.
    public static let maximumAge: TimeInterval = 86_400

    enum CodingKeys: String, CodingKey {
        case msp, customers, relationships
        case partnerTenantID = "partner_tenant_id", readAt = "read_at"
    }

    public init(
        msp: String, partnerTenantID: String, readAt: Date, customers: [GraphDelegatedAdminCustomer],
        relationships: [GraphDelegatedAdminRelationship]
    ) {
        self.msp = msp
        self.partnerTenantID = partnerTenantID
        self.readAt = ISO8601DateFormatter().string(from: readAt)
        self.customers = customers
        self.relationships = relationships
    }

    /// Both lists, every page, from `graph` (a client of the MSP's partner tenant with its partner app).
    public static func read(msp: String, graph: GraphClient, now: Date = Date()) async throws -> GDAPSnapshot {
        let customers = try await graph.delegatedAdminCustomers()
        let relationships = try await graph.delegatedAdminRelationships()
        return GDAPSnapshot(
            msp: msp, partnerTenantID: graph.tenant, readAt: now, customers: customers, relationships: relationships)
    }

    /// Why this snapshot cannot be used for `msp` at `now`, or nil.
    public func problem(msp: String, now: Date) -> String? {
        guard self.msp == msp else { return "it lists the GDAP customers of MSP \(self.msp), not \(msp)" }
        guard let read = Run.date(readAt) else { return "its read_at \(EnqueueFile.quoted(readAt)) is not a date" }
        if now.timeIntervalSince(read) > Self.maximumAge {
            return "it was read at \(readAt), more than a day ago: export it again"
        }
        if read.timeIntervalSince(now) > 300 { return "its read_at \(readAt) is in the future" }
        return nil
    }

    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }
}
