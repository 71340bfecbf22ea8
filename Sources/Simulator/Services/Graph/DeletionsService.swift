import Foundation

/// Graph v1.0 deletions (what offboarding calls): `DELETE /users/{id}` (to Deleted users, where the user still
/// references its UPN's domain), `DELETE /domains/{name}` (refused while any object, a deleted user included,
/// still uses the name), and Deleted items: `GET /directory/deletedItems/microsoft.graph.application`,
/// `DELETE /directory/deletedItems/{id}` (gone for good). Applications are deleted by
/// `GraphApplicationsService`.
struct DeletionsService: Sendable {
    static let writeApplications: Set<String> = ["Application.ReadWrite.All", "Application.ReadWrite.OwnedBy"]

    var routes: [Route<GraphCall>] {
        [
            Route("DELETE", "/v1.0/users/{id}") { call in
                if let denied = call.require(["User.ReadWrite.All", "Directory.ReadWrite.All"]) { return denied }
                let tenant = call.tenant
                guard let user = tenant.user(call["id"]) else { return call.notFound(call["id"]) }
                tenant.users[user.id] = nil
                tenant.deletedUsers[user.id] = (user, Date())
                return SimResponse(status: 204)
            },
            Route("DELETE", "/v1.0/domains/{name}") { call in
                if let denied = call.require(["Domain.ReadWrite.All"]) { return denied }
                let tenant = call.tenant
                let name = call["name"].lowercased()
                guard let domain = tenant.domains[name] else { return call.notFound(name) }
                if domain.isDefault || domain.isInitial {
                    return call.error(
                        400, "Request_BadRequest", "The default or initial domain of the tenant cannot be deleted.")
                }
                let references = tenant.references(toDomain: name)
                if !references.isEmpty {
                    return call.error(
                        400, "Request_BadRequest",
                        "Unable to delete the domain \(name): \(references.count) object(s) still reference it. Use the domainNameReferences API to find them."
                    )
                }
                tenant.domains[name] = nil
                return SimResponse(status: 204)
            },
            Route("GET", "/v1.0/directory/deletedItems/microsoft.graph.application") { call in
                if let denied = call.require(GraphApplicationsService.read) { return denied }
                let deleted = call.tenant.deletedApplications.values.sorted { $0.deleted < $1.deleted }
                return call.page(
                    deleted.map { entry in
                        var object = GraphApplicationsService.representation(entry.app).object ?? [:]
                        object["deletedDateTime"] = .string(Timestamp.string(entry.deleted))
                        return .object(object)
                    }, collection: "directory/deletedItems/microsoft.graph.application")
            },
            Route("DELETE", "/v1.0/directory/deletedItems/{id}") { call in
                let tenant = call.tenant
                guard let id = UUID(uuidString: call["id"]) else {
                    return call.error(400, "Request_BadRequest", "Invalid object identifier '\(call["id"])'.")
                }
                if tenant.deletedApplications[id] != nil {
                    if let denied = call.require(Self.writeApplications) { return denied }
                    tenant.deletedApplications[id] = nil
                    return SimResponse(status: 204)
                }
                if tenant.deletedUsers[id] != nil {
                    // Application permission to purge users: User.DeleteRestore.All.
                    if let denied = call.require(["User.DeleteRestore.All"]) { return denied }
                    tenant.deletedUsers[id] = nil
                    return SimResponse(status: 204)
                }
                return call.notFound(call["id"])
            },
        ]
    }
}
