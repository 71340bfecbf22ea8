import Foundation
import PBX
import Store

extension Run {
    /// `teams-pbx`: the PBX's Teams integration on the SBC domain, and its PowerShell scripts stored for
    /// the operator.
    mutating func teamsPBX() async throws {
        let pbx = try await pbx()
        let fqdn = try require(facts.sbcFQDN, "SBC domain")
        try await pbx.setTeamsIntegration(sbcFQDN: fqdn, sipDomain: fqdn)
        for (name, function) in [("dial-plan", "GetDialPlanScript"), ("map-users", "GetMapUsersScript")] {
            let body = try await pbx.teamsScript(function)
            try await OnboardingStore.storeScript(tenant: job.tenantID, job: job.id, name: name, body: body, on: pool)
        }
    }
}
