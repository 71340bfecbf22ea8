import Crypto
import Foundation

/// A client secret as Entra keeps it: only a hash of the text, which is shown once.
public struct PasswordCredential: Sendable {
    public var keyID: UUID
    public var displayName: String
    public var secretHash: [UInt8]
    public var hint: String
    public var start: Date
    public var end: Date
}

/// An uploaded certificate (`keyCredentials` entry).
public struct KeyCredential: Sendable {
    public var keyID: UUID
    public var displayName: String
    public var certificate: Certificate
    public var sha1Thumbprint: [UInt8]
    public var sha256Thumbprint: [UInt8]
    /// `customKeyIdentifier` as the client set it; Graph's default when it sent none is the SHA-1 thumbprint.
    public var customKeyIdentifier: [UInt8]? = nil
    /// When it was uploaded (credential propagation counts from here).
    public var added = Date()

    /// The bytes Graph lists as `customKeyIdentifier` (an `Edm.Binary`, so base64 on the wire).
    public var keyIdentifier: [UInt8] { customKeyIdentifier ?? sha1Thumbprint }
}

/// An application registration.
public final class SimApplication: @unchecked Sendable {
    public let id: UUID
    public let appID: UUID
    public var displayName: String
    public var passwords: [PasswordCredential] = []
    public var keys: [KeyCredential] = []
    /// Multi-tenant apps (the MSP's partner app) sign in to other tenants where they have a service principal.
    public var multiTenant = false
    /// Every other property as the client wrote it (signInAudience, web, requiredResourceAccess, …).
    public var properties: [String: JSONValue] = [:]
    public var createdDateTime = Date()

    init(id: UUID, appID: UUID, displayName: String) {
        self.id = id
        self.appID = appID
        self.displayName = displayName
    }
}

/// A service principal: an app's presence in one tenant, and the app roles granted to it.
public final class SimServicePrincipal: @unchecked Sendable {
    public let id: UUID
    public let appID: UUID
    public var displayName: String
    public let created = Date()
    init(id: UUID, appID: UUID, displayName: String) {
        self.id = id
        self.appID = appID
        self.displayName = displayName
    }
}

/// An application-permission grant (`appRoleAssignment`): `principal` may use `appRoleID` of `resource`.
public struct SimAppRoleAssignment: Sendable {
    public let id: UUID
    public let principalID: UUID
    public let resourceID: UUID
    public let appRoleID: UUID
    public let created: Date
}

/// A delegated-permission grant (`oauth2PermissionGrant`).
public struct SimPermissionGrant: Sendable {
    public let id: String
    public let clientID: UUID
    public let resourceID: UUID
    public let consentType: String
    public var scope: String
}

/// A domain in a tenant.
public struct SimDomain: Sendable {
    public var name: String
    public var isVerified: Bool
    public var isDefault: Bool
    public var isInitial: Bool
    /// The `MS=ms########` TXT value that proves ownership.
    public var verificationCode: String
    public var created = Date()
}

/// A user.
public final class SimUser: @unchecked Sendable {
    public let id: UUID
    public var userPrincipalName: String
    public var displayName: String
    public var usageLocation: String?
    public var accountEnabled: Bool
    public var skuIDs: [UUID] = []
    public let created = Date()
    init(id: UUID, userPrincipalName: String, displayName: String, usageLocation: String?, accountEnabled: Bool = true)
    {
        self.id = id
        self.userPrincipalName = userPrincipalName
        self.displayName = displayName
        self.usageLocation = usageLocation
        self.accountEnabled = accountEnabled
    }
}

/// A licence the tenant bought.
public struct SimSku: Sendable {
    public var id: UUID
    public var partNumber: String
    public var servicePlans: [(id: UUID, name: String)]
    public var enabledUnits: Int
}

/// The catalogue of SKUs the simulator hands out (ids as Microsoft publishes them).
public enum SimCatalogue {
    /// Phone System (Teams calling), the plan Direct Routing needs.
    public static let phoneSystem = (id: UUID(uuidString: "4828c8ec-dc2e-4779-b502-87ac9ce28ab7")!, name: "MCOEV")
    static let teams = (id: UUID(uuidString: "57ff2da0-773e-42df-b2af-ffb7a2317929")!, name: "TEAMS1")
    static let exchange = (id: UUID(uuidString: "efb87545-963c-4e0d-99df-69c6916d9eb0")!, name: "EXCHANGE_S_ENTERPRISE")
    /// Office 365 E5: includes Phone System.
    public static let e5 = SimSku(
        id: UUID(uuidString: "c7df2760-2c81-4ef7-b578-5b5392b571df")!, partNumber: "ENTERPRISEPREMIUM",
        servicePlans: [teams, exchange, phoneSystem], enabledUnits: 25)
    /// Office 365 E3: no Phone System.
    public static let e3 = SimSku(
        id: UUID(uuidString: "6fd2c87f-b296-42f0-b197-1e91e994b900")!, partNumber: "ENTERPRISEPACK",
        servicePlans: [teams, exchange], enabledUnits: 25)
}
