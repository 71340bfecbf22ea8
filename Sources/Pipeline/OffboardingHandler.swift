import Foundation
import Queue
import Store
import Worker

/// Offboarding (job kind `offboard`, enqueued by `onboarder offboard` through `onboarder.enqueue_offboard`):
/// the onboarding in reverse, checkpointed step by step like it (`OnboardingHandler.drive`). The payload
/// is the customer's last onboarding's (its PBX, path, secret reference) plus `keep_domain` and `dry_run`.
///
/// The first step surveys the tenant, its DNS and its PBX and checkpoints what it saw; every later step
/// removes its part of `OffboardPlan` of that survey, and counts an object already gone as removed, so a run
/// that resumes after a crash finishes the removals without repeating any. A dry run is the survey alone:
/// it writes nothing, and `onboarder offboard --dry-run` prints the plan from its checkpoint.
public struct OffboardingHandler: JobHandler {
    public let kind = "offboard"
    let onboarding: OnboardingHandler

    public init(onboarding: OnboardingHandler) { self.onboarding = onboarding }

    /// The payload's offboarding switches.
    struct Options: Decodable {
        var keep_domain: Bool?
        var dry_run: Bool?
    }

    public func run(_ job: ClaimedJob, context: JobContext) async -> JobOutcome {
        let payload: OnboardingPayload
        let options: Options
        do {
            payload = try job.payload.decode(OnboardingPayload.self)
            options = try job.payload.decode(Options.self)
        } catch {
            return .needsAttention(
                step: nil,
                message:
                    "The offboarding's payload is unreadable (\(error)); cancel it and run onboarder offboard again.")
        }
        let run: Run
        do { run = try await onboarding.run(of: job, payload: payload, context: context) } catch {
            return OnboardingHandler.partnerOutcome(error)
        }
        let dryRun = options.dry_run ?? false
        return await OnboardingHandler.drive(run, steps: Step.offboarding(dryRun: dryRun), context: context) { run in
            guard let integration = try await Offboarding.integration(tenant: job.tenantID, on: context.pool),
                let tenant = integration.entraTenantID
            else {
                throw StepStop.attention("This customer was never onboarded: there is nothing to offboard.")
            }
            run.facts.entraTenantID = tenant
            run.facts.appObjectID = integration.appObjectID
            run.facts.appID = integration.appID
            run.facts.sbcFQDN = integration.sbcFQDN
            run.facts.defaultDomain = integration.defaultDomain
            run.facts.appRegisteredAt = .distantPast
            run.facts.offboardSurvey = OffboardSurvey(
                path: integration.path ?? payload.path, keepDomain: options.keep_domain ?? false, dryRun: dryRun)
            run.facts.offboardSurvey?.customerTenantID = tenant
        }
    }
}
