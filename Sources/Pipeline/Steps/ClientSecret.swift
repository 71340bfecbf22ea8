import Foundation
import Graph
import Store

extension Run {
    /// `client-secret`: the app's password for the PBX, kept when the one recorded is still on the app,
    /// else added through the secret custody path (`addAndStorePassword`).
    mutating func clientSecret() async throws -> StepResult {
        let graph = try graph()
        let appObject = try require(facts.appObjectID, "application object id")
        let context = context(createdAt: facts.appRegisteredAt)
        let passwords = try await graph.passwords(applicationID: appObject, context: context)
        try await removeOrphanPasswords(graph, appObject: appObject, listed: passwords, step: .clientSecret)
        if let active = try await OnboardingStore.activePassword(tenant: job.tenantID, on: pool),
            PasswordPlan.isListed(active.keyID, in: passwords)
        {
            facts.passwordKeyID = active.keyID.lowercased()  // recorded by an earlier onboarding: keep it
            return .done
        }
        _ = try await addAndStorePassword(
            graph, appObject: appObject, step: .clientSecret, state: .active,
            forbidden:
                "and the PBX needs one: exempt the app \(settings.appName) from the policy (a custom appManagementPolicy assigned to it) or lift the restriction, then onboarder retry."
        )
        // Look once more: an addPassword that ran twice on the way (a retried step whose first answer
        // was lost, seen only now that Graph lists it) left a password nobody holds.
        let after = try await graph.passwords(applicationID: appObject, context: context)
        try await removeOrphanPasswords(graph, appObject: appObject, listed: after, step: .clientSecret)
        return .committed
    }
}
