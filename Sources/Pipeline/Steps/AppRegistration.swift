import Foundation
import Graph
import Store

extension Run {
    /// `app-registration`: the app, created or updated by its unique name.
    mutating func registerApp() async throws {
        let graph = try graph()
        let redirect = payload.redirectURI ?? settings.redirectURI(pbxURL: payload.pbxURL)
        let permissions = ResolvedPermissions(roles: facts.roleIDs ?? [:], scopes: facts.scopeIDs ?? [:])
        let registration = ApplicationRegistration(
            displayName: settings.appName, signInAudience: "AzureADMyOrg", redirectURIs: [redirect],
            requiredResourceAccess: permissions.requiredResourceAccess)
        // The idempotent upsert: a create whose answer was lost, run again, updates the same app.
        let app: GraphApplication
        do {
            app = try await graph.upsertApplication(
                uniqueName: settings.appUniqueName, registration, context: context())
        } catch let error as GraphError where error.status == 400 && error.message.contains("uniqueName") {
            // An offboarded customer's deleted app holds the unique name in Deleted applications: purged
            // (OffboardingReuse), then the upsert makes a new app.
            guard try await purgeDeletedApplications(named: settings.appUniqueName, graph: graph) else { throw error }
            app = try await graph.upsertApplication(
                uniqueName: settings.appUniqueName, registration, context: context())
        }
        facts.appObjectID = app.id.lowercased()
        facts.appID = app.appId.lowercased()
        facts.appRegisteredAt = facts.appRegisteredAt ?? Date()
        record(IntegrationRecord(appObjectID: facts.appObjectID, appID: facts.appID))
    }

    /// `service-principal`: the app's service principal, found by appId or created.
    mutating func servicePrincipal() async throws {
        let graph = try graph()
        let appID = try require(facts.appID, "app id")
        let context = context(createdAt: facts.appRegisteredAt)
        let principal: GraphServicePrincipal
        if let existing = try await graph.servicePrincipal(appID: appID, context: context) {
            principal = existing
        } else {
            do {
                principal = try await graph.createServicePrincipal(appID: appID, context: context)
                facts.servicePrincipalAt = Date()
            } catch let error as GraphError where error.status == 409 {
                // Made by an earlier try whose answer was lost, and not listed yet: find it next time.
                throw StepStop.retry(.replication, "the service principal exists but is not listed yet (\(error))")
            }
        }
        facts.servicePrincipalID = principal.id.lowercased()
        record(IntegrationRecord(servicePrincipalID: facts.servicePrincipalID))
    }
}
