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

    /// `rotate-prove`: Microsoft accepts the new secret (a token with it and a Graph read; propagation retried).
    mutating func rotateProve() async throws {
        guard let id = facts.newCredentialID else { throw StepStop.attention("The new secret is not recorded.") }
        try await prove(
            .secret(try openPassword(try await OnboardingStore.sealedCredential(id: id, on: pool))),
            addedAt: facts.passwordAddedAt)
    }

    /// `rotate-handover`: the operator's hand-off; waits until `onboarder secret export` has shown the new secret.
    mutating func rotateHandover() async throws -> StepResult {
        guard let id = facts.newCredentialID else { throw StepStop.attention("The new secret is not recorded.") }
        guard let exported = try await OnboardingStore.exportedAt(credential: id, on: pool) else {
            return .wait(
                until: Date(timeIntervalSinceNow: Double(settings.inputRecheck.components.seconds)),
                message:
                    "waiting for input: enter the new client secret in the PBX (Integrations → Microsoft 365): onboarder secret export \(job.tenantKey). The old secret stays valid until the grace period after that."
            )
        }
        logger.notice(
            "new client secret handed over", metadata: ["credential.id": "\(id)", "exported_at": "\(exported)"])
        facts.handedOverAt = exported
        return .done
    }

    /// `rotate-test-pbx`: the PBX's own check passes with the new credentials in place.
    mutating func rotateTestPBX() async throws {
        let test = try await pbx().testSubscription()
        guard test.IsSubscriptionAvailable else {
            throw StepStop.retry(
                .replication,
                "the PBX's Microsoft 365 check does not pass: \(test.ExceptionMessage ?? "no reason given")")
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
        let (facts, job) = (self.facts, self.job)
        try await pool.transaction { connection in
            try await OnboardingStore.replacePassword(
                old: facts.rotatedCredentialID, new: facts.newCredentialID, on: connection)
            try await OnboardingStore.complete(
                job: job.id, step: Step.rotateRemoveOld.rawValue, facts: facts, on: connection)
        }
        return .committed
    }
}
