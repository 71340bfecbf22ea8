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
        let candidate: StoredCertificate
        switch CertificatePlan.choose(
            stored: stored, onApp: onApp, rotating: facts.rotatedThumbprint != nil,
            generate: settings.certificateSource == "generate")
        {
        case .keep(let thumbprint):
            facts.certificateThumbprint = thumbprint  // uploaded by an earlier onboarding
            return .done
        case .waitForPBX:
            return .wait(
                until: Date(timeIntervalSinceNow: Double(settings.inputRecheck.components.seconds)),
                message:
                    "waiting for input: certificate from the PBX. Download it from the PBX (Integrations → Microsoft 365) and run: onboarder cert add \(job.tenantKey) FILE"
            )
        case .use(let found):
            candidate = found
        case .generate:
            try await generateCertificate()
            stored = try await OnboardingStore.certificates(tenant: job.tenantID, on: pool)
            guard
                case .use(let generated) = CertificatePlan.choose(
                    stored: stored, onApp: onApp, rotating: true, generate: false)
            else { throw StepStop.retry(.retry, "the new certificate was not recorded") }
            candidate = generated
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
}
