import Foundation
import Store

extension Run {
    /// `finish`: the integration's summary, and the tenant marked onboarded (again, if it was offboarded before).
    mutating func finish() async throws {
        var summary: String
        if payload.path == "teams" {
            summary =
                "Teams Direct Routing: app \(facts.appID ?? "?") registered and consented, SBC domain \(facts.sbcFQDN ?? "?") verified, activation user \(facts.activationUPN ?? "?") licensed, PBX configured; scripts: onboarder scripts \(job.tenantKey)."
        } else {
            summary =
                "Microsoft 365: app \(facts.appID ?? "?") registered and consented, PBX configured, \(facts.selectedUsers?.count ?? 0) user(s) in the PBX's user sync."
        }
        summary += " Client secret for the PBX: onboarder secret export \(job.tenantKey)."
        if !facts.warnings.isEmpty { summary += " \(facts.warnings.count) warning(s)." }
        record(IntegrationRecord(summary: summary, onboarded: true))
    }
}
