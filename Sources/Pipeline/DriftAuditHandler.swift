import Foundation
import Graph
import Postgres
import Queue
import Store
import Worker

/// The drift audit of one onboarded customer (job kind `audit`, enqueued by `onboarder audit`): reads the
/// tenant and asks the PBX's `TestSubscription()`, compares with what Onboarder recorded (the integration, the
/// credentials, the last onboarding's payload and checkpoints), decides the findings (`DriftPlan`) and records
/// them (`DriftFindings.store`). It never writes to the tenant or the PBX: every call it makes is a read.
///
/// The same job for an offboarded customer checks instead that nothing of Onboarder's is left behind: the
/// app, on the Teams path the activation user and the SBC domain (unless kept), the PBX's pages, the
/// recorded credentials (`DriftPlan.residueFindings`, finding `offboard-residue`).
///
/// A tenant it cannot read (consent revoked, the partner app deleted from it) is itself a finding,
/// `audit-failed`, not a pass; a transient failure (throttling, a 5xx) retries the job like any other.
public struct DriftAuditHandler: JobHandler {
    public let kind = "audit"
    let onboarding: OnboardingHandler

    public init(onboarding: OnboardingHandler) { self.onboarding = onboarding }

    public func run(_ job: ClaimedJob, context: JobContext) async -> JobOutcome {
        let pool = context.pool
        do {
            let record = try await DriftFindings.record(tenant: job.tenantID, on: pool)
            let observed: Observed
            if record.offboarded {
                // An offboarded customer: nothing of Onboarder's may be left behind (DriftPlan.residueFindings).
                guard !record.lifecycleActive, let offboardJob = record.offboardJob,
                    let payloadJSON = record.offboardPayload
                else {
                    return .succeeded(warnings: [
                        "The customer is being onboarded or offboarded again: no residue audited."
                    ])
                }
                let payload = try payloadJSON.decode(OnboardingPayload.self)
                let keepDomain = try payloadJSON.decode(OffboardingHandler.Options.self).keep_domain ?? false
                var run = try await onboarding.run(of: job, payload: payload, context: context)
                run.allowedPBXHosts = try await OnboardingStore.load(job: offboardJob, on: pool).allowedPBXHosts
                run.facts.entraTenantID = record.entraTenantID
                observed = try await Self.observe {
                    let baseline = try run.residueBaseline(record, keepDomain: keepDomain)
                    let seen = try await run.observeResidue(baseline)
                    return (DriftPlan.residueFindings(baseline, seen), seen.pbxUnread == nil)
                }
            } else {
                guard record.onboarded, let onboardJob = record.onboardJob, let payloadJSON = record.onboardPayload
                else {
                    // Never onboarded to the end since the audit was enqueued: nothing to compare.
                    return .succeeded(warnings: ["The customer is not onboarded: nothing audited."])
                }
                let payload = try payloadJSON.decode(OnboardingPayload.self)
                var run = try await onboarding.run(of: job, payload: payload, context: context)
                let (_, facts, hosts, _) = try await OnboardingStore.load(job: onboardJob, on: pool)
                run.facts = facts
                run.allowedPBXHosts = hosts
                if run.facts.entraTenantID == nil { run.facts.entraTenantID = record.entraTenantID }
                observed = try await Self.observe {
                    let baseline = try run.driftBaseline(record)
                    return (DriftPlan.findings(baseline, try await run.observeDrift(baseline)), true)
                }
            }
            let findings: [DriftFinding]
            let complete: Bool
            switch observed {
            case .findings(let seen, let whole): (findings, complete) = (seen, whole)
            case .outcome(let outcome): return outcome
            }
            // A worker killed here or just after the store leaves the job running; the one that rescues it
            // reads again and stores the same findings: `since` and the events are not duplicated.
            CrashPoint.check("before:audit-store")
            let stored = try await DriftFindings.store(
                tenant: job.tenantID, msp: job.mspID, job: job.id,
                findings: findings.map { ($0.finding, $0.subject, $0.detail) }, complete: complete, on: pool)
            CrashPoint.check("after:audit-store")
            context.logger.info(
                "audit done",
                metadata: [
                    "job.id": "\(job.id)", "findings": "\(findings.count)", "new": "\(stored.found)",
                    "cleared": "\(stored.cleared)", "offboarded": "\(record.offboarded)",
                ])
            return .succeeded()
        } catch let error as PartnerAppError {
            return OnboardingHandler.partnerOutcome(error)
        } catch is DecodingError {
            return .needsAttention(
                step: "audit",
                message:
                    "The customer's last onboarding (or offboarding) payload is unreadable; onboard (or offboard) it again, then audit."
            )
        } catch is CancellationError {
            return .retry(step: "audit", reason: .retry, message: "cancelled at shutdown")
        } catch {
            return .retry(step: "audit", reason: .retry, message: "\(error)")
        }
    }
}

extension DriftAuditHandler {
    /// What an audit's reads came to: its findings, and whether it read everything (findings it did not
    /// look at again stay); or, for a transient failure, the job's outcome (a retry).
    enum Observed {
        case findings([DriftFinding], complete: Bool)
        case outcome(JobOutcome)
    }

    /// Runs `audit`. A tenant it cannot read (consent revoked, the partner app deleted…) is itself a finding,
    /// `audit-failed`, and the audit incomplete; throttling, a 5xx or a replication delay retry the job.
    static func observe(_ audit: () async throws -> (findings: [DriftFinding], complete: Bool)) async throws
        -> Observed
    {
        do {
            let (findings, complete) = try await audit()
            return .findings(findings, complete: complete)
        } catch let error as GraphError {
            switch error.failure {
            case .transient, .replication, .propagation:
                return .outcome(OnboardingHandler.outcome(error, step: "audit"))
            case .needsAttention, .invalidRequest:
                return .findings([DriftPlan.unreadable(error.description)], complete: false)
            }
        } catch let stop as StepStop {
            guard case .needsAttention = stop.kind else { return .outcome(stop.outcome(step: "audit")) }
            return .findings([DriftPlan.unreadable(stop.message)], complete: false)
        }
    }
}

extension Run {
    /// What Onboarder set up for this customer, from its records and its last onboarding's checkpoints.
    func driftBaseline(_ record: AuditRecord) throws -> DriftBaseline {
        let appObject = try require(record.appObjectID ?? facts.appObjectID, "application object id")
        let appID = try require(record.appID ?? facts.appID, "app id")
        func ids(_ kind: String, _ states: Set<CredentialState>) -> Set<String> {
            Set(record.credentials.filter { $0.kind == kind && states.contains($0.state) }.map(\.id))
        }
        return DriftBaseline(
            path: record.path ?? payload.path, appObjectID: appObject.lowercased(), appID: appID.lowercased(),
            redirectURI: payload.redirectURI ?? settings.redirectURI(pbxURL: payload.pbxURL),
            roles: facts.roleIDs ?? [:], scopes: facts.scopeIDs ?? [:],
            expectedPasswords: Set(ids("password", [.active, .superseded]).map { $0.lowercased() }),
            knownPasswords: Set(ids("password", [.active, .superseded, .pending]).map { $0.lowercased() }),
            expectedCertificates: Set(ids("certificate", [.active, .superseded]).map { $0.uppercased() }),
            knownCertificates: Set(
                ids("certificate", [.active, .superseded, .pending, .supplied]).map { $0.uppercased() }),
            sbcFQDN: record.sbcFQDN ?? facts.sbcFQDN, activationUPN: facts.activationUPN,
            selectedUsers: facts.selectedUsers ?? payload.users ?? [],
            withoutPhoneSystemWhenOnboarded: Set((facts.usersWithoutPhoneSystem ?? []).map { $0.lowercased() }))
    }

    /// Reads, never writes: the app, its service principal and consent, the PBX's check, and the path's
    /// domain and users. A 404 of what is audited is an observation (gone); other failures are thrown.
    func observeDrift(_ baseline: DriftBaseline) async throws -> DriftObservation {
        let graph = try graph()
        var seen = DriftObservation(
            application: nil, servicePrincipal: false, assignedRoles: [], grantedScopes: nil, pbxProblem: nil,
            domain: nil, activationUser: nil, users: [:], now: Date())
        do {
            let app = try await graph.applicationConfiguration(id: baseline.appObjectID)
            seen.application = DriftObservation.Application(
                redirectURIs: app.web?.redirectUris ?? [], access: app.access().map { ($0.id, $0.type) },
                passwords: (app.passwordCredentials ?? []).map {
                    .init(id: $0.keyId, end: $0.endDateTime.flatMap(Run.date))
                },
                certificates: (app.keyCredentials ?? []).map {
                    .init(
                        id: $0.customKeyIdentifier.flatMap(CertificatePlan.thumbprint(customKeyIdentifier:))
                            ?? "keyId \($0.keyId)", end: $0.endDateTime.flatMap(Run.date))
                })
        } catch let error as GraphError where error.status == 404 {
            seen.application = nil
        }
        if let principal = try await graph.servicePrincipal(appID: baseline.appID) {
            seen.servicePrincipal = true
            let resource = try await graphResource(graph)
            seen.assignedRoles = Set(
                try await graph.appRoleAssignments(principalID: principal.id)
                    .filter { $0.resourceId.lowercased() == resource }.map { $0.appRoleId.lowercased() })
            if !baseline.scopes.isEmpty {
                seen.grantedScopes = try await graph.permissionGrants(clientID: principal.id)
                    .first { $0.resourceId.lowercased() == resource && $0.consentType == "AllPrincipals" }?.scopes
            }
        }
        seen.pbxProblem = await pbxProblem()
        if baseline.path == "teams" {
            if let fqdn = baseline.sbcFQDN {
                do {
                    seen.domain = try await graph.domain(fqdn).isVerified == true ? .verified : .unverified
                } catch let error as GraphError where error.status == 404 {
                    seen.domain = .absent
                }
            }
            if let upn = baseline.activationUPN {
                let skus = try await graph.subscribedSkus()
                seen.activationUser = .some(
                    try await user(upn, graph) {
                        LicencePlan.activationLicence(for: $0, skus: skus) == .held
                    })
            }
        } else if !baseline.selectedUsers.isEmpty {
            // One paged list rather than a read per user: a customer may sync thousands, and every read counts
            // against the tenant's Graph quota.
            let skus = try await graph.subscribedSkus()
            let byUPN = Dictionary(
                try await graph.users().map { ($0.userPrincipalName.lowercased(), $0) }, uniquingKeysWith: { a, _ in a }
            )
            for upn in baseline.selectedUsers {
                seen.users[upn.lowercased()] = .some(
                    byUPN[upn.lowercased()].map {
                        DriftObservation.User(
                            enabled: $0.accountEnabled != false,
                            licensed: LicencePlan.withoutPhoneSystem([$0], skus: skus).isEmpty)
                    })
            }
        }
        return seen
    }

    /// Microsoft Graph's service principal in the tenant (the resource of the app's roles and grant).
    private func graphResource(_ graph: GraphClient) async throws -> String {
        if let known = facts.graphServicePrincipalID { return known.lowercased() }
        return try await graph.microsoftGraphServicePrincipal().id.lowercased()
    }

    /// The user `upn`, nil when the tenant has none by that name; `licensed` says whether its licences do.
    private func user(_ upn: String, _ graph: GraphClient, licensed: (GraphUser) -> Bool) async throws
        -> DriftObservation.User?
    {
        do {
            let user = try await graph.user(upn)
            return DriftObservation.User(enabled: user.accountEnabled != false, licensed: licensed(user))
        } catch let error as GraphError where error.status == 404 {
            return nil
        }
    }

    /// The PBX's `TestSubscription()` (a read), nil when it passes. A PBX that cannot be asked, or whose API
    /// secret the worker cannot read, fails the check too: the audit says why.
    private func pbxProblem() async -> String? {
        do {
            let test = try await pbx().testSubscription()
            return test.IsSubscriptionAvailable ? nil : (test.ExceptionMessage ?? "no reason given")
        } catch let stop as StepStop {
            return stop.message
        } catch {
            return "the PBX could not be asked: \(error)"
        }
    }
}
