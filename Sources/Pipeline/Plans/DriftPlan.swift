import Foundation

/// One way a customer's integration differs from what Onboarder set up and recorded: a short kebab-case
/// name (`role-assignment-missing`), what it is about (a permission, a credential's key id, a user; empty when
/// the finding is the customer's as a whole) and the detail in words for the operator.
public struct DriftFinding: Sendable, Hashable, CustomStringConvertible {
    public var finding: String
    public var subject: String
    public var detail: String

    public init(_ finding: String, subject: String = "", _ detail: String) {
        self.finding = finding
        self.subject = subject
        self.detail = detail
    }

    public var description: String { subject.isEmpty ? finding : "\(finding) \(subject)" }

    /// Whether an onboarding puts it back (`onboarder audit --repair`). A credential nobody recorded is not
    /// Onboarder's to remove, a user's licence is the customer's to buy or assign, and an audit that could
    /// not read the tenant says nothing repair could act on.
    public var repairable: Bool { !DriftPlan.notRepairable.contains(finding) }
}

/// What Onboarder set up and recorded for a customer: the baseline an audit compares the tenant with.
struct DriftBaseline: Sendable, Equatable {
    var path: String
    /// The app's object and application (client) id.
    var appObjectID: String
    var appID: String
    var redirectURI: String
    /// The Graph permissions the app asks for and was consented: name → id.
    var roles: [String: String]
    var scopes: [String: String]
    /// Recorded client secrets (key ids, lower case) and certificates (thumbprints, upper case): `expected`
    /// must be on the app (active, superseded); `known` may be (those and pending ones, mid-rotation).
    var expectedPasswords: Set<String>
    var knownPasswords: Set<String>
    var expectedCertificates: Set<String>
    var knownCertificates: Set<String>
    /// Teams path: the SBC domain and the activation user.
    var sbcFQDN: String?
    var activationUPN: String?
    /// Microsoft 365 path: the UPNs the PBX syncs, and those of them that held no Phone System when onboarded
    /// (lower case; the onboarding warned, so the state it left is not drift).
    var selectedUsers: [String]
    var withoutPhoneSystemWhenOnboarded: Set<String> = []
}

/// What an audit read in the tenant and at the PBX (nothing written). nil where a part was not read.
struct DriftObservation: Sendable {
    struct Credential: Sendable, Equatable {
        /// A password's key id or a certificate's thumbprint.
        var id: String
        var end: Date?
    }
    struct Application: Sendable {
        var redirectURIs: [String]
        /// `requiredResourceAccess` for Microsoft Graph: (id, `Role` or `Scope`).
        var access: [(id: String, type: String)]
        var passwords: [Credential]
        var certificates: [Credential]
    }
    struct User: Sendable, Equatable {
        var enabled: Bool
        /// Whether one of its licences includes Phone System (MCOEV), or for the activation user Teams.
        var licensed: Bool
    }
    enum Domain: Sendable, Equatable { case verified, unverified, absent }

    /// nil: the app is gone.
    var application: Application?
    /// The app's service principal (nil: none), with its application roles of Microsoft Graph (ids) and its
    /// tenant-wide delegated grant's scopes (nil: no grant).
    var servicePrincipal: Bool
    var assignedRoles: Set<String>
    var grantedScopes: Set<String>?
    /// The PBX's `TestSubscription()`: nil when it passed, else its message.
    var pbxProblem: String?
    var domain: Domain?
    /// Users by UPN (lower case): nil for one the tenant does not have.
    var activationUser: User??
    var users: [String: User?]
    var now: Date
}

/// The drift audit's decisions: which findings what it read amounts to, compared with what Onboarder recorded.
enum DriftPlan {
    /// Findings an onboarding cannot put right (`DriftFinding.repairable`).
    static let notRepairable: Set<String> = [
        "credential-unknown", "user-missing", "user-disabled", "user-phone-system", "audit-failed",
        DriftFinding.offboardResidue,
    ]

    static func findings(_ baseline: DriftBaseline, _ seen: DriftObservation) -> [DriftFinding] {
        var found: [DriftFinding] = []
        if let app = seen.application {
            found += applicationFindings(baseline, app, now: seen.now)
        } else {
            found.append(
                DriftFinding(
                    "app-missing", subject: baseline.appID,
                    "The app registration \(baseline.appID) is not in the tenant (deleted: Entra keeps it restorable for 30 days under Deleted applications)."
                ))
        }
        found += consentFindings(baseline, seen)
        if let problem = seen.pbxProblem {
            found.append(
                DriftFinding("pbx-test-failed", "The PBX's Microsoft 365 check (TestSubscription) fails: \(problem)"))
        }
        if baseline.path == "teams" {
            found += teamsFindings(baseline, seen)
        } else {
            found += userFindings(baseline, seen)
        }
        return found.sorted { ($0.finding, $0.subject) < ($1.finding, $1.subject) }
    }

    /// How a date is written in a finding's detail: UTC, to the second.
    static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }

    /// The finding of an audit that could not read the tenant (consent revoked, the partner app deleted…).
    static func unreadable(_ reason: String) -> DriftFinding {
        DriftFinding("audit-failed", "The audit could not read the tenant: \(reason)")
    }

    private static func applicationFindings(
        _ baseline: DriftBaseline, _ app: DriftObservation.Application, now: Date
    ) -> [DriftFinding] {
        var found: [DriftFinding] = []
        if !app.redirectURIs.contains(baseline.redirectURI) {
            found.append(
                DriftFinding(
                    "redirect-uri", subject: baseline.redirectURI,
                    "The app's Web redirect URIs lack \(baseline.redirectURI) (they are: \(app.redirectURIs.isEmpty ? "none" : app.redirectURIs.joined(separator: ", ")))."
                ))
        }
        let asked = Set(app.access.map { "\($0.type):\($0.id.lowercased())" })
        for (name, id) in baseline.roles.sorted(by: { $0.key < $1.key })
        where !asked.contains("Role:\(id.lowercased())") {
            found.append(
                DriftFinding(
                    "permission-missing", subject: name,
                    "The app no longer asks for the application permission \(name) (requiredResourceAccess)."))
        }
        for (name, id) in baseline.scopes.sorted(by: { $0.key < $1.key })
        where !asked.contains("Scope:\(id.lowercased())") {
            found.append(
                DriftFinding(
                    "permission-missing", subject: name,
                    "The app no longer asks for the delegated permission \(name) (requiredResourceAccess)."))
        }
        found += credentialFindings(
            kind: "client secret", onApp: app.passwords.map { .init(id: $0.id.lowercased(), end: $0.end) },
            expected: baseline.expectedPasswords, known: baseline.knownPasswords, now: now)
        found += credentialFindings(
            kind: "certificate", onApp: app.certificates.map { .init(id: $0.id.uppercased(), end: $0.end) },
            expected: baseline.expectedCertificates, known: baseline.knownCertificates, now: now)
        return found
    }

    /// The app's credentials against the recorded ones: one nobody recorded (added by hand) is unknown, a
    /// recorded one not on the app is missing, one past its end date expired.
    private static func credentialFindings(
        kind: String, onApp: [DriftObservation.Credential], expected: Set<String>, known: Set<String>, now: Date
    ) -> [DriftFinding] {
        var found: [DriftFinding] = []
        let listed = Set(onApp.map(\.id))
        for credential in onApp where !known.contains(credential.id) && !expected.contains(credential.id) {
            found.append(
                DriftFinding(
                    "credential-unknown", subject: credential.id,
                    "A \(kind) on the app that Onboarder did not make or record (added by hand?): \(credential.id). Onboarder never removes it; remove it in Entra if nobody uses it."
                ))
        }
        for id in expected.subtracting(listed).sorted() {
            found.append(
                DriftFinding(
                    "credential-missing", subject: id,
                    "The recorded \(kind) \(id) is no longer on the app: the PBX signs in with it no more."))
        }
        for credential in onApp where credential.end.map({ $0 <= now }) == true {
            found.append(
                DriftFinding(
                    "credential-expired", subject: credential.id,
                    "The \(kind) \(credential.id) on the app expired at \(DriftPlan.timestamp(credential.end!))."))
        }
        return found
    }

    private static func consentFindings(_ baseline: DriftBaseline, _ seen: DriftObservation) -> [DriftFinding] {
        guard seen.servicePrincipal else {
            return [
                DriftFinding(
                    "service-principal-missing", subject: baseline.appID,
                    "The app \(baseline.appID) has no service principal in the tenant: nothing is consented.")
            ]
        }
        var found: [DriftFinding] = []
        let assigned = Set(seen.assignedRoles.map { $0.lowercased() })
        for (name, id) in baseline.roles.sorted(by: { $0.key < $1.key }) where !assigned.contains(id.lowercased()) {
            found.append(
                DriftFinding(
                    "role-assignment-missing", subject: name,
                    "Admin consent for the application permission \(name) was removed (no appRoleAssignment)."))
        }
        let wanted = Set(baseline.scopes.keys)
        if !wanted.isEmpty {
            if let granted = seen.grantedScopes {
                let lacking = wanted.subtracting(granted).sorted()
                if !lacking.isEmpty {
                    found.append(
                        DriftFinding(
                            "delegated-grant", subject: lacking.joined(separator: " "),
                            "The tenant-wide delegated grant lacks \(lacking.joined(separator: ", "))."))
                }
            } else {
                found.append(
                    DriftFinding(
                        "delegated-grant", subject: wanted.sorted().joined(separator: " "),
                        "The tenant-wide delegated grant (admin consent for \(wanted.sorted().joined(separator: ", "))) is gone."
                    ))
            }
        }
        return found
    }

    private static func teamsFindings(_ baseline: DriftBaseline, _ seen: DriftObservation) -> [DriftFinding] {
        var found: [DriftFinding] = []
        if let fqdn = baseline.sbcFQDN, let domain = seen.domain, domain != .verified {
            found.append(
                DriftFinding(
                    "domain-unverified", subject: fqdn,
                    domain == .absent
                        ? "The SBC domain \(fqdn) is no longer in the tenant."
                        : "The SBC domain \(fqdn) is in the tenant but not verified."))
        }
        if let upn = baseline.activationUPN, let user = seen.activationUser {
            if let user {
                if !user.licensed {
                    found.append(
                        DriftFinding(
                            "activation-user", subject: upn,
                            "The activation user \(upn) holds no licence with Teams: Direct Routing on \(baseline.sbcFQDN ?? "the SBC domain") is not activated."
                        ))
                }
            } else {
                found.append(
                    DriftFinding(
                        "activation-user", subject: upn, "The activation user \(upn) is no longer in the tenant."))
            }
        }
        return found
    }

    private static func userFindings(_ baseline: DriftBaseline, _ seen: DriftObservation) -> [DriftFinding] {
        var found: [DriftFinding] = []
        for upn in baseline.selectedUsers.sorted() {
            guard let observed = seen.users[upn.lowercased()] else { continue }  // not read
            guard let user = observed else {
                found.append(
                    DriftFinding(
                        "user-missing", subject: upn, "The user \(upn) the PBX syncs is no longer in the tenant."))
                continue
            }
            if !user.enabled {
                found.append(
                    DriftFinding(
                        "user-disabled", subject: upn,
                        "The user \(upn) the PBX syncs is disabled (accountEnabled false): it cannot sign in to Teams.")
                )
            }
            if !user.licensed && !baseline.withoutPhoneSystemWhenOnboarded.contains(upn.lowercased()) {
                found.append(
                    DriftFinding(
                        "user-phone-system", subject: upn,
                        "The user \(upn) no longer holds the Phone System (MCOEV) plan: no PBX calls from Teams."))
            }
        }
        return found
    }
}
