import Foundation
import Graph
import Store

extension Run {
    /// `resolve-tenant`: the tenant's id and default domain, Microsoft Graph's service principal with the
    /// configured permissions resolved to ids, and whether any subscription includes Phone System. First the
    /// partner app's own consent (`partnerConsentWait`): without it the job waits for the customer's admin.
    mutating func resolveTenant() async throws -> StepResult {
        let check = try await partnerConsentWait()
        if let wait = check.wait { return wait }
        let graph = try graph()
        guard let organization = try await graph.organization(context: context()) else {
            throw StepStop.retry(.retry, "GET /organization listed no organization")
        }
        let id = organization.id.lowercased()
        if let given = UUID(uuidString: job.tenantKey), given.uuidString.lowercased() != id {
            throw StepStop.attention(
                "A token for \(job.tenantKey) was issued for tenant \(id): check the customer's tenant id.")
        }
        // One customer, one tenant: the id goes on the customer's row before anything is written in the
        // tenant; a row enqueued under another key (or by another MSP) that holds it already stops this job.
        let claim = try await CustomerIdentity.claim(tenant: job.tenantID, entraTenantID: id, on: pool)
        if let attention = CustomerClaimPlan.attention(
            claim, tenantID: id, key: job.tenantKey, msp: job.mspID, job: job.id)
        {
            throw StepStop.attention(attention)
        }
        facts.entraTenantID = id
        facts.defaultDomain = organization.defaultDomain?.lowercased()
        let microsoftGraph: GraphServicePrincipal
        if let read = check.microsoftGraph {
            microsoftGraph = read
        } else {
            microsoftGraph = try await graph.microsoftGraphServicePrincipal()
        }
        facts.graphServicePrincipalID = microsoftGraph.id.lowercased()
        do {
            let resolved = try await graph.resolvePermissions(
                roles: settings.roles, scopes: settings.scopes, offeredBy: microsoftGraph)
            facts.roleIDs = resolved.roles
            facts.scopeIDs = resolved.scopes
        } catch let error as PermissionError {
            throw StepStop.attention(
                "The configured permissions do not resolve in this tenant: \(error). Correct onboarding.roles / onboarding.scopes, then onboarder retry."
            )
        }
        let phoneSystem = LicencePlan.phoneSystemAvailable(try await graph.subscribedSkus())
        facts.phoneSystemAvailable = phoneSystem
        if !phoneSystem {
            warn(
                "No subscription of this tenant includes Phone System (MCOEV): users cannot call through Teams until one is bought (Teams Phone Standard, or Microsoft 365 E5)."
            )
        }
        record(
            IntegrationRecord(
                path: payload.path, entraTenantID: id, defaultDomain: organization.defaultDomain?.lowercased(),
                phoneSystem: phoneSystem, pbxURL: payload.pbxURL))
        return .done
    }
}
