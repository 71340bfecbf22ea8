import Foundation

/// Whether the MSP's partner app holds, in a customer tenant, the Microsoft Graph application roles the
/// pipeline needs, and if not, what is missing: the job then waits for the customer's administrator (or
/// Partner Center) to consent, and looks again on its own. Consent is what Graph shows: the partner app's
/// service principal in the tenant and its app-role assignments from Microsoft Graph's service principal.
enum PartnerConsent: Equatable {
    /// Every required role is granted; `optionalMissing`: roles the pipeline can do without (a warning).
    case granted(optionalMissing: [String])
    /// `missing`: the required roles not granted (sorted); `servicePrincipal`: whether the partner app
    /// has a service principal in the tenant at all (none before any consent).
    case waiting(missing: [String], servicePrincipal: Bool)

    /// What the tenant showed.
    enum Seen: Equatable {
        /// No service principal of the partner app: Entra refused the token (AADSTS700016 / AADSTS65001),
        /// or Graph lists none.
        case noServicePrincipal
        /// The names of the Microsoft Graph application roles assigned to the partner app's principal.
        case roles(Set<String>)
        /// The consent cannot be read: Graph refused to list the principals (Authorization_RequestDenied),
        /// so the partner app lacks at least the read of applications.
        case unreadable
    }

    /// The Graph application roles without which the pipeline cannot run (README, "Pointing it at the real
    /// Microsoft cloud"): reading and writing the customer's app registration, its consent and its
    /// grants, the SBC domain, the users, and the organization.
    static let requiredRoles = [
        "Application.ReadWrite.All", "AppRoleAssignment.ReadWrite.All", "DelegatedPermissionGrant.ReadWrite.All",
        "Domain.ReadWrite.All", "Organization.Read.All", "User.ReadWrite.All",
    ]
    /// Roles the pipeline uses when granted and does without otherwise: the credential sign-in report
    /// (rotations then take the technician's word).
    static let optionalRoles = ["AuditLog.Read.All"]

    static func decide(_ seen: Seen, required: [String] = requiredRoles, optional: [String] = optionalRoles)
        -> PartnerConsent
    {
        switch seen {
        case .noServicePrincipal:
            return .waiting(missing: required.sorted(), servicePrincipal: false)
        case .unreadable:
            // Listing principals needs Application.Read.All, which Application.ReadWrite.All includes: the one
            // role known to be missing; the others cannot be read until it is granted.
            return .waiting(missing: ["Application.ReadWrite.All"], servicePrincipal: true)
        case .roles(let granted):
            let missing = required.filter { !granted.contains($0) }.sorted()
            if !missing.isEmpty { return .waiting(missing: missing, servicePrincipal: true) }
            return .granted(optionalMissing: optional.filter { !granted.contains($0) }.sorted())
        }
    }

    /// The names of the roles `assignments` grant from Microsoft Graph's principal (`resource`), given its
    /// app roles (id → value, as the tenant lists them).
    static func grantedRoleNames(
        assignedRoleIDs: [(resource: String, role: String)], resource: String,
        appRoles: [String: String]
    ) -> Set<String> {
        let ids = assignedRoleIDs.filter { $0.resource.lowercased() == resource.lowercased() }.map {
            $0.role.lowercased()
        }
        let byID = Dictionary(appRoles.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { first, _ in first })
        return Set(ids.compactMap { byID[$0] })
    }

    /// Microsoft's admin-consent link for the partner app in the customer's tenant, on the MSP's cloud's
    /// login host (`{login}/{tenant}/adminconsent?client_id=…`, the form the identity platform documents for
    /// tenant-wide admin consent: it grants the permissions the app registration lists).
    static func adminConsentURL(loginBaseURL: String, tenant: String, clientID: String) -> String {
        let base = loginBaseURL.hasSuffix("/") ? String(loginBaseURL.dropLast()) : loginBaseURL
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
        let tenantText = tenant.addingPercentEncoding(withAllowedCharacters: allowed) ?? tenant
        let client = clientID.addingPercentEncoding(withAllowedCharacters: allowed) ?? clientID
        return "\(base)/\(tenantText)/adminconsent?client_id=\(client)"
    }

    /// The wait's message for `customer`.
    static func waitMessage(
        customer: String, clientID: String, missing: [String], servicePrincipal: Bool, url: String,
        partnerCenter: String? = nil
    ) -> String {
        let what =
            servicePrincipal
            ? "the partner app (client id \(clientID)) is consented in \(customer) without \(missing.joined(separator: ", "))"
            : "the partner app (client id \(clientID)) is not consented in \(customer) (no service principal; it needs \(missing.joined(separator: ", ")))"
        // Without the read of applications, Graph does not show which other roles the app holds.
        let unreadable =
            servicePrincipal && missing.contains("Application.ReadWrite.All")
            ? " (without it Onboarder cannot read which other roles it holds)" : ""
        var text = "waiting for input: \(what)\(unreadable). The customer's administrator consents at \(url)"
        if let partnerCenter { text += "; Partner Center: \(partnerCenter)" }
        return text + " (onboarder consent links lists every such link); the job looks again on its own"
    }
}
