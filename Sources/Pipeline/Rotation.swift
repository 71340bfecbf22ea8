import Crypto
import Foundation
import Graph
import Postgres
import Queue
import Worker

/// Client-secret rotation (job kind `rotate-secret`, subject = the old password's key id): a new secret
/// is added, proven, handed to the PBX and tested there, and only after a grace period is the old one
/// removed. The old secret stays valid until the new one is proven and handed over, so the PBX never
/// holds a dead one.
///
/// The 3CX XAPI has no field for the client secret (ARCHITECTURE §8), so the hand-over is an operator's:
/// the job waits ("waiting for input") until `onboarder secret export` has shown the new secret, then
/// checks the PBX with `TestSubscription()`, waits `rotation.grace_hours` for the PBX to use the new
/// secret, and removes the old one.
public struct RotationHandler: JobHandler {
    public let kind = "rotate-secret"
    let onboarding: OnboardingHandler

    public init(onboarding: OnboardingHandler) { self.onboarding = onboarding }

    public static let steps = [
        "rotate-add-password", "rotate-prove", "rotate-handover", "rotate-test-pbx", "rotate-grace",
        "rotate-remove-old",
    ]

    public func run(_ job: ClaimedJob, context: JobContext) async -> JobOutcome {
        await onboarding.rotate(job, context: context, kind: "password", steps: Self.steps)
    }
}

extension Run {
    /// A new password, sealed and recorded as `pending` in the transaction that completes the step; the
    /// old one untouched.
    mutating func rotateAddPassword() async throws -> StepResult {
        let graph = try graph()
        let appObject = try require(facts.appObjectID, "application object id")
        let passwords = try await graph.passwords(applicationID: appObject)
        try await removeOrphanPasswords(graph, appObject: appObject, listed: passwords)
        let displayName = "\(settings.passwordMarker) job \(job.id)"
        let added = try await addClampedPassword(
            graph, appObject: appObject, displayName: displayName,
            forbidden:
                "so the old secret \(facts.rotatedKeyID ?? "") was left in place: exempt the app \(settings.appName) or lift the restriction, then onboarder retry."
        )
        CrashPoint.check("after-call:rotate-add-password")
        facts.passwordKeyID = added.keyID.lowercased()
        facts.passwordAddedAt = Date()
        do {
            let sealed = try vault.seal(
                added.secret, context: SecretVault.context(kind: "password", tenantID: job.tenantID))
            let facts = self.facts
            let id = try await store.pool.transaction { connection -> Int64 in
                var facts = facts
                facts.newCredentialID = try await store.insertPassword(
                    tenant: job.tenantID, job: job.id, appObjectID: appObject, keyID: added.keyID,
                    displayName: displayName, sealed: sealed, expires: Self.date(added.end), state: "pending",
                    on: connection)
                try await store.complete(job: job.id, step: "rotate-add-password", facts: facts, on: connection)
                return facts.newCredentialID!
            }
            self.facts.newCredentialID = id
        } catch {
            try? await graph.removePassword(applicationID: appObject, keyID: added.keyID)
            throw error
        }
        return .committed
    }

    /// Microsoft accepts the new secret: a token with it and a Graph read (propagation retried).
    mutating func rotateProve() async throws {
        let appID = try require(facts.appID, "app id")
        let secret = try await newSecret()
        let context = context(credentialAddedAt: facts.passwordAddedAt ?? Date())
        let token = try await tokens.freshToken(
            tenant: tenant, clientID: appID, credential: .secret(secret), context: context)
        try await read(with: token, context: context)
    }

    /// The operator hand-off: waits until `onboarder secret export` has shown the new secret.
    mutating func rotateHandover() async throws -> StepResult {
        guard let id = facts.newCredentialID else { throw StepStop.attention("The new secret is not recorded.") }
        let exported = try await store.pool.query(
            "SELECT exported_at FROM onboarder.credentials WHERE id = \(id)"
        ).single()[0].decode(Date?.self)
        guard let exported else {
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

    /// The PBX's own check passes with the new credentials in place.
    mutating func rotateTestPBX() async throws {
        let test = try await pbx().testSubscription()
        guard test.IsSubscriptionAvailable else {
            throw StepStop.retry(
                .replication,
                "the PBX's Microsoft 365 check does not pass: \(test.ExceptionMessage ?? "no reason given")")
        }
    }

    /// The old secret stays valid for the grace period after the hand-over.
    mutating func rotateGrace() async throws -> StepResult {
        let until = (facts.handedOverAt ?? Date()).addingTimeInterval(Double(settings.rotationGrace.components.seconds))
        if until > Date() {
            return .wait(
                until: until,
                message: "grace period: the old secret \(facts.rotatedKeyID ?? "") is removed at \(until)")
        }
        return .done
    }

    /// Removes the old secret, then records: new active, old removed (one transaction with the checkpoint).
    mutating func rotateRemoveOld() async throws -> StepResult {
        let graph = try graph()
        let appObject = try require(facts.appObjectID, "application object id")
        let old = try require(facts.rotatedKeyID, "old key id")
        do {
            try await graph.removePassword(applicationID: appObject, keyID: old)
        } catch let error as GraphError where error.message.contains("No password credential") {
            // Removed already (a lost answer, or a crash after the call).
        }
        CrashPoint.check("after-call:rotate-remove-old")
        let facts = self.facts
        try await store.pool.transaction { connection in
            try await connection.query(
                """
                UPDATE onboarder.credentials SET state = CASE WHEN id = \(facts.newCredentialID) THEN 'active' ELSE 'removed' END,
                       removed_at = CASE WHEN id = \(facts.newCredentialID) THEN NULL ELSE now() END, updated_at = now()
                 WHERE id IN (\(facts.newCredentialID), \(facts.rotatedCredentialID))
                """)
            try await store.complete(job: job.id, step: "rotate-remove-old", facts: facts, on: connection)
        }
        return .committed
    }

    /// The new secret, opened from its sealed record.
    func newSecret() async throws -> String {
        guard let id = facts.newCredentialID else { throw StepStop.attention("The new secret is not recorded.") }
        let sealed = try await store.pool.query("SELECT sealed FROM onboarder.credentials WHERE id = \(id)").single()[0]
            .decode(String.self)
        return try vault.open(sealed, context: SecretVault.context(kind: "password", tenantID: job.tenantID))
    }
}

/// Certificate rotation (job kind `rotate-certificate`, subject = the old certificate's thumbprint): a new
/// certificate (generated, or the PBX's supplied with `onboarder cert add`) is uploaded beside the old
/// one, proven with an assertion when Onboarder holds its key, and the old one pruned after the grace
/// period.
public struct CertificateRotationHandler: JobHandler {
    public let kind = "rotate-certificate"
    let onboarding: OnboardingHandler

    public init(onboarding: OnboardingHandler) { self.onboarding = onboarding }

    public static let steps = ["rotate-cert-new", "rotate-cert-prove", "rotate-cert-grace", "rotate-cert-remove-old"]

    public func run(_ job: ClaimedJob, context: JobContext) async -> JobOutcome {
        await onboarding.rotate(job, context: context, kind: "certificate", steps: Self.steps)
    }
}

extension OnboardingHandler {
    /// Runs a rotation job (`payload.credential_id` names the credential of `kind` to replace): the
    /// onboarding's recorded ids and the old credential become the first facts.
    func rotate(_ job: ClaimedJob, context: JobContext, kind: String, steps: [String]) async -> JobOutcome {
        struct Target: Decodable { var credential_id: Int64 }
        let payload: OnboardingPayload
        let credentialID: Int64
        do {
            payload = try job.payload.decode(OnboardingPayload.self)
            credentialID = try job.payload.decode(Target.self).credential_id
        } catch {
            return .needsAttention(
                step: nil,
                message: "The rotation job's payload is unreadable (\(error)); cancel it and run rotate-secrets again.")
        }
        let run = Run(
            job: job, payload: payload, settings: settings, vault: vault, store: OnboardingStore(pool: context.pool),
            tokens: tokens, pbxes: pbxes, logger: context.logger)
        return await Self.drive(run, steps: steps, context: context) { run in
            let rows = try await context.pool.query(
                """
                SELECT i.entra_tenant_id::text, i.app_object_id::text, i.app_id::text,
                       coalesce(c.key_id::text, c.thumbprint), c.state
                  FROM onboarder.credentials c JOIN onboarder.integrations i ON i.tenant_id = c.tenant_id
                 WHERE c.id = \(credentialID) AND c.tenant_id = \(job.tenantID) AND c.kind = \(kind)
                """)
            guard let row = rows.first else {
                throw StepStop.attention(
                    "The \(kind) to rotate (credential \(credentialID)) is not recorded for this tenant.")
            }
            let (tenant, appObject, appID, identifier, state) = try row.decode(
                (String?, String?, String?, String, String).self)
            guard let tenant, let appObject, let appID else {
                throw StepStop.attention("This tenant was never onboarded to the end: onboard it before rotating.")
            }
            guard state == "active" else {
                throw StepStop.attention("The \(kind) \(identifier) is \(state), not active: nothing to rotate.")
            }
            run.facts.entraTenantID = tenant
            run.facts.appObjectID = appObject
            run.facts.appID = appID
            run.facts.appRegisteredAt = .distantPast
            run.facts.rotatedCredentialID = credentialID
            if kind == "password" {
                run.facts.rotatedKeyID = identifier.lowercased()
            } else {
                run.facts.rotatedThumbprint = identifier
                run.facts.handedOverAt = Date()
            }
        }
    }
}

extension Run {
    /// Entra accepts an assertion signed with the new certificate's key (when Onboarder made the key).
    mutating func rotateCertificateProve() async throws {
        let appID = try require(facts.appID, "app id")
        guard let thumbprint = facts.certificateThumbprint,
            let new = try await store.certificates(tenant: job.tenantID).first(where: { $0.thumbprint == thumbprint })
        else { throw StepStop.attention("The new certificate is not recorded.") }
        facts.handedOverAt = Date()
        guard let sealedKey = new.sealedKey else { return }  // the PBX's own: only the PBX holds its key
        let key = try PrivateKey(
            pem: try vault.open(sealedKey, context: SecretVault.context(kind: "certificate", tenantID: job.tenantID)))
        let context = context(credentialAddedAt: facts.certificateAddedAt ?? Date())
        let token = try await tokens.freshToken(
            tenant: tenant, clientID: appID,
            credential: .certificate(try Certificate(pem: new.pem), key, preferred: .ps256),
            context: context)
        try await read(with: token, context: context)
    }

    /// Uploads every certificate Onboarder holds but the old one; records the old one removed.
    mutating func rotateCertificateRemoveOld() async throws -> StepResult {
        let graph = try graph()
        let appObject = try require(facts.appObjectID, "application object id")
        let old = try require(facts.rotatedThumbprint, "old thumbprint")
        let keys = try await graph.certificates(applicationID: appObject)
        let onApp = Set(keys.compactMap { $0.customKeyIdentifier?.uppercased() })
        if onApp.contains(old) {
            let keep = try await store.certificates(tenant: job.tenantID).filter {
                $0.thumbprint != old && ($0.state == "active" || $0.state == "superseded")
                    && onApp.contains($0.thumbprint)
            }
            let unknown = onApp.subtracting(keep.map(\.thumbprint)).subtracting([old])
            guard unknown.isEmpty else {
                throw StepStop.attention(
                    "The app holds certificates Onboarder does not know (\(unknown.sorted().joined(separator: ", "))); removing the old one would remove them too. Add them with onboarder cert add, then onboarder retry."
                )
            }
            try await graph.setCertificates(
                applicationID: appObject,
                try keep.map { CertificateUpload(try Certificate(pem: $0.pem), displayName: $0.displayName) })
        }
        let facts = self.facts
        try await store.pool.transaction { connection in
            try await connection.query(
                """
                UPDATE onboarder.credentials SET state = 'removed', removed_at = now(), updated_at = now()
                 WHERE id = \(facts.rotatedCredentialID) AND state <> 'removed'
                """)
            try await store.complete(job: job.id, step: "rotate-cert-remove-old", facts: facts, on: connection)
        }
        return .committed
    }
}
