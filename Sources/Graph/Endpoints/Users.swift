import Foundation
import HTTP

/// A user to create: `password` goes into the request only.
public struct NewUser: Encodable, Sendable {
    public struct PasswordProfile: Encodable, Sendable {
        public var forceChangePasswordNextSignIn = false
        public var password: String
    }
    public var accountEnabled = true
    public var displayName: String
    public var mailNickname: String
    public var userPrincipalName: String
    public var usageLocation: String
    public var passwordProfile: PasswordProfile

    public init(upn: String, displayName: String, usageLocation: String, password: String) {
        self.displayName = displayName
        self.mailNickname = String(upn.prefix { $0 != "@" })
        self.userPrincipalName = upn
        self.usageLocation = usageLocation
        self.passwordProfile = PasswordProfile(password: password)
    }
}

/// `/users`: the users the PBX syncs, the Teams activation user, their licences.
extension GraphClient {
    /// The properties of a user Onboarder reads.
    static let userProperties = "id,userPrincipalName,usageLocation,accountEnabled,assignedLicenses"

    public func user(_ idOrUPN: String, context: FailureContext = FailureContext()) async throws -> GraphUser {
        try await send(
            GraphUser.self, "GET", "/users/\(idOrUPN)", query: [("$select", Self.userProperties)], context: context)
    }

    /// Every user of the tenant, page by page.
    public func users(context: FailureContext = FailureContext()) async throws -> [GraphUser] {
        try await items(
            GraphUser.self, "/users", select: Self.userProperties.split(separator: ",").map(String.init),
            context: context)
    }

    public func createUser(_ user: NewUser, context: FailureContext = FailureContext()) async throws -> GraphUser {
        try await send(GraphUser.self, "POST", "/users", body: user, context: context)
    }

    /// Licences can be assigned only to a user with a usage location.
    public func setUsageLocation(user: String, _ location: String, context: FailureContext = FailureContext())
        async throws
    {
        struct Body: Encodable, Sendable { var usageLocation: String }
        _ = try await sendRaw("PATCH", "/users/\(user)", body: Body(usageLocation: location), context: context)
    }

    public func assignLicense(user: String, skuID: String, context: FailureContext = FailureContext()) async throws {
        struct License: Encodable, Sendable {
            var skuId: String
            var disabledPlans: [String] = []
        }
        struct Body: Encodable, Sendable {
            var addLicenses: [License]
            var removeLicenses: [String] = []
        }
        _ = try await sendRaw(
            "POST", "/users/\(user)/assignLicense", body: Body(addLicenses: [License(skuId: skuID)]), context: context)
    }

    /// The service plan names of a user's licences (`MCOEV` is Phone System).
    public func servicePlans(user: String, context: FailureContext = FailureContext()) async throws -> Set<String> {
        let details = try await items(GraphLicenseDetails.self, "/users/\(user)/licenseDetails", context: context)
        return Set(details.flatMap { ($0.servicePlans ?? []).map(\.servicePlanName) })
    }
}
