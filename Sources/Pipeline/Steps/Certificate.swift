import Foundation
import Graph
import Store

extension Run {
    /// `certificate` (and `rotate-cert-new`): the PBX's supplied certificate (`onboarder cert add`), or a
    /// generated one (`certificate_source = generate`), on the app beside the certificates to keep
    /// (`CertificatePlan`), recorded active by the step's checkpoint. A rotation's new certificate is
    /// recorded active only once the PBX's check passes with it on the app: the old one goes after that.
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
            generate: settings.generatesCertificates)
        {
        case .keep(let thumbprint):
            facts.certificateThumbprint = thumbprint  // uploaded by an earlier onboarding
            return .done
        case .waitForPBX:
            let todo = todo(certificateNeeded: true)
            let rest = step == .certificate ? "; then \(todo.pasteSecret); \(todo.signIn)" : ""
            return try await handoverWait(
                step: step,
                message:
                    "waiting for input: the PBX's certificate. For \(todo.customer) on \(todo.pbxURL) (Integrations → Microsoft 365): \(todo.keyPair)\(rest); \(todo.done)."
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
        if step == .rotateCertificateNew {
            let test = try await pbx().testSubscription()
            guard test.IsSubscriptionAvailable else {
                let todo = todo(certificateNeeded: true)
                return try await handoverWait(
                    step: step,
                    message:
                        "waiting for input: the old certificate \(facts.rotatedThumbprint ?? "") is kept: the PBX's Microsoft 365 check does not pass with the new one (\(candidate.thumbprint)) on the app: \"\(test.ExceptionMessage ?? "no reason given")\". For \(todo.customer) on \(todo.pbxURL): if the PBX has not made this key pair, \(todo.keyPair); \(todo.done)."
                )
            }
        }
        try await OnboardingStore.complete(
            job: job.id, step: step.rawValue, facts: facts, next: next?.rawValue,
            alongside: OnboardingStore.certificateActivation(id: candidate.id, appObjectID: appObject, keyID: nil),
            on: pool)
        return .committed
    }
}

extension Run {
    /// A certificate `onboarder cert add` supplied while `verify` waits goes on the app beside the ones kept:
    /// with `certificate_source = generate` the `certificate` step put Onboarder's own there, and the PBX's
    /// (which its `TestSubscription` signs with) arrives later; with the PBX's own, an earlier onboarding's
    /// certificate was kept, and the PBX — reinstalled, or re-keyed with Generate New Key Pair — now signs with
    /// a new key. Returns the certificates as stored after.
    mutating func addSuppliedCertificate(_ stored: [StoredCertificate]) async throws -> [StoredCertificate] {
        guard let supplied = stored.first(where: { $0.state == .supplied }) else { return stored }
        let appObject = try require(facts.appObjectID, "application object id")
        let onApp = CertificatePlan.thumbprints(
            onApp: try await graph().certificates(
                applicationID: appObject, context: context(createdAt: facts.appRegisteredAt)))
        let uploaded = try await apply(
            CertificatePlan.decide(onApp: onApp, stored: stored, adding: supplied), to: appObject
        ) {
            "The app already has certificates Onboarder does not hold (thumbprints \($0)). Uploading replaces the whole list and would remove them: add them with onboarder cert add, or remove them from the app, then onboarder retry."
        }
        try await OnboardingStore.activateCertificate(id: supplied.id, appObjectID: appObject, keyID: nil, on: pool)
        if !settings.generatesCertificates {
            // The PBX's certificate is the one the job hands over (Onboarder's own, when generated, stays the
            // one it proves with).
            facts.certificateThumbprint = supplied.thumbprint
            if uploaded { facts.certificateAddedAt = Date() }
        }
        return try await OnboardingStore.certificates(tenant: job.tenantID, on: pool)
    }
}
