import Foundation
import Graph
import Store

extension Run {
    /// Part of `resolve-tenant`: the partner app's own consent in the customer tenant, read through Graph
    /// (its service principal and its app-role assignments), before anything else is read or written there.
    /// Missing consent (none, or some roles) is a wait for input, not a stop: the job looks again on its own,
    /// 30 s doubling up to `onboarding.input_recheck_seconds`, each look a `consent_check` event (which
    /// `dashboard.consent_waiting` reads), and goes on once Graph shows every role — no `onboarder retry`.
    /// Returns nil when the consent is complete (or the job runs as the tenant's own app).
    mutating func partnerConsentWait() async throws -> StepResult? {
        guard payload.tenantClientID == nil else { return nil }
        let graph = try graph()
        let seen = try await partnerConsentSeen(graph)
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
            return nil
        case .waiting(let missing, let servicePrincipal):
            await forgetPartnerToken(graph)
            return try await consentWait(missing: missing, servicePrincipal: servicePrincipal)
        }
    }

    /// What Graph shows of the partner app in this tenant.
    private func partnerConsentSeen(_ graph: GraphClient) async throws -> PartnerConsent.Seen {
        let context = context()
        do {
            let microsoftGraph = try await graph.microsoftGraphServicePrincipal(context: context)
            guard let principal = try await graph.servicePrincipal(appID: graph.clientID, context: context) else {
                return .noServicePrincipal
            }
            let assignments = try await graph.appRoleAssignments(principalID: principal.id, context: context)
            let appRoles = Dictionary(
                (microsoftGraph.appRoles ?? []).compactMap { role in role.value.map { (role.id, $0) } },
                uniquingKeysWith: { first, _ in first })
            return .roles(
                PartnerConsent.grantedRoleNames(
                    assignedRoleIDs: assignments.map { ($0.resourceId, $0.appRoleId) }, resource: microsoftGraph.id,
                    appRoles: appRoles))
        } catch let error as GraphError where error.code == "AADSTS700016" || error.code == "AADSTS65001" {
            return .noServicePrincipal
        } catch let error as GraphError where error.code == "Authorization_RequestDenied" {
            return .unreadable
        }
    }

    /// The next token request asks Entra again: consent granted since the cached token shows only in a new one.
    private func forgetPartnerToken(_ graph: GraphClient) async {
        await graph.tokens.cache.invalidate(
            TokenKey(
                authority: graph.tokens.loginBaseURL, tenant: graph.tenant, clientID: graph.clientID,
                scope: graph.scope))
    }

    /// The wait for consent: recorded (`consent_check`: what is missing, the link), next look with backoff.
    private func consentWait(missing: [String], servicePrincipal: Bool) async throws -> StepResult {
        let step = Step.resolveTenant.rawValue
        let clientID = partner.clientID
        let url = PartnerConsent.adminConsentURL(
            loginBaseURL: partner.endpoints.loginBaseURL, tenant: tenant, clientID: clientID)
        let since = try await OnboardingStore.inputWaitStarted(job: job.id, step: step, on: pool)
        let checks = try await OnboardingStore.consentChecks(job: job.id, since: since, on: pool)
        let delay = HandoverProof.recheck(checks: checks, cap: settings.inputRecheck)
        try await OnboardingStore.event(
            job: job.id, kind: "consent_check", step: step,
            detail: [
                "check": String(checks + 1), "next_in_seconds": String(delay.components.seconds),
                "missing": missing.joined(separator: ","), "consent_url": url, "client_id": clientID,
                "service_principal": String(servicePrincipal),
            ], on: pool)
        CrashPoint.check("waiting:\(step)")
        let message = PartnerConsent.waitMessage(
            customer: job.tenantKey, clientID: clientID, missing: missing, servicePrincipal: servicePrincipal, url: url)
        return .wait(
            until: Date(timeIntervalSinceNow: Double(delay.components.seconds)),
            message: "\(message) (looked \(checks + 1) time(s); next look in \(delay.components.seconds) s)")
    }
}
