import Foundation
import Graph
import Store

extension Run {
    /// `certificate` (and `rotate-cert-new`): the PBX's supplied certificate, or a generated one, on the
    /// app beside the certificates to keep (`CertificatePlan`), recorded active in the step's transaction.
    mutating func certificate(step: Step) async throws -> StepResult {
        let graph = try graph()
        let appObject = try require(facts.appObjectID, "application object id")
        var stored = try await OnboardingStore.certificates(tenant: job.tenantID, on: pool)
        let onApp = CertificatePlan.thumbprints(
            onApp: try await graph.certificates(
                applicationID: appObject, context: context(createdAt: facts.appRegisteredAt)))
        if Self.candidate(stored) == nil {
            if facts.rotatedThumbprint == nil,
                let active = stored.first(where: { $0.state == .active && onApp.contains($0.thumbprint) })
            {
                facts.certificateThumbprint = active.thumbprint  // uploaded by an earlier onboarding
                return .done
            }
            guard settings.certificateSource == "generate" else {
                return .wait(
                    until: Date(timeIntervalSinceNow: Double(settings.inputRecheck.components.seconds)),
                    message:
                        "waiting for input: certificate from the PBX. Download it from the PBX (Integrations → Microsoft 365) and run: onboarder cert add \(job.tenantKey) FILE"
                )
            }
            try await generateCertificate()
            stored = try await OnboardingStore.certificates(tenant: job.tenantID, on: pool)
        }
        guard let candidate = Self.candidate(stored) else {
            throw StepStop.retry(.retry, "the new certificate was not recorded")
        }
        let uploaded = try await apply(
            CertificatePlan.decide(onApp: onApp, stored: stored, adding: candidate), to: appObject
        ) {
            "The app already has certificates Onboarder does not hold (thumbprints \($0)). Uploading replaces the whole list and would remove them: add them with onboarder cert add, or remove them from the app, then onboarder retry."
        }
        if uploaded {
            CrashPoint.check("after-call:certificate")
            facts.certificateAddedAt = Date()
        }
        facts.certificateThumbprint = candidate.thumbprint
        let (facts, job) = (self.facts, self.job)
        try await pool.transaction { connection in
            try await OnboardingStore.activateCertificate(
                id: candidate.id, appObjectID: appObject, keyID: nil, on: connection)
            try await OnboardingStore.complete(job: job.id, step: step.rawValue, facts: facts, on: connection)
        }
        return .committed
    }

    /// The certificate to put on the app: the PBX's supplied one first, else one generated earlier.
    static func candidate(_ stored: [StoredCertificate]) -> StoredCertificate? {
        stored.first { $0.state == .supplied } ?? stored.first { $0.state == .pending }
    }
}
