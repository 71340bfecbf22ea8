import Foundation

/// What an offboarding removed, from Onboarder's records and the offboarding's payload: what the audit of an
/// offboarded customer checks is gone.
struct ResidueBaseline: Sendable, Equatable {
    var path: String
    /// The customer's Entra tenant id and the app the integration recorded (lower case).
    var entraTenantID: String
    var appObjectID: String?
    var appID: String?
    /// Teams path: the SBC domain and its activation user, unless the offboarding kept them (`keep_domain`).
    var sbcFQDN: String?
    var activationUPN: String?
    var keepDomain: Bool
    /// The customer's credentials Onboarder still records as not destroyed: not `removed`, or with the sealed
    /// value still stored.
    var undestroyedCredentials: [Credential]

    struct Credential: Sendable, Equatable {
        var kind: String
        var state: String
        /// The password's key id or the certificate's thumbprint.
        var id: String
        var sealed: Bool
    }
}

/// What the audit of an offboarded customer read in the tenant and at the PBX (nothing written).
struct ResidueObservation: Sendable {
    struct Application: Sendable, Equatable {
        var objectID: String
        var appID: String
        var displayName: String?
    }
    /// The PBX's two integration pages, as `Microsoft365Integration` and `Microsoft365TeamsIntegration` hold them.
    struct PBX: Sendable, Equatable {
        var tenantID: String
        var applicationID: String
        var teamsEnabled: Bool
        var sbcFQDN: String?
    }

    /// Live applications with the recorded object id or Onboarder's unique name (Deleted applications are not
    /// read: a deleted app is restorable for 30 days by design, not residue).
    var applications: [Application]
    /// Whether the SBC domain is in the tenant, and the activation user (nil: not read).
    var domainInTenant: Bool?
    var activationUserInTenant: Bool?
    /// The PBX's pages; nil when it could not be read (`pbxUnread` says why).
    var pbx: PBX?
    var pbxUnread: String?
}

extension DriftFinding {
    /// The finding of every object an offboarding should have removed and that is there: one per object, its
    /// subject naming it. `onboarder offboard` again removes them (offboarding is idempotent); an onboarding
    /// (`--repair`) never runs for an offboarded customer.
    public static let offboardResidue = "offboard-residue"
}

extension DriftPlan {
    static let residue = DriftFinding.offboardResidue

    /// The audit of an offboarded customer: what is left of Onboarder's in the tenant, at the PBX and in its
    /// own records. A kept domain (`keep_domain`) and the deleted app in Deleted applications are not residue;
    /// a PBX pointed at another tenant is another customer's, not this one's.
    static func residueFindings(_ baseline: ResidueBaseline, _ seen: ResidueObservation) -> [DriftFinding] {
        var found: [DriftFinding] = []
        let again = "`onboarder offboard` again removes it."
        for app in seen.applications {
            let why =
                app.objectID.lowercased() == baseline.appObjectID?.lowercased()
                ? "the app registration the integration recorded" : "an app registration with Onboarder's unique name"
            found.append(
                DriftFinding(
                    residue, subject: "application \(app.appID.lowercased())",
                    "The offboarded customer's tenant still has \(why): \(app.displayName ?? "?") (appId \(app.appID.lowercased()), object id \(app.objectID.lowercased())). \(again)"
                ))
        }
        if baseline.path == "teams" && !baseline.keepDomain {
            if let upn = baseline.activationUPN, seen.activationUserInTenant == true {
                found.append(
                    DriftFinding(
                        residue, subject: "activation-user \(upn)",
                        "The activation user \(upn) is still in the tenant. \(again)"))
            }
            if let fqdn = baseline.sbcFQDN, seen.domainInTenant == true {
                found.append(
                    DriftFinding(
                        residue, subject: "domain \(fqdn)",
                        "The SBC domain \(fqdn) is still in the tenant (the offboarding did not keep it). \(again)"))
            }
        }
        if let pbx = seen.pbx {
            let tenant = baseline.entraTenantID.lowercased()
            let carriesTenant = pbx.tenantID.lowercased() == tenant
            let carriesApp = baseline.appID.map { pbx.applicationID.lowercased() == $0.lowercased() } ?? false
            if carriesTenant || carriesApp {
                found.append(
                    DriftFinding(
                        residue, subject: "pbx Microsoft365Integration",
                        "The PBX's Microsoft 365 integration still points at the customer (TenantId \(pbx.tenantID.isEmpty ? "(empty)" : pbx.tenantID), ApplicationId \(pbx.applicationID.isEmpty ? "(empty)" : pbx.applicationID)). \(again)"
                    ))
            }
            // Teams on for another tenant is that tenant's; on for this one, for nobody, or on the customer's
            // SBC name is this customer's left behind.
            let anotherTenant = !pbx.tenantID.isEmpty && !carriesTenant
            let customersSBC =
                baseline.sbcFQDN.map { (pbx.sbcFQDN ?? "").lowercased() == $0.lowercased() } ?? false
            if (pbx.teamsEnabled && !anotherTenant) || customersSBC {
                found.append(
                    DriftFinding(
                        residue, subject: "pbx Microsoft365TeamsIntegration",
                        "The PBX's Teams integration is \(pbx.teamsEnabled ? "enabled" : "disabled") with SbcFQDN \(pbx.sbcFQDN.map { $0.isEmpty ? "(empty)" : $0 } ?? "(none)"). \(again)"
                    ))
            }
        } else if let reason = seen.pbxUnread {
            found.append(
                DriftFinding(
                    "audit-failed", subject: "pbx",
                    "The PBX could not be read, so whether it still carries the offboarded customer is not known: \(reason)"
                ))
        }
        for credential in baseline.undestroyedCredentials {
            found.append(
                DriftFinding(
                    residue, subject: "credential \(credential.id)",
                    credential.state == "removed"
                        ? "The \(credential.kind) \(credential.id) is recorded removed, but its sealed value is still stored. \(again)"
                        : "The \(credential.kind) \(credential.id) is recorded \(credential.state), not removed. \(again)"
                ))
        }
        return found.sorted { ($0.finding, $0.subject) < ($1.finding, $1.subject) }
    }
}
