import Foundation
import Graph
import PBX
import Store

extension Run {
    /// `pbx-handover`: the PBX's Microsoft 365 integration names the tenant and the app. The XAPI has no
    /// call for the secret, the key pair or the sign-in (Tests/Fixtures/3cx/README.md): those are the
    /// technician's, and `certificate` and `verify` wait for them; this step records when that part began
    /// (with its checkpoint).
    mutating func pbxHandover() async throws {
        let pbx = try await pbx()
        let appID = try require(facts.appID, "app id")
        let current = try await pbx.microsoft365Integration()
        if current.TenantId?.lowercased() != tenant || current.ApplicationId?.lowercased() != appID {
            try await pbx.setMicrosoft365Application(tenantID: tenant, applicationID: appID)
        }
        if facts.handoverStartedAt == nil {
            facts.handoverStartedAt = Date()
            stepEvents.append(
                .init(
                    kind: "handover_started",
                    detail: ["key_id": facts.passwordKeyID ?? "", "pbx_url": payload.pbxURL, "application_id": appID]))
        }
    }

    /// `verify`: Onboarder's own proof that the secret works, then the PBX's check (`TestSubscription`),
    /// attributed to this job's credentials by `HandoverProof`; until then the job waits for the technician.
    mutating func verify() async throws -> StepResult {
        let looks = try await OnboardingStore.handoverLooks(
            job: job.id, tenant: job.tenantID, step: Step.verify.rawValue, on: pool)
        guard let password = looks.activePassword else {
            throw StepStop.attention("No client secret is recorded for this tenant; onboarder retry adds one.")
        }
        try await prove(.secret(try openPassword(password.sealed)), addedAt: facts.passwordAddedAt)
        let stored = try await addSuppliedCertificate(looks.certificates)
        if let active = stored.first(where: { $0.state == .active && $0.thumbprint == facts.certificateThumbprint }),
            let credential = try credential(of: active)
        {
            try await prove(credential, addedAt: facts.certificateAddedAt)
        }
        let test = try await pbx().testSubscription()
        let observation = try await handoverObservation(
            .onboarding(secretKeyID: password.keyID), test: test, stored: stored, looks: looks)
        // The PBX's check names its key pair or its certificate: the sheet and the dashboard say a certificate
        // is needed, whatever an earlier onboarding left recorded.
        let certificateNeeded = !test.IsSubscriptionAvailable && HandoverProof.namesCertificate(test.ExceptionMessage)
        return try await settle(
            HandoverProof.decide(observation, todo: todo(certificateNeeded: certificateNeeded)), step: .verify,
            looks: looks, certificateNeeded: certificateNeeded)
    }

    /// What `HandoverProof` decides from: the check's answer, the app's credentials as Graph lists them, and
    /// the technician's word as `looks` read it.
    func handoverObservation(
        _ handover: HandoverProof.Handover, test: XAPIClient.SubscriptionTest, stored: [StoredCertificate],
        looks: HandoverLooks, signIns: HandoverProof.SignIns = .notRead
    ) async throws -> HandoverProof.Observation {
        let graph = try graph()
        let appObject = try require(facts.appObjectID, "application object id")
        let context = context(createdAt: facts.appRegisteredAt)
        let passwords = try await graph.passwords(applicationID: appObject, context: context)
        let certificates = try await graph.certificates(applicationID: appObject, context: context)
        return HandoverProof.Observation(
            handover: handover, testPassed: test.IsSubscriptionAvailable, testMessage: test.ExceptionMessage,
            passwordKeyIDs: passwords.map(\.keyId),
            certificateThumbprints: CertificatePlan.thumbprints(onApp: certificates),
            heldThumbprints: Set(stored.map(\.thumbprint)), signIns: signIns,
            handoverDoneAt: looks.handoverDoneAt,
            credentialAddedAt: facts.passwordAddedAt, now: Date(), replicationWindow: settings.replicationWindow)
    }

    /// The technician's to-do for this customer.
    func todo(certificateNeeded: Bool = false) -> HandoverProof.Todo {
        HandoverProof.Todo(customer: job.tenantKey, pbxURL: payload.pbxURL, certificateNeeded: certificateNeeded)
    }

    /// `proof` as the step's result: proven records its evidence (with the step's checkpoint); a wait looks again
    /// with backoff.
    mutating func settle(_ proof: HandoverProof, step: Step, looks: HandoverLooks, certificateNeeded: Bool = false)
        async throws -> StepResult
    {
        switch proof {
        case .proven(let evidence):
            facts.handoverEvidence = evidence
            stepEvents.append(.init(kind: "handover_proven", detail: ["evidence": evidence]))
            return .done
        case .wait(let message):
            return try await handoverWait(
                step: step, message: message, certificateNeeded: certificateNeeded, checks: looks.checks)
        case .propagating(let message):
            throw StepStop.retry(.replication, "the PBX's Microsoft 365 check does not pass yet: \(message)")
        case .attention(let message):
            throw StepStop.attention(message)
        }
    }

    /// A wait for the PBX's technician at `step`: each look is recorded (`handover_check`, by the finish that
    /// sets the job waiting: a look is recorded with its wait or not at all) and counted since the wait began or
    /// was last woken, the next one 30 s after the first, doubling up to `onboarding.input_recheck_seconds`. A
    /// wake (`handover done`, `cert add`, the sheet) runs the job at once. `certificateNeeded`: this look found
    /// the PBX's certificate missing from the app (`dashboard.handover_waiting` reads it from the event).
    /// `checks`: the looks counted already (`HandoverLooks`), else counted here.
    mutating func handoverWait(step: Step, message: String, certificateNeeded: Bool = false, checks: Int? = nil)
        async throws -> StepResult
    {
        let checks =
            if let checks { checks } else {
                try await OnboardingStore.handoverChecks(job: job.id, step: step.rawValue, on: pool)
            }
        let delay = HandoverProof.recheck(checks: checks, cap: settings.inputRecheck)
        stepEvents.append(
            .init(
                kind: "handover_check",
                detail: [
                    "check": String(checks + 1), "next_in_seconds": String(delay.components.seconds),
                    "certificate_needed": String(certificateNeeded),
                ]))
        CrashPoint.check("waiting:\(step)")
        return .wait(
            until: Date(timeIntervalSinceNow: Double(delay.components.seconds)),
            message: "\(message) (looked \(checks + 1) time(s); next look in \(delay.components.seconds) s)")
    }
}
