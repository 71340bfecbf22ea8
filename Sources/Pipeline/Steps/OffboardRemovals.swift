import Foundation
import Graph
import PBX
import Store

/// The offboarding's removals, each step its part of `OffboardPlan` of the checkpointed survey. An object
/// already gone (404: removed by an earlier run that crashed before its checkpoint, or by hand) is removed.
extension Run {
    /// `offboard-pbx`: the PBX stops using the integration before its credentials vanish.
    mutating func offboardPBX() async throws {
        let actions = OffboardPlan.actions(for: .offboardPBX, try survey())
        guard !actions.isEmpty else { return }
        let pbx = try await pbx()
        for action in actions {
            switch action {
            case .clearMicrosoft365: try await pbx.clearMicrosoft365Integration()
            case .disableTeams: try await pbx.disableTeamsIntegration()
            default: continue
            }
            CrashPoint.check("after-call:offboard-pbx")
        }
        try await OnboardingStore.event(
            job: job.id, kind: "pbx_cleared", step: Step.offboardPBX.rawValue,
            detail: ["pbx_url": payload.pbxURL, "pages": actions.map { "\($0)" }.joined(separator: ", ")], on: pool)
    }

    /// `offboard-activation-user`: the user renamed onto the tenant's default domain, then deleted. A deleted
    /// user stays in Deleted users for 30 days still holding its name, and Entra will not delete a domain a
    /// name is in; purging it needs a permission the partner app does not have (User.DeleteRestore.All), so
    /// the name is moved off the domain first. Nobody signs in with the user: its password was never kept.
    mutating func offboardActivationUser() async throws {
        let graph = try graph()
        for case .deleteUser(let id, let upn) in OffboardPlan.actions(for: .offboardActivationUser, try survey()) {
            let parked = try OffboardPlan.parkedName(
                of: upn, id: id, defaultDomain: require(facts.defaultDomain, "default domain"))
            do {
                try await graph.renameUser(id, userPrincipalName: parked)
                CrashPoint.check("after-call:offboard-activation-user")
                try await graph.deleteUser(id)
            } catch let error as GraphError where error.isGone {}
            try await OnboardingStore.event(
                job: job.id, kind: "user_removed", step: Step.offboardActivationUser.rawValue,
                detail: ["id": id, "user_principal_name": upn, "renamed_to": parked], on: pool)
        }
    }

    /// `offboard-domain`: the SBC domain. Entra refuses while anything still uses the name (a user, a group's
    /// address, an app's identifier URI): that is the customer's admin's to move, so the job stops saying so.
    mutating func offboardDomain() async throws {
        let graph = try graph()
        for case .deleteDomain(let name) in OffboardPlan.actions(for: .offboardDomain, try survey()) {
            do {
                try await graph.deleteDomain(name)
                CrashPoint.check("after-call:offboard-domain")
            } catch let error as GraphError where error.isGone {
            } catch let error as GraphError where error.status == 400 {
                throw StepStop.attention(
                    "Entra refuses to delete the domain \(name): \(error.message). Objects of the tenant still use it (Entra admin center → Domain names → \(name), or GET /domains/\(name)/domainNameReferences): move or delete them, then onboarder retry; or offboard with --keep-domain."
                )
            }
            try await OnboardingStore.event(
                job: job.id, kind: "domain_removed", step: Step.offboardDomain.rawValue, detail: ["name": name],
                on: pool)
        }
    }

    /// `offboard-dns`: the domain's verification TXT records, through the MSP's DNS provider; with records
    /// published by hand, the operator is told which one to remove (a warning and an event).
    mutating func offboardDNS() async throws {
        for action in OffboardPlan.actions(for: .offboardDNS, try survey()) {
            switch action {
            case .removeTXT(let name, let zone, let values):
                let dns = try await dnsProvider()
                guard let publisher = txtPublisher(dns) else { continue }
                for value in values {
                    do {
                        try await publisher.remove(name: name, value: value, zone: zone)
                    } catch {
                        throw TeamsDomainDNS.stop(error)
                    }
                    CrashPoint.check("after-call:offboard-dns")
                    try await OnboardingStore.event(
                        job: job.id, kind: "dns_record_removed", step: Step.offboardDNS.rawValue,
                        detail: ["name": name, "type": "TXT", "value": value], on: pool)
                }
            case .tellOperatorTXT(let name, let zone):
                warn(
                    "The DNS of \(name) is published by hand: remove its TXT record MS=ms… from the zone \(zone) if it is still there."
                )
                try await OnboardingStore.event(
                    job: job.id, kind: "dns_record_removable", step: Step.offboardDNS.rawValue,
                    detail: ["name": name, "type": "TXT", "message": "offboarded: the TXT record may be removed"],
                    on: pool)
            default:
                continue
            }
        }
    }

    /// `offboard-app`: the app registration. Entra deletes its service principal, credentials and consent
    /// with it, and keeps the application restorable for 30 days in Deleted applications.
    mutating func offboardApp() async throws {
        let graph = try graph()
        let survey = try survey()
        for case .deleteApplication(let objectID, let appID) in OffboardPlan.actions(for: .offboardApp, survey) {
            do {
                try await graph.deleteApplication(objectID: objectID)
                CrashPoint.check("after-call:offboard-app")
            } catch let error as GraphError where error.isGone {}
            let app = survey.apps.first { $0.objectID == objectID }
            try await OnboardingStore.event(
                job: job.id, kind: "application_removed", step: Step.offboardApp.rawValue,
                detail: [
                    "object_id": objectID, "app_id": appID,
                    "passwords": (app?.passwords.map(\.identifier) ?? []).joined(separator: " "),
                    "certificates": (app?.certificates.map(\.identifier) ?? []).joined(separator: " "),
                    "service_principal_id": app?.servicePrincipalID ?? "",
                    "restorable_until": ISO8601DateFormatter().string(from: Date().addingTimeInterval(30 * 86_400)),
                ], on: pool)
        }
    }

    /// `offboard-records`: every credential of the customer removed with its sealed value destroyed, the
    /// integration marked offboarded and its summary written, in the transaction of the checkpoint.
    mutating func offboardRecords() async throws -> StepResult {
        let survey = try survey()
        let removed = OffboardPlan.actions(survey)
        let apps = survey.apps.map(\.appID).joined(separator: ", ")
        var summary = "Offboarded: "
        summary += apps.isEmpty ? "no app registration was left in the tenant" : "app \(apps) deleted"
        summary += "; \(removed.count) object(s) removed"
        if survey.keepDomain, let domain = survey.sbcDomain { summary += "; domain \(domain) kept (--keep-domain)" }
        if !apps.isEmpty {
            summary +=
                ". Entra keeps a deleted application restorable for 30 days (Entra admin center → App registrations → Deleted applications); onboarding the customer again makes a new one."
        }
        let (facts, job, next) = (self.facts, self.job, self.next)
        try await pool.transaction { connection in
            _ = try await Offboarding.recordOffboarded(
                tenant: job.tenantID, job: job.id, step: Step.offboardRecords.rawValue, on: connection)
            try await OnboardingStore.record(IntegrationRecord(summary: summary), tenant: job.tenantID, on: connection)
            try await OnboardingStore.complete(
                job: job.id, step: Step.offboardRecords.rawValue, facts: facts, next: next?.rawValue, on: connection)
        }
        return .committed
    }
}
