import Crypto
import Foundation
import Graph

extension Run {
    /// `teams-activation-user`: the user on the SBC domain that activates it for Direct Routing, with a
    /// licence that includes Teams (`LicencePlan.activationLicence`).
    mutating func activationUser() async throws {
        let graph = try graph()
        let fqdn = try require(facts.sbcFQDN, "SBC domain")
        let upn = "\(settings.activationUser)@\(fqdn)"
        var user: GraphUser
        do {
            user = try await graph.user(upn)
        } catch let error as GraphError where error.status == 404 {
            // The account exists only to activate the domain for Direct Routing; nobody signs in with it,
            // so its random password is not kept anywhere.
            let password = Base64URL.encode(try SecureRandom.bytes(24)) + "aA1!"
            do {
                user = try await graph.createUser(
                    NewUser(
                        upn: upn, displayName: "Teams Direct Routing activation",
                        usageLocation: settings.usageLocation, password: password))
            } catch let error as GraphError where error.message.contains("already exists") {
                user = try await graph.user(upn, context: context(createdAt: Date()))
            }
        }
        facts.activationUPN = upn
        switch LicencePlan.activationLicence(for: user, skus: try await graph.subscribedSkus()) {
        case .held:
            return
        case .noneFree(let names):
            throw StepStop.attention(
                "No free licence that includes Microsoft Teams for the activation user \(upn): "
                    + (names.isEmpty
                        ? "the tenant has no subscription with Teams; buy one (e.g. Microsoft 365 Business Standard, Office 365 E3 or E5)"
                        : "free or buy one more of \(names.joined(separator: ", "))")
                    + ", then onboarder retry.")
        case .assign(let sku):
            if user.usageLocation == nil {
                try await graph.setUsageLocation(user: user.id, settings.usageLocation)
            }
            try await graph.assignLicense(user: user.id, skuID: sku)
        }
    }
}
