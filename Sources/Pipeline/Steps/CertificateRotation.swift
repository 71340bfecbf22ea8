import Foundation
import Graph
import Store

extension Run {
    /// `rotate-cert-prove`: Entra accepts an assertion signed with the new certificate's key (when
    /// Onboarder made the key; only the PBX holds the key of a certificate it supplied).
    mutating func rotateCertificateProve() async throws {
        guard let thumbprint = facts.certificateThumbprint,
            let new = try await OnboardingStore.certificates(tenant: job.tenantID, on: pool).first(where: {
                $0.thumbprint == thumbprint
            })
        else { throw StepStop.attention("The new certificate is not recorded.") }
        facts.handedOverAt = Date()
        guard let credential = try credential(of: new) else { return }
        try await prove(credential, addedAt: facts.certificateAddedAt)
    }

    /// `rotate-cert-remove-old`: the app keeps every certificate Onboarder holds but the old one
    /// (`CertificatePlan`); the old one recorded removed.
    mutating func rotateCertificateRemoveOld() async throws -> StepResult {
        let graph = try graph()
        let appObject = try require(facts.appObjectID, "application object id")
        let old = try require(facts.rotatedThumbprint, "old thumbprint")
        let onApp = CertificatePlan.thumbprints(onApp: try await graph.certificates(applicationID: appObject))
        let stored = try await OnboardingStore.certificates(tenant: job.tenantID, on: pool)
        _ = try await apply(CertificatePlan.decide(onApp: onApp, stored: stored, removing: old), to: appObject) {
            "The app holds certificates Onboarder does not know (\($0)); removing the old one would remove them too. Add them with onboarder cert add, then onboarder retry."
        }
        let (facts, job, next) = (self.facts, self.job, self.next)
        try await pool.transaction { connection in
            try await OnboardingStore.markRemoved(credential: facts.rotatedCredentialID, on: connection)
            try await OnboardingStore.complete(
                job: job.id, step: Step.rotateCertificateRemoveOld.rawValue, facts: facts, next: next?.rawValue,
                on: connection)
        }
        return .committed
    }
}
