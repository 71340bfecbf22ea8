import Foundation
import Graph
import PBX
import Store

extension Run {
    /// `rotate-add-password`: a new password through the secret custody path, recorded `pending`; the old
    /// one untouched.
    mutating func rotateAddPassword() async throws -> StepResult {
        let graph = try graph()
        let appObject = try require(facts.appObjectID, "application object id")
        let passwords = try await graph.passwords(applicationID: appObject)
        try await removeOrphanPasswords(graph, appObject: appObject, listed: passwords, step: .rotateAddPassword)
        facts.newCredentialID = try await addAndStorePassword(
            graph, appObject: appObject, step: .rotateAddPassword, state: .pending,
            forbidden:
                "so the old secret \(facts.rotatedKeyID ?? "") was left in place: exempt the app \(settings.appName) or lift the restriction, then onboarder retry."
        )
        return .committed
    }

    /// `rotate-prove`: Microsoft accepts the new secret (a token with it and a Graph read; propagation
    /// retried). Its time is recorded, by Onboarder's clock and, when the sign-in report shows it already,
    /// by Entra's: the PBX must be seen signing in with the new secret after this.
    mutating func rotateProve() async throws {
        guard let id = facts.newCredentialID else { throw StepStop.attention("The new secret is not recorded.") }
        try await prove(
            .secret(try openPassword(try await OnboardingStore.sealedCredential(id: id, on: pool))),
            addedAt: facts.passwordAddedAt)
        facts.provenAt = Date()
        if let key = facts.passwordKeyID, case .report(let signIns) = try await credentialSignIns() {
            facts.proofReportedAt = signIns[key]
        }
    }

    /// `rotate-handover`: waits until the new secret was shown for the technician (`onboarder handover
    /// sheet` or `onboarder secret export`, one export record; showing it wakes the job).
    mutating func rotateHandover() async throws -> StepResult {
        guard let id = facts.newCredentialID else { throw StepStop.attention("The new secret is not recorded.") }
        guard let exported = try await OnboardingStore.exportedAt(credential: id, on: pool) else {
            let todo = todo()
            return try await handoverWait(
                step: .rotateHandover,
                message:
                    "waiting for input: enter the new client secret in the PBX \(todo.pbxURL) for \(todo.customer) (Integrations → Microsoft 365 → Client Secret); it is shown by onboarder handover sheet (or onboarder secret export \(todo.customer)). The old secret \(facts.rotatedKeyID ?? "") stays valid until the PBX is seen using the new one and the grace period after that has passed."
            )
        }
        logger.notice(
            "new client secret handed over", metadata: ["credential.id": "\(id)", "exported_at": "\(exported)"])
        facts.handedOverAt = exported
        return .done
    }

    /// `rotate-test-pbx`: the PBX's own check passes AND the PBX is seen using the new secret
    /// (`HandoverProof`: the sign-in report, or the technician's `handover done` when the tenant does not
    /// serve the report). Until then the old secret stays and the wait says why.
    mutating func rotateTestPBX() async throws -> StepResult {
        let old = try require(facts.rotatedKeyID, "old key id")
        let new = try require(facts.passwordKeyID, "new key id")
        let test = try await pbx().testSubscription()
        // Read after the check: the check's own sign-in (with whatever the PBX holds) is then in the report.
        let signIns: HandoverProof.SignIns = test.IsSubscriptionAvailable ? try await credentialSignIns() : .notRead
        let proof: HandoverProof.ProofTime? =
            facts.proofReportedAt.map { .reported($0) } ?? facts.provenAt.map { .local($0) }
        let looks = try await OnboardingStore.handoverLooks(
            job: job.id, tenant: job.tenantID, step: Step.rotateTestPBX.rawValue, on: pool)
        let observation = try await handoverObservation(
            .rotation(old: old, new: new, proof: proof, handedOverAt: facts.handedOverAt), test: test,
            stored: looks.certificates, looks: looks, signIns: signIns)
        return try await settle(HandoverProof.decide(observation, todo: todo()), step: .rotateTestPBX, looks: looks)
    }

    /// The app's per-credential sign-ins (last one per keyId, lower-case), or why the tenant does not serve them.
    func credentialSignIns() async throws -> HandoverProof.SignIns {
        let appID = try require(facts.appID, "app id")
        switch try await graph().credentialSignInActivities(
            appID: appID, reportsBaseURL: partner.reportsBaseURL, context: context())
        {
        case .unavailable(let why):
            return .unavailable(why)
        case .activities(let rows):
            var last: [String: Date] = [:]
            for row in rows {
                guard let text = row.signInActivity?.lastSignInDateTime, let at = Self.date(text) else { continue }
                let key = row.keyId.lowercased()
                last[key] = max(last[key] ?? at, at)
            }
            return .report(last)
        }
    }

    /// `rotate-grace` and `rotate-cert-grace`: the old credential stays valid for the grace period after
    /// the hand-over.
    mutating func rotateGrace() async throws -> StepResult {
        let until = (facts.handedOverAt ?? Date()).addingTimeInterval(Double(settings.rotationGrace.components.seconds))
        if until > Date() {
            return .wait(
                until: until,
                message: "grace period: the old secret \(facts.rotatedKeyID ?? "") is removed at \(until)")
        }
        return .done
    }

    /// `rotate-remove-old`: removes the old secret, then records new active, old removed (one transaction
    /// with the checkpoint).
    mutating func rotateRemoveOld() async throws -> StepResult {
        let graph = try graph()
        let appObject = try require(facts.appObjectID, "application object id")
        let old = try require(facts.rotatedKeyID, "old key id")
        try await removePassword(graph, appObject: appObject, keyID: old)
        CrashPoint.check("after-call:\(Step.rotateRemoveOld)")
        let (facts, job, next) = (self.facts, self.job, self.next)
        try await pool.transaction { connection in
            try await OnboardingStore.replacePassword(
                old: facts.rotatedCredentialID, new: facts.newCredentialID, on: connection)
            try await OnboardingStore.complete(
                job: job.id, step: Step.rotateRemoveOld.rawValue, facts: facts, next: next?.rawValue, on: connection)
        }
        return .committed
    }
}
