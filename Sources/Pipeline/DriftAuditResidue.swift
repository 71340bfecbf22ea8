import Foundation
import Graph
import Store

/// The audit of an offboarded customer: what its offboarding removed, and reads (never writes) of whether it
/// is still gone. The tenant is read with the MSP's partner app, whose consent offboarding leaves alone (it
/// is the MSP's app, not the customer's); a customer that withdrew it is `audit-failed`, like any tenant the
/// audit cannot read.
extension Run {
    /// What the offboarding removed: the recorded app, on the Teams path the SBC domain and its activation user
    /// unless the offboarding kept them, and every credential (destroyed).
    func residueBaseline(_ record: AuditRecord, keepDomain: Bool) throws -> ResidueBaseline {
        let tenant = try require(record.entraTenantID, "customer's Entra tenant id")
        let sbc = record.sbcFQDN
        return ResidueBaseline(
            path: record.path ?? payload.path, entraTenantID: tenant.lowercased(),
            appObjectID: record.appObjectID?.lowercased(), appID: record.appID?.lowercased(), sbcFQDN: sbc,
            activationUPN: sbc.map { "\(settings.activationUser)@\($0)" }, keepDomain: keepDomain,
            undestroyedCredentials: record.undestroyedCredentials.map {
                .init(kind: $0.kind, state: $0.state, id: $0.id, sealed: $0.sealed)
            })
    }

    /// Reads the app registrations by the recorded object id and by Onboarder's unique name (live ones only),
    /// on the Teams path the SBC domain and the activation user (unless kept), and the PBX's two pages. A 404
    /// is an observation (gone); a PBX that cannot be read is said so, not passed.
    func observeResidue(_ baseline: ResidueBaseline) async throws -> ResidueObservation {
        let graph = try graph()
        var seen = ResidueObservation(applications: [])
        if let objectID = baseline.appObjectID {
            do {
                let app = try await graph.application(id: objectID)
                seen.applications.append(.init(objectID: app.id, appID: app.appId, displayName: app.displayName))
            } catch let error as GraphError where error.isGone {}
        }
        for app in try await graph.applications(filter: .equals("uniqueName", settings.appUniqueName))
        where !seen.applications.contains(where: { $0.objectID.lowercased() == app.id.lowercased() }) {
            seen.applications.append(.init(objectID: app.id, appID: app.appId, displayName: app.displayName))
        }
        if baseline.path == "teams" && !baseline.keepDomain {
            if let fqdn = baseline.sbcFQDN {
                do {
                    _ = try await graph.domain(fqdn)
                    seen.domainInTenant = true
                } catch let error as GraphError where error.isGone {
                    seen.domainInTenant = false
                }
            }
            if let upn = baseline.activationUPN {
                do {
                    _ = try await graph.user(upn)
                    seen.activationUserInTenant = true
                } catch let error as GraphError where error.isGone {
                    seen.activationUserInTenant = false
                }
            }
        }
        do {
            let pbx = try await pbx()
            let m365 = try await pbx.microsoft365Integration()
            let teams = try await pbx.microsoft365TeamsIntegration()
            seen.pbx = .init(
                tenantID: m365.TenantId ?? "", applicationID: m365.ApplicationId ?? "",
                teamsEnabled: teams.Enabled ?? false, sbcFQDN: teams.SbcFQDN)
        } catch is CancellationError {
            throw CancellationError()
        } catch let stop as StepStop {
            seen.pbxUnread = "\(payload.pbxURL): \(stop.message)"
        } catch {
            seen.pbxUnread = "\(payload.pbxURL): \(error)"
        }
        return seen
    }
}
