import Crypto
import Foundation
import Graph
import Postgres
import Queue
import Store
import Worker

/// Client-secret rotation (job kind `rotate-secret`, subject = the old password's key id): a new secret
/// is added, proven by Onboarder, handed to the PBX's technician, and the old one is removed only once the
/// PBX is seen signing in with the new one and a grace period has passed. The old secret stays valid until
/// then, so the PBX never holds a dead one.
///
/// The 3CX XAPI has no field for the client secret (Tests/Fixtures/3cx/README.md), so the hand-over is the
/// technician's: the job waits ("waiting for input") until the new secret has been shown (`onboarder handover
/// sheet` or `secret export`), then needs the PBX's `TestSubscription()` to pass AND evidence that the PBX used
/// the new secret (`HandoverProof`): the per-credential sign-in report shows it signing in after Onboarder's
/// own proof, or, where the tenant does not serve that report, the technician's `onboarder handover done`.
public struct RotationHandler: JobHandler {
    public let kind = "rotate-secret"
    let onboarding: OnboardingHandler

    public init(onboarding: OnboardingHandler) { self.onboarding = onboarding }

    public static let steps = Step.secretRotation

    public func run(_ job: ClaimedJob, context: JobContext) async -> JobOutcome {
        await onboarding.rotate(job, context: context, kind: "password", steps: Self.steps)
    }
}

/// Certificate rotation (job kind `rotate-certificate`, subject = the old certificate's thumbprint): a new
/// certificate (the PBX's new key pair's, supplied with `onboarder cert add`, or generated) is uploaded
/// beside the old one; it is recorded active once the PBX's `TestSubscription()` passes with it on the app,
/// proven with an assertion when Onboarder holds its key, and the old one pruned after the grace period.
public struct CertificateRotationHandler: JobHandler {
    public let kind = "rotate-certificate"
    let onboarding: OnboardingHandler

    public init(onboarding: OnboardingHandler) { self.onboarding = onboarding }

    public static let steps = Step.certificateRotation

    public func run(_ job: ClaimedJob, context: JobContext) async -> JobOutcome {
        await onboarding.rotate(job, context: context, kind: "certificate", steps: Self.steps)
    }
}

extension OnboardingHandler {
    /// Runs a rotation job (`payload.credential_id` names the credential of `kind` to replace): the
    /// onboarding's recorded ids and the old credential become the first facts.
    func rotate(_ job: ClaimedJob, context: JobContext, kind: String, steps: [Step]) async -> JobOutcome {
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
        let run: Run
        do { run = try await self.run(of: job, payload: payload, context: context) } catch {
            return OnboardingHandler.partnerOutcome(error)
        }
        return await Self.drive(run, steps: steps, context: context) { run in
            guard
                let target = try await OnboardingStore.rotationTarget(
                    credential: credentialID, tenant: job.tenantID, kind: kind, on: context.pool)
            else {
                throw StepStop.attention(
                    "The \(kind) to rotate (credential \(credentialID)) is not recorded for this tenant.")
            }
            guard let tenant = target.entraTenantID, let appObject = target.appObjectID, let appID = target.appID else {
                throw StepStop.attention("This tenant was never onboarded to the end: onboard it before rotating.")
            }
            let identifier = target.identifier
            guard target.state == .active else {
                throw StepStop.attention(
                    "The \(kind) \(identifier) is \(target.state.rawValue), not active: nothing to rotate.")
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
