import Foundation

/// `/domains`: the Teams path's SBC domain and its verification.
extension GraphClient {
    public func domain(_ name: String, context: FailureContext = FailureContext()) async throws -> GraphDomain {
        try await send(GraphDomain.self, "GET", "/domains/\(name)", context: context)
    }

    public func createDomain(_ name: String, context: FailureContext = FailureContext()) async throws -> GraphDomain {
        struct Body: Encodable, Sendable { var id: String }
        return try await send(GraphDomain.self, "POST", "/domains", body: Body(id: name), context: context)
    }

    /// The DNS records that prove the domain is ours (none once it is verified).
    public func verificationRecords(of name: String, context: FailureContext = FailureContext()) async throws
        -> [GraphVerificationRecord]
    {
        try await items(GraphVerificationRecord.self, "/domains/\(name)/verificationDnsRecords", context: context)
    }

    /// Asks Graph to check the TXT record; a 400 means "not published (or not propagated) yet".
    @discardableResult
    public func verifyDomain(_ name: String, context: FailureContext = FailureContext()) async throws -> GraphDomain {
        try await send(GraphDomain.self, "POST", "/domains/\(name)/verify", context: context)
    }
}

extension [GraphVerificationRecord] {
    /// The `MS=ms…` TXT value, nil when the domain is verified already.
    public var txt: String? { first { $0.recordType?.lowercased() == "txt" }?.text }
}
