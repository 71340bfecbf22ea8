import Crypto
import Foundation
import Graph
import HTTP
import Logging
import PBX
import Postgres
import Queue
import Store
import Worker

/// The onboarding pipeline (job kind `onboard`): the vendor's 33 portal steps as idempotent "ensure"
/// steps, each checkpointed in `onboarder.job_steps` the moment it is done, with
/// every external id recorded as soon as it is known. A run that resumes skips what is done; a step
/// that runs again finds what it would create by its natural key and adopts it.
///
/// Failures are classified once (`GraphError.failure`) and become the job's next state: transient and
/// replication waits give the slot back (`run_at`), needs-attention stops with the fix in words.
public struct OnboardingHandler: JobHandler {
    public let kind = "onboard"
    public let settings: OnboardingSettings
    public let vault: SecretVault
    let http: HTTPClient
    let tokens: TokenClient
    let pbxes: XAPIDirectory
    /// Each MSP's partner app; tokens are cached per authority, tenant and partner app in `tokens.cache`.
    public let partners: PartnerApps
    /// Every job of the process writes with a partner app through its one gate (`partner.writes_per_second`).
    let writeGates: PartnerWriteGates

    public init(settings: OnboardingSettings, vault: SecretVault, http: HTTPClient) {
        self.settings = settings
        self.vault = vault
        self.http = http
        self.tokens = TokenClient(http: http, loginBaseURL: settings.loginBaseURL)
        self.pbxes = XAPIDirectory(http: http)
        self.partners = PartnerApps(settings: settings, vault: vault)
        self.writeGates = PartnerWriteGates(
            configured: settings.partnerWritesPerSecond, defaultClientID: settings.partnerClientID)
    }

    /// The steps of an onboarding on `path`, in order.
    public static func steps(path: String) -> [Step] { Step.onboarding(path: path) }

    public func run(_ job: ClaimedJob, context: JobContext) async -> JobOutcome {
        let payload: OnboardingPayload
        do {
            payload = try job.payload.decode(OnboardingPayload.self)
            guard payload.path == "teams" || payload.path == "m365" else {
                return .needsAttention(
                    step: nil,
                    message: "The job's path is \(payload.path); it must be teams or m365. Cancel it and enqueue again."
                )
            }
        } catch {
            return .needsAttention(
                step: nil,
                message: "The job's payload is not an onboarding request (\(error)); cancel it and enqueue again.")
        }
        let run: Run
        do { run = try await self.run(of: job, payload: payload, context: context) } catch {
            return Self.partnerOutcome(error)
        }
        return await Self.drive(run, steps: Self.steps(path: payload.path), context: context)
    }

    /// A run of `job` with its MSP's partner app, before its checkpoints are loaded.
    func run(of job: ClaimedJob, payload: OnboardingPayload, context: JobContext) async throws -> Run {
        let partner = try await partners.app(for: job.mspID, on: context.pool)
        return Run(
            job: job, payload: payload, settings: settings, vault: vault, pool: context.pool,
            tokens: tokens.with(loginBaseURL: partner.endpoints.loginBaseURL), partner: partner, pbxes: pbxes,
            writeGates: writeGates, logger: context.logger)
    }

    /// A job whose MSP's partner app cannot be had: misconfiguration stops it for attention; a database
    /// error is retried like any other.
    static func partnerOutcome(_ error: any Error) -> JobOutcome {
        if let error = error as? PartnerAppError {
            return .needsAttention(step: nil, message: "\(error) Then run onboarder retry.")
        }
        return .retry(step: "resume", reason: .retry, message: "reading the MSP's partner app: \(error)")
    }

    /// Runs `steps` in order from the first one not done, checkpointing each; `prepare` fills the facts
    /// of a run that has no checkpoint yet.
    static func drive(
        _ run: Run, steps: [Step], context: JobContext,
        prepare: ((inout Run) async throws -> Void)? = nil
    ) async -> JobOutcome {
        var run = run
        let job = run.job
        let pool = run.pool
        var step = "resume"
        do {
            let done: Set<String>
            let running: String?
            (done, run.facts, run.allowedPBXHosts, running) = try await OnboardingStore.load(job: job.id, on: pool)
            run.done = Set(done.compactMap(Step.init(rawValue:)))
            if run.done.isEmpty, let prepare { try await prepare(&run) }
            let pending = steps.filter { !run.done.contains($0) }
            // Marked running already: by the previous step's checkpoint, or (the first) before the job's wait.
            var started = pending.first.map { $0.rawValue == running } ?? false
            for (index, name) in pending.enumerated() {
                step = name.rawValue
                if !started { try await OnboardingStore.start(job: job.id, step: name.rawValue, on: pool) }
                CrashPoint.check("before:\(name)")
                let next = index + 1 < pending.count ? pending[index + 1] : nil
                run.next = next
                let result = try await run.perform(name)
                started = false
                let learnt = run.integration.map { (record: $0, tenant: job.tenantID) }
                let events = run.stepEvents
                (run.integration, run.stepEvents) = (nil, [])
                switch result {
                case .done:
                    try await OnboardingStore.complete(
                        job: job.id, step: name.rawValue, facts: run.facts, next: next?.rawValue, integration: learnt,
                        events: events, on: pool)
                    started = next != nil
                case .committed:  // the step's own checkpoint marked `next` running
                    if let learnt { try await OnboardingStore.record(learnt.record, tenant: learnt.tenant, on: pool) }
                    try await OnboardingStore.record(events: events, job: job.id, step: name.rawValue, on: pool)
                    started = next != nil
                case .wait(let until, let message):
                    if let learnt { try await OnboardingStore.record(learnt.record, tenant: learnt.tenant, on: pool) }
                    // The step's events (a look at the PBX) are recorded by the finish that sets the job waiting.
                    return .wait(
                        step: name.rawValue, reason: .input, until: until, message: message,
                        events: events.map {
                            JobEvent(kind: $0.kind, step: $0.step ?? name.rawValue, detail: $0.detail)
                        })
                }
                run.done.insert(name)
                context.logger.debug("step done", metadata: ["job.id": "\(job.id)", "step.name": "\(name)"])
                CrashPoint.check("after:\(name)")
            }
            return .succeeded(warnings: run.facts.warnings)
        } catch let error as GraphError {
            return Self.outcome(error, step: step)
        } catch let stop as StepStop {
            return stop.outcome(step: step)
        } catch is CancellationError {
            return .retry(step: step, reason: .retry, message: "cancelled at shutdown")
        } catch {
            return .retry(step: step, reason: .retry, message: "\(error)")
        }
    }

    /// The job outcome of a classified failure (`FailureClassifier`).
    static func outcome(_ error: GraphError, step: String) -> JobOutcome {
        switch error.failure {
        case .transient(let retryAfter):
            return .retry(
                step: step, reason: error.status == 429 ? .throttled : .retry, message: error.description,
                retryAfter: retryAfter)
        case .replication:
            return .retry(step: step, reason: .replication, message: error.description)
        case .propagation:
            return .retry(step: step, reason: .replication, message: "credential propagation: \(error.description)")
        case .needsAttention(let fix):
            return .needsAttention(step: step, message: "\(fix) (\(error.description))")
        case .invalidRequest:
            return .needsAttention(
                step: step,
                message:
                    "Microsoft refused the request as invalid: \(error.description). Correct the job's input or the configuration, then run onboarder retry."
            )
        }
    }
}
