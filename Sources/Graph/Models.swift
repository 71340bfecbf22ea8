import Foundation

// Typed Microsoft Graph v1.0 resources: the properties Onboarder reads, with Graph's names. Unknown
// properties are ignored, missing optional ones are nil, so a Graph that adds fields changes nothing.

/// One page of a collection: `{"value": […], "@odata.nextLink": "…"}`.
public struct ODataPage<Item: Decodable & Sendable>: Decodable, Sendable {
    public var value: [Item]
    public var nextLink: String?

    enum CodingKeys: String, CodingKey {
        case value
        case nextLink = "@odata.nextLink"
    }
}

public struct GraphOrganization: Decodable, Sendable {
    public struct VerifiedDomain: Decodable, Sendable {
        public var name: String
        public var isDefault: Bool?
    }
    public var id: String
    public var displayName: String?
    public var verifiedDomains: [VerifiedDomain]?

    public var defaultDomain: String? { verifiedDomains?.first { $0.isDefault == true }?.name }
}

public struct GraphPasswordCredential: Decodable, Sendable {
    public var keyId: String
    public var displayName: String?
    public var hint: String?
    public var startDateTime: String?
    public var endDateTime: String?
    /// Only in `addPassword`'s answer, the one time Graph shows it.
    public var secretText: String?
}

public struct GraphKeyCredential: Decodable, Sendable {
    public var keyId: String
    public var displayName: String?
    public var type: String?
    public var usage: String?
    /// `Edm.Binary`, so base64 of the bytes: by default the certificate's SHA-1 thumbprint (not its hex).
    public var customKeyIdentifier: String?
    public var endDateTime: String?
}

public struct GraphApplication: Decodable, Sendable {
    public var id: String
    public var appId: String
    public var displayName: String?
    public var uniqueName: String?
    public var createdDateTime: String?
    public var passwordCredentials: [GraphPasswordCredential]?
    public var keyCredentials: [GraphKeyCredential]?
}

public struct GraphAppRole: Decodable, Sendable {
    public var id: String
    public var value: String?
}

public struct GraphServicePrincipal: Decodable, Sendable {
    public var id: String
    public var appId: String
    public var displayName: String?
    public var appRoles: [GraphAppRole]?
    public var oauth2PermissionScopes: [GraphAppRole]?
    /// Microsoft Graph's: the roles and scopes are the process's remembered lists, not this answer's
    /// (`microsoftGraphServicePrincipal`).
    public var remembered = false

    enum CodingKeys: String, CodingKey {
        case id, appId, displayName, appRoles, oauth2PermissionScopes
    }
}

public struct GraphAppRoleAssignment: Decodable, Sendable {
    public var id: String?
    public var principalId: String
    public var resourceId: String
    public var appRoleId: String
}

public struct GraphPermissionGrant: Decodable, Sendable {
    public var id: String
    public var clientId: String
    public var resourceId: String
    public var consentType: String?
    public var scope: String?

    /// The granted scopes as a set (Graph keeps them space-separated).
    public var scopes: Set<String> { Set((scope ?? "").split(separator: " ").map(String.init)) }
}

public struct GraphDomain: Decodable, Sendable {
    public var id: String
    public var isVerified: Bool?
    public var supportedServices: [String]?
}

public struct GraphVerificationRecord: Decodable, Sendable {
    public var recordType: String?
    public var label: String?
    public var text: String?
}

public struct GraphAssignedLicense: Decodable, Sendable {
    public var skuId: String
}

public struct GraphUser: Decodable, Sendable {
    public var id: String
    public var userPrincipalName: String
    public var displayName: String?
    public var usageLocation: String?
    public var accountEnabled: Bool?
    public var assignedLicenses: [GraphAssignedLicense]?
}

public struct GraphServicePlan: Decodable, Sendable {
    public var servicePlanId: String?
    public var servicePlanName: String
}

public struct GraphSubscribedSku: Decodable, Sendable {
    public struct Units: Decodable, Sendable {
        public var enabled: Int?
    }
    public var skuId: String
    public var skuPartNumber: String?
    public var consumedUnits: Int?
    public var prepaidUnits: Units?
    public var servicePlans: [GraphServicePlan]?

    public var planNames: Set<String> { Set((servicePlans ?? []).map(\.servicePlanName)) }
    /// Licences bought and not yet assigned.
    public var freeUnits: Int { max(0, (prepaidUnits?.enabled ?? 0) - (consumedUnits ?? 0)) }
}

public struct GraphLicenseDetails: Decodable, Sendable {
    public var skuId: String?
    public var servicePlans: [GraphServicePlan]?
}

/// The tenant's default app-management policy: what it restricts for passwords.
public struct GraphAppManagementPolicy: Decodable, Sendable {
    public struct Restriction: Decodable, Sendable {
        public var restrictionType: String?
        /// An ISO 8601 duration of days (`P365D`).
        public var maxLifetime: String?
    }
    public struct Restrictions: Decodable, Sendable {
        public var passwordCredentials: [Restriction]?
    }
    public var applicationRestrictions: Restrictions?

    /// The shortest password lifetime the policy allows, in days (nil: no cap).
    public var maxPasswordLifetimeDays: Int? {
        (applicationRestrictions?.passwordCredentials ?? []).filter { $0.restrictionType == "passwordLifetime" }
            .compactMap { $0.maxLifetime.flatMap(Self.days) }.min()
    }

    /// Days in an ISO 8601 duration of days (`P365D`), the form these policies use.
    static func days(_ duration: String) -> Int? {
        guard let match = duration.wholeMatch(of: /P(\d+)D/) else { return nil }
        return Int(match.output.1)
    }
}

/// Service plan names Onboarder looks for.
public enum ServicePlans {
    /// Teams Phone (Phone System), `4828c8ec-dc2e-4779-b502-87ac9ce28ab7`.
    public static let phoneSystem = "MCOEV"
    /// Microsoft Teams.
    public static let teams = "TEAMS1"
}

/// A row of the beta report `appCredentialSignInActivities`: one credential of an app and its last sign-in.
public struct GraphAppCredentialSignInActivity: Decodable, Sendable, Equatable {
    public struct SignInActivity: Decodable, Sendable, Equatable {
        public var lastSignInDateTime: String?
        public var lastSignInRequestId: String?
    }
    public var id: String?
    public var keyId: String
    /// `clientSecret` or `certificate`.
    public var keyType: String?
    public var keyUsage: String?
    public var appId: String?
    public var appObjectId: String?
    public var servicePrincipalObjectId: String?
    public var resourceId: String?
    public var credentialOrigin: String?
    public var expirationDateTime: String?
    public var createdDateTime: String?
    public var signInActivity: SignInActivity?
}

/// A customer of the MSP with a GDAP relationship (`/tenantRelationships/delegatedAdminCustomers`, read in
/// the partner tenant). Microsoft creates it with the first relationship and deletes it when no active one
/// is left, so a customer whose relationships all expired is only seen through the relationships.
public struct GraphDelegatedAdminCustomer: Codable, Sendable, Equatable {
    public var id: String
    public var tenantId: String
    public var displayName: String?

    public init(id: String, tenantId: String, displayName: String?) {
        self.id = id
        self.tenantId = tenantId
        self.displayName = displayName
    }
}

/// A GDAP relationship (`/tenantRelationships/delegatedAdminRelationships`): its status, end and the
/// Entra roles (`roleDefinitionId`, the built-in roles' template ids) the customer granted through it.
public struct GraphDelegatedAdminRelationship: Codable, Sendable, Equatable {
    public struct Customer: Codable, Sendable, Equatable {
        public var tenantId: String?
        public var displayName: String?
    }
    public struct UnifiedRole: Codable, Sendable, Equatable {
        public var roleDefinitionId: String
    }
    public struct AccessDetails: Codable, Sendable, Equatable {
        public var unifiedRoles: [UnifiedRole]?
    }
    public var id: String
    public var displayName: String?
    /// `active`, `expired`, `terminated`, `approvalPending`, … (`delegatedAdminRelationshipStatus`; kept as
    /// text: the enumeration is evolvable).
    public var status: String?
    public var endDateTime: String?
    public var customer: Customer?
    public var accessDetails: AccessDetails?

    public init(
        id: String, displayName: String? = nil, status: String?, endDateTime: String?, customerTenantID: String,
        customerName: String? = nil, roles: [String]
    ) {
        self.id = id
        self.displayName = displayName
        self.status = status
        self.endDateTime = endDateTime
        customer = Customer(tenantId: customerTenantID, displayName: customerName)
        accessDetails = AccessDetails(unifiedRoles: roles.map(UnifiedRole.init))
    }

    /// The role definition ids it holds, lower-cased.
    public var roleDefinitionIDs: Set<String> {
        Set((accessDetails?.unifiedRoles ?? []).map { $0.roleDefinitionId.lowercased() })
    }
}
