import Foundation
import Graph
import PBX

extension Run {
    /// `m365-users`: the users the PBX syncs (the enqueued list, or every enabled licensed user), added to
    /// its selection in batches; a warning for those without Phone System.
    mutating func m365Users() async throws {
        let graph = try graph()
        var users: [GraphUser] = []
        if let wanted = payload.users, !wanted.isEmpty {
            var missing: [String] = []
            for upn in wanted {
                do {
                    users.append(try await graph.user(upn))
                } catch let error as GraphError where error.status == 404 {
                    missing.append(upn)
                }
            }
            guard missing.isEmpty else {
                throw StepStop.attention(
                    "These users are not in the tenant: \(missing.joined(separator: ", ")). Correct the user list (onboarder cancel, enqueue again), or create them, then onboarder retry."
                )
            }
        } else {
            users = try await graph.users().filter {
                !($0.assignedLicenses ?? []).isEmpty && $0.accountEnabled != false
            }
        }
        let withoutPhone = LicencePlan.withoutPhoneSystem(users, skus: try await graph.subscribedSkus())
        if !withoutPhone.isEmpty {
            let shown = withoutPhone.prefix(10).joined(separator: ", ")
            warn(
                "\(withoutPhone.count) selected user(s) lack the Phone System (MCOEV) plan and cannot make PBX calls from Teams: \(shown)\(withoutPhone.count > 10 ? ", …" : "")"
            )
        }
        let pbx = try await pbx()
        let selected = try await pbx.microsoft365Integration().AdUsers?.SelectedUsers ?? []
        let upns = users.map(\.userPrincipalName)
        for selection in UserSelection.updates(adding: upns, to: selected, batchSize: settings.userBatchSize) {
            try await pbx.setSelectedUsers(selection)
        }
        facts.selectedUsers = upns
        facts.usersWithoutPhoneSystem = withoutPhone
    }
}
