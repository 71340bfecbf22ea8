import Foundation

/// Deletions, for offboarding. Each is idempotent for its caller: an object already gone answers 404
/// (`GraphError.isGone`), which the offboarding steps count as done.
extension GraphClient {
    /// Deletes the app registration. Entra deletes its service principal, credentials and consent with it,
    /// and keeps the application restorable for 30 days in Deleted applications.
    public func deleteApplication(objectID: String, context: FailureContext = FailureContext()) async throws {
        _ = try await sendRaw("DELETE", "/applications/\(objectID)", context: context)
    }

    public func deleteUser(_ idOrUPN: String, context: FailureContext = FailureContext()) async throws {
        _ = try await sendRaw("DELETE", "/users/\(idOrUPN)", context: context)
    }

    /// Changes a user's sign-in name (onto another verified domain of the tenant).
    public func renameUser(_ id: String, userPrincipalName: String, context: FailureContext = FailureContext())
        async throws
    {
        struct Body: Encodable, Sendable { var userPrincipalName: String }
        _ = try await sendRaw(
            "PATCH", "/users/\(id)", body: Body(userPrincipalName: userPrincipalName), context: context)
    }

    /// Entra refuses (400) while an object still references the domain, a deleted user in Deleted users
    /// included.
    public func deleteDomain(_ name: String, context: FailureContext = FailureContext()) async throws {
        _ = try await sendRaw("DELETE", "/domains/\(name)", context: context)
    }

    /// Deletes an object of Deleted items for good (`/directory/deletedItems/{id}`): it cannot be restored after.
    public func purgeDeletedItem(_ id: String, context: FailureContext = FailureContext()) async throws {
        _ = try await sendRaw("DELETE", "/directory/deletedItems/\(id)", context: context)
    }

    /// The applications in Deleted applications (restorable, holding their unique names).
    public func deletedApplications(context: FailureContext = FailureContext()) async throws -> [GraphApplication] {
        try await items(
            GraphApplication.self, "/directory/deletedItems/microsoft.graph.application", context: context)
    }
}

extension GraphError {
    /// The object is not there (deleted before, by an earlier run or by hand).
    public var isGone: Bool {
        status == 404 && (code == "Request_ResourceNotFound" || code == "ResourceNotFound" || code == nil)
    }
}
