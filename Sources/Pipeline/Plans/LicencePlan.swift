import Graph

/// Which licences matter: Phone System for calls through Teams, Teams itself for the activation user.
enum LicencePlan {
    enum ActivationLicence: Equatable {
        /// The user holds a licence with Teams already.
        case held
        /// Assign this SKU (the first with Teams and a free unit).
        case assign(skuID: String)
        /// No SKU with Teams has a free unit: the part numbers of those the tenant has (maybe none).
        case noneFree(teamsSKUs: [String])
    }

    /// Whether any of the tenant's subscriptions includes Phone System (MCOEV).
    static func phoneSystemAvailable(_ skus: [GraphSubscribedSku]) -> Bool {
        skus.contains { $0.planNames.contains(ServicePlans.phoneSystem) }
    }

    /// The licence for the Teams activation user: any SKU with Teams or Phone System.
    static func activationLicence(for user: GraphUser, skus: [GraphSubscribedSku]) -> ActivationLicence {
        let teams = skus.filter { !$0.planNames.isDisjoint(with: [ServicePlans.teams, ServicePlans.phoneSystem]) }
        let held = Set((user.assignedLicenses ?? []).map { $0.skuId.lowercased() })
        if teams.contains(where: { held.contains($0.skuId.lowercased()) }) { return .held }
        guard let free = teams.first(where: { $0.freeUnits > 0 }) else {
            return .noneFree(teamsSKUs: teams.compactMap(\.skuPartNumber))
        }
        return .assign(skuID: free.skuId)
    }

    /// The UPNs of `users` whose licences include no Phone System, from the tenant's SKUs (one call)
    /// rather than licenceDetails per user.
    static func withoutPhoneSystem(_ users: [GraphUser], skus: [GraphSubscribedSku]) -> [String] {
        let plans = Dictionary(
            skus.map { ($0.skuId.lowercased(), $0.planNames) }, uniquingKeysWith: { first, _ in first })
        return users.filter { user in
            !(user.assignedLicenses ?? []).contains {
                plans[$0.skuId.lowercased()]?.contains(ServicePlans.phoneSystem) == true
            }
        }.map(\.userPrincipalName)
    }
}
