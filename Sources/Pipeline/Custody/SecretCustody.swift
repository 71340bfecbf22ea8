import Crypto
import Foundation
import Graph
import Postgres
import Store

/// The one path a client secret takes, in onboarding and in rotation alike: orphans swept, a password
/// added (its lifetime clamped to the tenant's policy), sealed and stored in the transaction that
/// checkpoints the step — or taken off the app again when it cannot be stored — and proven or opened
/// later from its sealed record.
extension Run {
    /// Adds a password for `step`, seals it and records it as `state` with the checkpoint that completes
    /// `step` with the facts (in its statement, or its transaction). `forbidden` finishes the sentence that
    /// tells the operator what to do when the tenant's policy forbids secrets. Returns a pending secret's
    /// credential id (nil for an active one).
    mutating func addAndStorePassword(
        _ graph: GraphClient, appObject: String, step: Step, state: CredentialState, forbidden: String
    ) async throws -> Int64? {
        let displayName = "\(settings.passwordMarker) job \(job.id)"
        let added = try await addClampedPassword(
            graph, appObject: appObject, displayName: displayName, forbidden: forbidden)
        CrashPoint.check("after-call:\(step)")
        facts.passwordKeyID = added.keyID.lowercased()
        facts.passwordAddedAt = Date()
        do {
            let sealed = try vault.seal(
                added.secret, context: SecretVault.context(kind: "password", tenantID: job.tenantID))
            let (facts, job, next) = (self.facts, self.job, self.next)
            guard state == .pending else {
                // An onboarding's secret: recorded by the checkpoint's statement (nothing needs its id).
                try await OnboardingStore.complete(
                    job: job.id, step: step.rawValue, facts: facts, next: next?.rawValue,
                    alongside: OnboardingStore.passwordRecord(
                        tenant: job.tenantID, job: job.id, appObjectID: appObject, keyID: added.keyID,
                        displayName: displayName, sealed: sealed, expires: Self.date(added.end), state: state),
                    on: pool)
                return nil
            }
            // A rotation's new secret: its id goes into the facts the checkpoint stores.
            return try await pool.transaction { connection in
                var facts = facts
                let id = try await OnboardingStore.insertPassword(
                    tenant: job.tenantID, job: job.id, appObjectID: appObject, keyID: added.keyID,
                    displayName: displayName, sealed: sealed, expires: Self.date(added.end), state: state,
                    on: connection)
                facts.newCredentialID = id
                try await OnboardingStore.complete(
                    job: job.id, step: step.rawValue, facts: facts, next: next?.rawValue, on: connection)
                return id
            }
        } catch {
            // The secret exists only in this process: take it off the app rather than leave one nobody holds.
            try? await graph.removePassword(applicationID: appObject, keyID: added.keyID)
            throw error
        }
    }

    /// `addPassword` for `settings.secretLifetimeDays`, clamped to the tenant's policy (read when the
    /// partner app may, else learnt from addPassword's refusal), a warning saying so. A policy that forbids
    /// secrets stops the step.
    private mutating func addClampedPassword(
        _ graph: GraphClient, appObject: String, displayName: String, forbidden: String
    ) async throws -> AddedPassword {
        var days = settings.secretLifetimeDays
        do {
            let cap = try await graph.maxPasswordLifetimeDays()
            days = PasswordPlan.lifetimeDays(configured: days, policyCap: cap)
            if let cap, days == cap, cap < settings.secretLifetimeDays {
                warn(
                    "The tenant's app-management policy limits client secrets to \(cap) days: the PBX secret expires after \(cap) days, not \(settings.secretLifetimeDays); secret rotation replaces it in time."
                )
            }
        } catch let error as GraphError where error.code == "Authorization_RequestDenied" {
            // Reading the policy needs Policy.Read.All, which the partner app may lack; addPassword's own
            // refusal ("Credential lifetime exceeds the max value allowed") tells the cap below.
        }
        while true {
            do {
                return try await graph.addPassword(
                    applicationID: appObject, displayName: displayName,
                    end: Date(timeIntervalSinceNow: TimeInterval(days) * 86_400))
            } catch let error as GraphError
                where error.code == "CredentialTypeNotAllowedAsPerAppPolicy"
                || error.message.contains("not allowed as per assigned policy")
            {
                throw StepStop.attention(
                    "The tenant's app-management policy forbids client secrets (a passwordAddition restriction), \(forbidden) (\(error.description))"
                )
            } catch let error as GraphError where error.message.contains("Credential lifetime exceeds") {
                guard let shorter = PasswordPlan.shorter(than: days) else { throw error }
                days = shorter
                warn(
                    "The tenant's app-management policy refused a \(settings.secretLifetimeDays)-day client secret: it was clamped to \(days) days; secret rotation replaces it in time."
                )
            }
        }
    }

    /// Removes the passwords Onboarder made but never recorded (`PasswordPlan.orphans`).
    func removeOrphanPasswords(_ graph: GraphClient, appObject: String, listed: [GraphPasswordCredential], step: Step)
        async throws
    {
        let makers = listed.compactMap {
            PasswordPlan.job(named: $0.displayName ?? "", marker: settings.passwordMarker)
        }
        let records = try await OnboardingStore.passwordCustody(
            tenant: job.tenantID, appObjectID: appObject, jobs: makers, on: pool)
        for keyID in PasswordPlan.orphans(
            listed: listed, recorded: records.recorded, marker: settings.passwordMarker, job: job.id,
            ours: records.ours, busyJobs: records.busy)
        {
            try await removePassword(graph, appObject: appObject, keyID: keyID)
            try await OnboardingStore.event(
                job: job.id, kind: "orphan_password_removed", step: step.rawValue, detail: ["key_id": keyID], on: pool)
        }
    }

    /// removePassword, a password that is gone already counting as removed (an earlier try's lost answer).
    func removePassword(_ graph: GraphClient, appObject: String, keyID: String) async throws {
        do {
            try await graph.removePassword(applicationID: appObject, keyID: keyID)
        } catch let error as GraphError where error.status == 404 || error.message.contains("No password credential") {
        }
    }

    /// A client secret, opened from its sealed record.
    func openPassword(_ sealed: String) throws -> String {
        try vault.open(sealed, context: SecretVault.context(kind: "password", tenantID: job.tenantID))
    }

    /// Entra issues a token for `credential` and Graph answers a read with it: proof that a credential
    /// just added works (propagation delays retried as such).
    func prove(_ credential: ClientCredential, addedAt: Date?) async throws {
        let appID = try require(facts.appID, "app id")
        let context = context(credentialAddedAt: addedAt ?? Date())
        let token = try await tokens.freshToken(
            tenant: tenant, clientID: appID, credential: credential, scope: partner.endpoints.graphScope,
            context: context)
        try await graph().proveAccess(with: token, context: context)
    }
}
