import Foundation
import Graph
import Store

extension Run {
    /// Part of `resolve-tenant`: the partner app's own consent in the customer tenant, read through Graph
    /// (its service principal and its app-role assignments), before anything else is read or written there.
    /// Missing consent (none, or some roles) is a wait for input, not a stop: the job looks again on its own,
    /// 30 s doubling up to `onboarding.input_recheck_seconds`, each look a `consent_check` event (which
    /// `dashboard.consent_waiting` reads), and goes on once Graph shows every role — no `onboarder retry`.
    /// Returns nil when the consent is complete (or the job runs as the tenant's own app), with Microsoft
    /// Graph's service principal as read for the check (so `resolve-tenant` does not read it twice).
    mutating func partnerConsentWait() async throws -> (wait: StepResult?, microsoftGraph: GraphServicePrincipal?) {
        guard payload.tenantClientID == nil else { return (nil, nil) }
        let graph = try graph()
        var (seen, microsoftGraph) = try await partnerConsentSeen(graph)
        var partnerCenter: (note: String, retryAfter: Duration?)?
        if case .waiting = PartnerConsent.decide(seen), partner.consentMode == "partner-center" {
            let asked = try await askPartnerCenter()
            partnerCenter = (asked.note, asked.retryAfter)
            if asked.consented {
                // What Partner Center made is read back through Graph, as any consent.
                await forgetPartnerToken(graph)
                (seen, microsoftGraph) = try await partnerConsentSeen(graph)
            }
        }
        switch PartnerConsent.decide(seen) {
        case .granted(let optionalMissing):
            if optionalMissing.contains("AuditLog.Read.All") {
                warn(
                    "The partner app is not consented for AuditLog.Read.All here: rotations cannot read the sign-in report and take the technician's word instead."
                )
            }
            if try await OnboardingStore.consentChecks(job: job.id, since: nil, on: pool) > 0 {
                // The token that waited was issued before the consent: its roles claim lacks what was granted since.
                await forgetPartnerToken(graph)
                try await OnboardingStore.event(
                    job: job.id, kind: "consent_granted", step: Step.resolveTenant.rawValue, detail: [:], on: pool)
            }
            return (nil, microsoftGraph)
        case .waiting(let missing, let servicePrincipal):
            await forgetPartnerToken(graph)
            let wait = try await consentWait(
                missing: missing, servicePrincipal: servicePrincipal, partnerCenter: partnerCenter?.note,
                notBefore: partnerCenter?.retryAfter)
            return (wait, nil)
        }
    }

    /// What Graph shows of the partner app in this tenant.
    private func partnerConsentSeen(_ graph: GraphClient) async throws -> (
        PartnerConsent.Seen, GraphServicePrincipal?
    ) {
        let context = context()
        do {
            let read = try await graph.microsoftGraphServicePrincipal(context: context)
            guard let principal = try await graph.servicePrincipal(appID: graph.clientID, context: context) else {
                return (.noServicePrincipal, read)
            }
            let assignments = try await graph.appRoleAssignments(principalID: principal.id, context: context)
            let (appRoles, microsoftGraph) = try await graph.appRoleNames(
                naming: assignments, offeredBy: read, context: context)
            let names = PartnerConsent.grantedRoleNames(
                assignedRoleIDs: assignments.map { ($0.resourceId, $0.appRoleId) }, resource: microsoftGraph.id,
                appRoles: appRoles)
            return (.roles(names), microsoftGraph)
        } catch let error as GraphError where error.code == "AADSTS700016" || error.code == "AADSTS65001" {
            return (.noServicePrincipal, nil)
        } catch let error as GraphError where error.code == "Authorization_RequestDenied" {
            return (.unreadable, nil)
        }
    }

    /// The next token request asks Entra again: consent granted since the cached token shows only in a new one.
    private func forgetPartnerToken(_ graph: GraphClient) async {
        await graph.tokens.cache.invalidate(
            TokenKey(
                authority: graph.tokens.loginBaseURL, tenant: graph.tenant, clientID: graph.clientID,
                scope: graph.scope))
    }

    /// The wait for consent: recorded (`consent_check`: what is missing, the link, by the finish that sets the
    /// job waiting: a look is recorded with its wait or not at all), next look with backoff.
    private mutating func consentWait(
        missing: [String], servicePrincipal: Bool, partnerCenter: String? = nil, notBefore: Duration? = nil
    ) async throws -> StepResult {
        let step = Step.resolveTenant.rawValue
        let clientID = partner.clientID
        let url = PartnerConsent.adminConsentURL(
            loginBaseURL: partner.endpoints.loginBaseURL, tenant: tenant, clientID: clientID)
        let since = try await OnboardingStore.inputWaitStarted(job: job.id, step: step, on: pool)
        let checks = try await OnboardingStore.consentChecks(job: job.id, since: since, on: pool)
        let delay = max(HandoverProof.recheck(checks: checks, cap: settings.inputRecheck), notBefore ?? .zero)
        stepEvents.append(
            .init(
                kind: "consent_check",
                detail: [
                    "check": String(checks + 1), "next_in_seconds": String(delay.components.seconds),
                    "missing": missing.joined(separator: ","), "consent_url": url, "client_id": clientID,
                    "service_principal": String(servicePrincipal),
                ]))
        CrashPoint.check("waiting:\(step)")
        let message = PartnerConsent.waitMessage(
            customer: job.tenantKey, clientID: clientID, missing: missing, servicePrincipal: servicePrincipal, url: url,
            partnerCenter: partnerCenter)
        return .wait(
            until: Date(timeIntervalSinceNow: Double(delay.components.seconds)),
            message: "\(message) (looked \(checks + 1) time(s); next look in \(delay.components.seconds) s)")
    }

    /// Partner Center for an MSP in `partner-center` mode (`PartnerCenterConsent`): asks it to consent the
    /// partner app here, at most once per look and not again once it did, with the MSP's admin agent's
    /// refresh token; each ask a `partner_center_consent` event. `consented`: read the consent back now.
    private func askPartnerCenter() async throws -> (note: String, retryAfter: Duration?, consented: Bool) {
        let step = Step.resolveTenant.rawValue
        let since = try await OnboardingStore.inputWaitStarted(job: job.id, step: step, on: pool)
        if let latest = try await OnboardingStore.latestPartnerCenterConsent(job: job.id, since: since, on: pool),
            !PartnerCenterConsent.shouldAsk(latest: latest.outcome)
        {
            return (PartnerCenterConsent.note(latest: latest.outcome, description: latest.note), nil, false)
        }
        guard let baseURL = partner.endpoints.partnerCenterBaseURL else {
            return ("not offered on the \(partner.cloud.rawValue) cloud", nil, false)
        }
        guard !partner.homeTenantID.isEmpty else {
            return (
                "the MSP's own tenant is not known (partner.tenant_id, or onboarder msp set --partner-tenant-id)", nil,
                false
            )
        }
        guard let sealed = try await PartnerCenterCredentials.sealedRefreshToken(msp: job.mspID, on: pool) else {
            return (
                "no Partner Center credential is set for MSP \(job.mspID) (onboarder msp set \(job.mspID) --partner-center-refresh-token-stdin)",
                nil, false
            )
        }
        let outcome: PartnerCenterConsent
        do {
            let refreshToken = try vault.open(sealed, context: PartnerCenterCredentials.sealingContext(msp: job.mspID))
            let client = PartnerCenterClient(
                http: tokens.http, baseURL: baseURL, loginBaseURL: partner.endpoints.loginBaseURL)
            let token = try await client.token(
                partnerTenant: partner.homeTenantID, clientID: partner.clientID, credential: partner.credential,
                refreshToken: refreshToken)
            let answer = await client.consent(
                customer: tenant,
                PartnerCenterConsent.request(
                    clientID: partner.clientID, displayName: "Onboarder partner app (\(job.mspID))",
                    roles: PartnerConsent.requiredRoles + PartnerConsent.optionalRoles),
                token: token)
            outcome = PartnerCenterConsent.classify(answer)
        } catch let error as GraphError {
            if case .transient = error.failure {
                outcome = .failed("the refresh-token grant: \(error.description)")
            } else {
                outcome = .refused(
                    "Entra refused the admin agent's refresh token (\(error.description)): the agent must consent the partner app again and its refresh token be set with onboarder msp set"
                )
            }
        } catch {
            outcome = .refused("the Partner Center credential cannot be opened: \(error)")
        }
        var retryAfter: Duration?
        if case .throttled(let after) = outcome { retryAfter = after }
        try await OnboardingStore.event(
            job: job.id, kind: "partner_center_consent", step: step,
            detail: ["outcome": outcome.recorded, "note": outcome.note], on: pool)
        return (outcome.note, retryAfter, outcome == .asked || outcome == .exists)
    }
}
