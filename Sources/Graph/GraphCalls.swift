import Crypto
import Foundation

/// Typed calls for the rest of the procedure (ARCHITECTURE §2): consent, certificates, the Teams path's
/// domain and activation user, licences and the app-management policy.
extension GraphClient {
    // MARK: Consent

    /// The application-permission grants of `resourceID` (a service principal's object id).
    public func appRoleAssignments(resourceID: String) async throws -> [[String: Any]] {
        try await list("/servicePrincipals/\(resourceID)/appRoleAssignedTo")
    }

    /// Grants `appRoleID` of `resourceID` to `principalID`. `context` marks a just-created principal.
    @discardableResult
    public func assignAppRole(
        principalID: String, resourceID: String, appRoleID: String, context: FailureContext = FailureContext()
    )
        async throws -> [String: Any]
    {
        let body: [String: JSONBody] = [
            "principalId": .string(principalID), "resourceId": .string(resourceID), "appRoleId": .string(appRoleID),
        ]
        return
            (try await send("POST", "/servicePrincipals/\(resourceID)/appRoleAssignedTo", body: body, context: context)
            .json
            as? [String: Any]) ?? [:]
    }

    public func delegatedGrants(clientID: String) async throws -> [[String: Any]] {
        try await list("/oauth2PermissionGrants", filter: .equals("clientId", clientID))
    }

    /// Admin consent for delegated scopes (space-separated values, e.g. `User.Read`) for every user.
    @discardableResult
    public func grantDelegated(
        clientID: String, resourceID: String, scope: String, context: FailureContext = FailureContext()
    )
        async throws -> [String: Any]
    {
        let body: [String: JSONBody] = [
            "clientId": .string(clientID), "consentType": .string("AllPrincipals"), "resourceId": .string(resourceID),
            "scope": .string(scope),
        ]
        return (try await send("POST", "/oauth2PermissionGrants", body: body, context: context).json as? [String: Any])
            ?? [:]
    }

    // MARK: Certificates

    /// Sets the app's certificates to exactly `certificates`. A keyCredentials PATCH replaces the whole
    /// list, so the caller passes every certificate to keep, not just the new one.
    public func setCertificates(
        applicationID: String, _ certificates: [(certificate: Certificate, displayName: String)]
    ) async throws {
        var entries: [JSONBody] = []
        for (certificate, name) in certificates {
            entries.append(
                .object([
                    "type": .string("AsymmetricX509Cert"), "usage": .string("Verify"), "displayName": .string(name),
                    "key": .string(Data(try certificate.der).base64EncodedString()),
                ]))
        }
        _ = try await send("PATCH", "/applications/\(applicationID)", body: ["keyCredentials": JSONBody.array(entries)])
    }

    // MARK: Teams path: domain and activation user

    @discardableResult
    public func createDomain(_ name: String) async throws -> [String: Any] {
        (try await send("POST", "/domains", body: ["id": JSONBody.string(name)]).json as? [String: Any]) ?? [:]
    }

    /// The `MS=ms…` TXT value that proves the domain is ours, or nil when it is verified already.
    public func domainVerificationTXT(_ name: String) async throws -> String? {
        let records = try await list("/domains/\(name)/verificationDnsRecords")
        return records.first { ($0["recordType"] as? String)?.lowercased() == "txt" }?["text"] as? String
    }

    /// Asks Graph to check the TXT record; a 400 means "not published (or not propagated) yet".
    @discardableResult
    public func verifyDomain(_ name: String) async throws -> [String: Any] {
        (try await send("POST", "/domains/\(name)/verify").json as? [String: Any]) ?? [:]
    }

    public func user(_ idOrUPN: String) async throws -> [String: Any] {
        (try await send("GET", "/users/\(idOrUPN)").json as? [String: Any]) ?? [:]
    }

    /// Creates a user; `password` goes into the request only.
    @discardableResult
    public func createUser(upn: String, displayName: String, usageLocation: String, password: String) async throws
        -> [String: Any]
    {
        let body: [String: JSONBody] = [
            "accountEnabled": .bool(true), "displayName": .string(displayName),
            "mailNickname": .string(String(upn.prefix { $0 != "@" })), "userPrincipalName": .string(upn),
            "usageLocation": .string(usageLocation),
            "passwordProfile": .object(["forceChangePasswordNextSignIn": .bool(false), "password": .string(password)]),
        ]
        return (try await send("POST", "/users", body: body).json as? [String: Any]) ?? [:]
    }

    // MARK: Licences

    public func subscribedSkus() async throws -> [[String: Any]] {
        try await list("/subscribedSkus")
    }

    public func assignLicense(user: String, skuID: String) async throws {
        let body: [String: JSONBody] = [
            "addLicenses": .array([.object(["skuId": .string(skuID), "disabledPlans": .array([])])]),
            "removeLicenses": .array([]),
        ]
        _ = try await send("POST", "/users/\(user)/assignLicense", body: body)
    }

    /// The service plan names of a user's licences (`MCOEV` is Phone System).
    public func servicePlans(user: String) async throws -> Set<String> {
        let details = try await list("/users/\(user)/licenseDetails")
        return Set(
            details.flatMap {
                ($0["servicePlans"] as? [[String: Any]] ?? []).compactMap { $0["servicePlanName"] as? String }
            })
    }

    // MARK: Policy

    /// The tenant's cap on password lifetime in days, from its default app-management policy. Reading it
    /// needs Policy.Read.All; without that the error says so and the caller falls back to addPassword's
    /// own refusal ("Credential lifetime exceeds the max value allowed").
    public func maxPasswordLifetimeDays() async throws -> Int? {
        let policy = try await send("GET", "/policies/defaultAppManagementPolicy").json as? [String: Any]
        let restrictions =
            ((policy?["applicationRestrictions"] as? [String: Any])?["passwordCredentials"] as? [[String: Any]]) ?? []
        let lifetimes = restrictions.filter { $0["restrictionType"] as? String == "passwordLifetime" }
            .compactMap { ($0["maxLifetime"] as? String).flatMap(Self.days) }
        return lifetimes.min()
    }

    /// Days in an ISO 8601 duration of days (`P365D`), the form these policies use.
    static func days(_ duration: String) -> Int? {
        guard let match = duration.wholeMatch(of: /P(\d+)D/) else { return nil }
        return Int(match.output.1)
    }
}
