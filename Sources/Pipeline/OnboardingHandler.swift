import Crypto
import Foundation
import Graph
import HTTP
import Logging
import PBX
import Postgres
import Queue
import Worker

/// The onboarding pipeline (job kind `onboard`): the vendor's 33 portal steps as idempotent "ensure"
/// steps (ARCHITECTURE §2, §6), each checkpointed in `onboarder.job_steps` the moment it is done, with
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

    public init(settings: OnboardingSettings, vault: SecretVault, http: HTTPClient) {
        self.settings = settings
        self.vault = vault
        self.http = http
        self.tokens = TokenClient(http: http, loginBaseURL: settings.loginBaseURL)
        self.pbxes = XAPIDirectory(http: http)
    }

    /// The steps of each path, in order.
    public static let commonSteps = [
        "resolve-tenant", "app-registration", "service-principal", "consent", "client-secret", "certificate",
        "pbx-handover", "verify",
    ]
    public static let teamsSteps = ["teams-domain", "teams-activation-user", "teams-pbx"]
    public static let m365Steps = ["m365-users"]

    public static func steps(path: String) -> [String] {
        commonSteps + (path == "teams" ? teamsSteps : m365Steps) + ["finish"]
    }

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
        let run = Run(
            job: job, payload: payload, settings: settings, vault: vault, store: OnboardingStore(pool: context.pool),
            tokens: tokens, pbxes: pbxes, logger: context.logger)
        return await Self.drive(run, steps: Self.steps(path: payload.path), context: context)
    }

    /// Runs `steps` in order from the first one not done, checkpointing each; `prepare` fills the facts
    /// of a run that has no checkpoint yet.
    static func drive(
        _ run: Run, steps: [String], context: JobContext,
        prepare: ((inout Run) async throws -> Void)? = nil
    ) async -> JobOutcome {
        var run = run
        let job = run.job
        let store = run.store
        var step = "resume"
        do {
            (run.done, run.facts, run.allowedPBXHosts) = try await store.load(job: job.id)
            if run.done.isEmpty, let prepare { try await prepare(&run) }
            let pending = steps.filter { !run.done.contains($0) }
            var started = false  // marked running by the previous step's checkpoint
            for (index, name) in pending.enumerated() {
                step = name
                if !started { try await store.start(job: job.id, step: name) }
                CrashPoint.check("before:\(name)")
                let result = try await run.perform(name)
                started = false
                switch result {
                case .done:
                    let next = index + 1 < pending.count ? pending[index + 1] : nil
                    try await store.complete(job: job.id, step: name, facts: run.facts, next: next)
                    started = next != nil
                case .committed:
                    break
                case .wait(let until, let message):
                    return .wait(step: name, reason: .input, until: until, message: message)
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

    /// The job outcome of a classified failure (ARCHITECTURE §7).
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

/// Stops a run with an outcome other than a Graph failure.
struct StepStop: Error {
    enum Kind {
        case needsAttention
        case retry(WaitReason, Duration?)
    }
    let kind: Kind
    let message: String

    static func attention(_ message: String) -> StepStop { StepStop(kind: .needsAttention, message: message) }
    static func retry(_ reason: WaitReason, _ message: String, after: Duration? = nil) -> StepStop {
        StepStop(kind: .retry(reason, after), message: message)
    }

    func outcome(step: String) -> JobOutcome {
        switch kind {
        case .needsAttention: .needsAttention(step: step, message: message)
        case .retry(let reason, let after): .retry(step: step, reason: reason, message: message, retryAfter: after)
        }
    }
}

enum StepResult {
    /// Checkpoint the facts now.
    case done
    /// The step checkpointed itself, in the transaction that stored what it made.
    case committed
    /// Waiting for an operator (a certificate, a DNS record).
    case wait(until: Date, message: String)
}

/// One run of one job: the facts so far and the clients it needs.
struct Run {
    let job: ClaimedJob
    let payload: OnboardingPayload
    let settings: OnboardingSettings
    let vault: SecretVault
    let store: OnboardingStore
    let tokens: TokenClient
    let pbxes: XAPIDirectory
    let logger: Logger
    var done = Set<String>()
    var facts = OnboardingFacts()
    /// The MSP's allowed PBX hosts as the run began (nil: any host).
    var allowedPBXHosts: [String]?

    /// The customer tenant as Entra knows it: its id once resolved, the enqueued key before.
    var tenant: String { facts.entraTenantID ?? job.tenantKey }

    /// Graph in the customer tenant, as the partner app or the tenant's own.
    func graph() throws -> GraphClient {
        if let clientID = payload.tenantClientID, let reference = payload.tenantClientSecret {
            let secret: String
            do { secret = try secrets.resolve(reference, msp: job.mspID, customer: job.tenantKey) } catch {
                throw StepStop.attention(
                    "The tenant's own client secret cannot be read: \(error). Make it available to the worker, then onboarder retry."
                )
            }
            return GraphClient(
                http: tokens.http, tokens: tokens, baseURL: settings.graphBaseURL, tenant: tenant, clientID: clientID,
                credential: .secret(secret))
        }
        guard let credential = settings.partnerCredential, !settings.partnerClientID.isEmpty else {
            throw StepStop.attention(
                "No partner app is configured: set partner.client_id and partner.certificate_path (or partner.client_secret)."
            )
        }
        return GraphClient(
            http: tokens.http, tokens: tokens, baseURL: settings.graphBaseURL, tenant: tenant,
            clientID: settings.partnerClientID, credential: credential)
    }

    /// The failure context of a call: which tenant and partner app (for the consent URL), and whether the
    /// object it addresses was created recently enough for "not found" to mean replication lag.
    func context(createdAt: Date? = nil, credentialAddedAt: Date? = nil) -> FailureContext {
        FailureContext(
            recentlyCreatedObject: createdAt.map { Date().timeIntervalSince($0) < settings.replicationWindow } ?? false,
            recentlyCreatedCredential: credentialAddedAt.map {
                Date().timeIntervalSince($0) < settings.replicationWindow
            }
                ?? false,
            tenantID: tenant, clientID: payload.tenantClientID ?? settings.partnerClientID,
            loginBaseURL: settings.loginBaseURL)
    }

    /// The resolver of this job's secret references: the configured policy with `{msp}` filled in.
    var secrets: SecretResolver {
        SecretResolver(policy: settings.secretReferences.forMSP(job.mspID), vault: vault)
    }

    /// The PBX's API client, once its URL is one the PBX secret may go to (checked again here, not only at
    /// enqueue: a row written straight into the database, or an MSP whose allowed hosts changed since).
    func pbx() async throws -> XAPIClient {
        if let problem = settings.pbxEndpoints.problem(payload.pbxURL, allowedHosts: allowedPBXHosts) {
            throw StepStop.attention(
                "The PBX URL is refused: \(problem). Nothing was sent to it. Cancel the job and enqueue the customer with a permitted PBX URL."
            )
        }
        let secret: String
        do {
            secret = try secrets.resolve(payload.pbxSecret, msp: job.mspID, customer: job.tenantKey)
        } catch {
            throw StepStop.attention(
                "The PBX's API secret cannot be read: \(error). Make it available to the worker, then onboarder retry.")
        }
        return pbxes.client(baseURL: payload.pbxURL, clientID: payload.pbxClientID, secret: secret)
    }

    mutating func warn(_ warning: String) {
        if !facts.warnings.contains(warning) { facts.warnings.append(warning) }
    }

    mutating func perform(_ step: String) async throws -> StepResult {
        switch step {
        case "resolve-tenant": try await resolveTenant()
        case "app-registration": try await registerApp()
        case "service-principal": try await servicePrincipal()
        case "consent": try await consent()
        case "client-secret": return try await clientSecret()
        case "certificate": return try await certificate()
        case "pbx-handover": try await pbxHandover()
        case "verify": try await verify()
        case "teams-domain": return try await teamsDomain()
        case "teams-activation-user": try await activationUser()
        case "teams-pbx": try await teamsPBX()
        case "m365-users": try await m365Users()
        case "finish": try await finish()
        case "rotate-add-password": return try await rotateAddPassword()
        case "rotate-prove": try await rotateProve()
        case "rotate-handover": return try await rotateHandover()
        case "rotate-test-pbx": try await rotateTestPBX()
        case "rotate-grace": return try await rotateGrace()
        case "rotate-remove-old": return try await rotateRemoveOld()
        case "rotate-cert-new": return try await certificate(currentStep: "rotate-cert-new")
        case "rotate-cert-prove": try await rotateCertificateProve()
        case "rotate-cert-grace": return try await rotateGrace()
        case "rotate-cert-remove-old": return try await rotateCertificateRemoveOld()
        default: throw StepStop.attention("Unknown step \(step): this worker is older than the job; upgrade it.")
        }
        return .done
    }
}
