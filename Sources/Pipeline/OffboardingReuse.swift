import Foundation
import Graph
import Store

/// Onboarding a customer that was offboarded: Entra keeps the deleted app restorable for 30 days in Deleted
/// applications, and it keeps its unique name there — a new app cannot take the name (400). The name is
/// Onboarder's, so the deleted app is Onboarder's offboarded one: it is deleted for good, and the
/// onboarding makes a new app (a restored one would bring back its old, destroyed credentials).
extension Run {
    /// Purges every deleted application with `uniqueName`; false when there was none (the 400 was something else).
    func purgeDeletedApplications(named uniqueName: String, graph: GraphClient) async throws -> Bool {
        let deleted = try await graph.deletedApplications().filter { $0.uniqueName == uniqueName }
        for app in deleted {
            do { try await graph.purgeDeletedItem(app.id) } catch let error as GraphError where error.isGone {}
            try await OnboardingStore.event(
                job: job.id, kind: "deleted_application_purged", step: Step.appRegistration.rawValue,
                detail: ["object_id": app.id.lowercased(), "app_id": app.appId.lowercased()], on: pool)
        }
        return !deleted.isEmpty
    }
}
