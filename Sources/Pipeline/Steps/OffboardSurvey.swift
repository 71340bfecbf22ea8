import Foundation
import Graph
import PBX
import Store

extension Run {
    /// `offboard-survey`: reads, writing nothing, what the offboarding would remove — the app (by the
    /// recorded object id and by Onboarder's unique name), its passwords and certificates, its service
    /// principal and consent; the PBX's two integration pages; on the Teams path the SBC domain, its
    /// activation user and its verification TXT records — and checkpoints it for the steps after
    /// (`OffboardPlan`). A dry run reports what it cannot read instead of stopping on it.
    mutating func offboardSurvey() async throws {
        guard var survey = facts.offboardSurvey else {
            throw StepStop.attention("The offboarding's first facts are missing; onboarder retry starts it again.")
        }
        survey.apps = []
        survey.unread = []
        let graph = try graph()
        let recorded = try await Offboarding.recordedCredentials(tenant: job.tenantID, on: pool)
        var apps: [GraphApplication] = []
        if let objectID = facts.appObjectID {
            do {
                apps.append(try await graph.application(id: objectID))
            } catch let error as GraphError where error.isGone {}
        }
        for app in try await graph.applications(filter: .equals("uniqueName", settings.appUniqueName))
        where !apps.contains(where: { $0.id.lowercased() == app.id.lowercased() }) {
            apps.append(app)
        }
        for app in apps { survey.apps.append(try await surveyed(app, graph: graph, recorded: recorded)) }

        do {
            let pbx = try await pbx()
            let m365 = try await pbx.microsoft365Integration()
            let teams = try await pbx.microsoft365TeamsIntegration()
            survey.pbx = OffboardSurvey.PBX(
                tenantID: m365.TenantId ?? "", applicationID: m365.ApplicationId ?? "",
                selectedUsers: m365.AdUsers?.SelectedUsers ?? [], teamsEnabled: teams.Enabled ?? false,
                sbcFQDN: teams.SbcFQDN)
        } catch let stop as StepStop where survey.dryRun {
            survey.unread.append("the PBX \(payload.pbxURL): \(stop.message)")
        }

        if let fqdn = facts.sbcFQDN {
            survey.sbcDomain = fqdn
            do {
                _ = try await graph.domain(fqdn)
                survey.domainInTenant = true
            } catch let error as GraphError where error.isGone {}
            do {
                let user = try await graph.user("\(settings.activationUser)@\(fqdn)")
                survey.activationUser = OffboardSurvey.User(id: user.id, userPrincipalName: user.userPrincipalName)
            } catch let error as GraphError where error.isGone {}
            do {
                survey.dns = try await surveyedDNS(fqdn)
            } catch let stop as StepStop where survey.dryRun {
                survey.unread.append("the DNS records of \(fqdn): \(stop.message)")
            }
        }
        facts.offboardSurvey = survey
        try await OnboardingStore.event(
            job: job.id, kind: "offboard_surveyed", step: Step.offboardSurvey.rawValue,
            detail: ["objects": String(OffboardPlan.actions(survey).count), "dry_run": String(survey.dryRun)],
            on: pool)
    }

    /// One app as the survey records it: its credentials (recorded by Onboarder or not), its service
    /// principal and what is granted to it.
    private func surveyed(_ app: GraphApplication, graph: GraphClient, recorded: Set<String>) async throws
        -> OffboardSurvey.App
    {
        var entry = OffboardSurvey.App(
            objectID: app.id.lowercased(), appID: app.appId.lowercased(), displayName: app.displayName,
            recorded: app.id.lowercased() == facts.appObjectID?.lowercased())
        entry.passwords = try await graph.passwords(applicationID: app.id).map {
            OffboardSurvey.Credential(
                identifier: $0.keyId.lowercased(), displayName: $0.displayName,
                recorded: recorded.contains($0.keyId.lowercased()))
        }
        entry.certificates = CertificatePlan.thumbprints(onApp: try await graph.certificates(applicationID: app.id))
            .sorted().map { OffboardSurvey.Credential(identifier: $0, recorded: recorded.contains($0)) }
        if let principal = try await graph.servicePrincipal(appID: app.appId) {
            entry.servicePrincipalID = principal.id.lowercased()
            entry.appRoleIDs = try await graph.appRoleAssignments(principalID: principal.id).map(\.appRoleId).sorted()
            entry.delegatedScopes = try await graph.permissionGrants(clientID: principal.id).flatMap(\.scopes).sorted()
        }
        return entry
    }

    /// The SBC domain's verification TXT records at the job's DNS provider; for a hand-published zone, where
    /// the record would be.
    private func surveyedDNS(_ fqdn: String) async throws -> OffboardSurvey.DNS {
        let dns = try await dnsProvider()
        let zone = try dnsZone(for: fqdn, dns: dns)
        guard let publisher = txtPublisher(dns) else {
            return OffboardSurvey.DNS(name: fqdn, zone: zone, manual: true, values: [])
        }
        do {
            let values = try await publisher.values(name: fqdn, zone: zone).filter(TeamsDomainDNS.isVerificationValue)
            return OffboardSurvey.DNS(name: fqdn, zone: zone, manual: false, values: values)
        } catch {
            throw TeamsDomainDNS.stop(error)
        }
    }

    /// The survey checkpointed by `offboard-survey`.
    func survey() throws -> OffboardSurvey {
        guard let survey = facts.offboardSurvey else {
            throw StepStop.attention("The offboarding's survey is not recorded; onboarder retry starts it again.")
        }
        return survey
    }
}
