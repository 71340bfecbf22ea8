import Foundation
import Graph
import HTTP
import Logging
import PBX
import Postgres
import Queue
import Store
import Worker

/// One run of one job: the facts so far and the clients it needs.
struct Run {
    let job: ClaimedJob
    let payload: OnboardingPayload
    let settings: OnboardingSettings
    let vault: SecretVault
    let pool: PostgresPool
    /// The token client on the partner app's cloud.
    let tokens: TokenClient
    /// The job's MSP's partner app.
    let partner: PartnerApp
    let pbxes: XAPIDirectory
    let writeGates: PartnerWriteGates
    let logger: Logger
    var done = Set<Step>()
    var facts = OnboardingFacts()
    /// What the current step learnt of the tenant's integration: recorded with its checkpoint.
    var integration: IntegrationRecord?
    /// The current step's events: recorded with its checkpoint when it is done, with the job's finish when it
    /// waits.
    var stepEvents: [JobEvent] = []
    /// The step after the current one, if any: a step that checkpoints itself (`.committed`) marks it running
    /// in the same statement, as `drive` does for the others.
    var next: Step?
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
            var client = GraphClient(
                http: tokens.http, tokens: tokens, baseURL: partner.endpoints.graphBaseURL, tenant: tenant,
                clientID: clientID, credential: .secret(secret))
            client.scope = partner.endpoints.graphScope
            return client
        }
        var client = GraphClient(
            http: tokens.http, tokens: tokens, baseURL: partner.endpoints.graphBaseURL, tenant: tenant,
            clientID: partner.clientID, credential: partner.credential)
        client.scope = partner.endpoints.graphScope
        // The partner app's writes count against its quota across all tenants; a tenant's own app (above)
        // writes in its own tenant only.
        client.writeGate = writeGates.gate(for: partner.clientID, pool: pool)
        return client
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
            tenantID: tenant, clientID: payload.tenantClientID ?? partner.clientID,
            loginBaseURL: partner.endpoints.loginBaseURL)
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

    /// Records `learnt` with the step's checkpoint (or on its own, when the step ends otherwise).
    mutating func record(_ learnt: IntegrationRecord) {
        integration = integration.map { $0.merged(with: learnt) } ?? learnt
    }

    mutating func warn(_ warning: String) {
        if !facts.warnings.contains(warning) { facts.warnings.append(warning) }
    }

    func require(_ value: String?, _ what: String) throws -> String {
        guard let value else {
            throw StepStop.attention("The job's checkpoints lack the \(what); onboarder retry starts the job again.")
        }
        return value
    }

    static func date(_ text: String) -> Date? {
        // Only ASCII reaches Foundation's formatter: its DateFormatter traps on some non-ASCII input
        // (libFuzzer found it in the Retry-After parser), and this text comes from a server.
        guard text.utf8.allSatisfy({ $0 < 0x80 }) else { return nil }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }
}
