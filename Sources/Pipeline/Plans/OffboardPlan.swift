import Store

/// What an offboarding removes, decided from what its survey read (`OffboardSurvey`), never from what
/// onboarding is assumed to have made: a secret added by hand is on the app, so it is in the plan; an
/// activation user someone already deleted is not. Pure; each step applies its part (`actions(for:)`), and
/// a dry run prints `lines`.
///
/// Order (the steps'): the PBX first, so it stops using the credentials before they vanish; on the Teams
/// path the activation user before the domain (Entra refuses to delete a domain a user's name is in), the
/// domain before its TXT record; the app last but one (its service principal, credentials and consent go
/// with it); the records last.
public enum OffboardPlan {
    public enum Action: Sendable, Equatable {
        /// `Microsoft365Integration`: TenantId and ApplicationId emptied, the user sync's selection cleared.
        case clearMicrosoft365
        /// `Microsoft365TeamsIntegration`: disabled, SbcFQDN emptied.
        case disableTeams
        /// The activation user renamed off the SBC domain (`parkedName`), then deleted.
        case deleteUser(id: String, userPrincipalName: String)
        case deleteDomain(String)
        /// Verification TXT values at `name` removed through the DNS provider.
        case removeTXT(name: String, zone: String, values: [String])
        /// The DNS is published by hand: the operator is told which record to remove.
        case tellOperatorTXT(name: String, zone: String)
        case deleteApplication(objectID: String, appID: String)
    }

    /// Every action, in order.
    public static func actions(_ survey: OffboardSurvey) -> [Action] {
        var actions: [Action] = []
        if let pbx = survey.pbx, servesCustomer(survey) {
            if !pbx.tenantID.isEmpty || !pbx.applicationID.isEmpty || !pbx.selectedUsers.isEmpty {
                actions.append(.clearMicrosoft365)
            }
            if pbx.teamsEnabled || !(pbx.sbcFQDN ?? "").isEmpty { actions.append(.disableTeams) }
        }
        if !survey.keepDomain {
            if let user = survey.activationUser {
                actions.append(.deleteUser(id: user.id, userPrincipalName: user.userPrincipalName))
            }
            if let domain = survey.sbcDomain, survey.domainInTenant { actions.append(.deleteDomain(domain)) }
            if let dns = survey.dns {
                if dns.manual {
                    actions.append(.tellOperatorTXT(name: dns.name, zone: dns.zone))
                } else if !dns.values.isEmpty {
                    actions.append(.removeTXT(name: dns.name, zone: dns.zone, values: dns.values))
                }
            }
        }
        actions += survey.apps.map { .deleteApplication(objectID: $0.objectID, appID: $0.appID) }
        return actions
    }

    /// Whether the PBX's integration is this customer's: its TenantId is the customer's tenant, or empty (the
    /// Teams page alone, or a half-made integration). A PBX since pointed at another tenant (its URL reused
    /// for another customer, or a payload's URL mistyped) serves that tenant: clearing it would cut off the
    /// other customer, so it is kept and the plan says why.
    public static func servesCustomer(_ survey: OffboardSurvey) -> Bool {
        guard let pbx = survey.pbx, !pbx.tenantID.isEmpty, let mine = survey.customerTenantID else { return true }
        return pbx.tenantID.lowercased() == mine.lowercased()
    }

    /// The actions `step` applies.
    static func actions(for step: Step, _ survey: OffboardSurvey) -> [Action] {
        actions(survey).filter { action in
            switch action {
            case .clearMicrosoft365, .disableTeams: step == .offboardPBX
            case .deleteUser: step == .offboardActivationUser
            case .deleteDomain: step == .offboardDomain
            case .removeTXT, .tellOperatorTXT: step == .offboardDNS
            case .deleteApplication: step == .offboardApp
            }
        }
    }

    /// The plan in words, one object per line: what is removed (with what goes with it), what is kept and
    /// why, and what the survey could not read.
    public static func lines(_ survey: OffboardSurvey) -> [String] {
        var lines: [String] = []
        for action in actions(survey) {
            switch action {
            case .clearMicrosoft365:
                let pbx = survey.pbx!
                lines.append(
                    "remove PBX Microsoft 365 integration: TenantId \(shown(pbx.tenantID)), ApplicationId \(shown(pbx.applicationID)), \(pbx.selectedUsers.count) selected user(s)"
                )
            case .disableTeams:
                lines.append("remove PBX Teams integration: SbcFQDN \(shown(survey.pbx?.sbcFQDN ?? "")), disabled")
            case .deleteUser(let id, let upn):
                lines.append("remove activation user \(upn) (id \(id))")
            case .deleteDomain(let name):
                lines.append("remove domain \(name)")
            case .removeTXT(let name, let zone, let values):
                lines += values.map { "remove DNS TXT record \(name) \"\($0)\" (zone \(zone))" }
            case .tellOperatorTXT(let name, let zone):
                lines.append(
                    "remove DNS TXT record \(name) MS=ms… by hand, if it is still there (zone \(zone); the DNS is published by hand)"
                )
            case .deleteApplication(let objectID, let appID):
                guard let app = survey.apps.first(where: { $0.objectID == objectID }) else { continue }
                lines.append(
                    "remove application \(app.displayName ?? "?") (appId \(appID), object id \(objectID))\(app.recorded ? "" : ", not the one recorded: it has Onboarder's unique name")"
                )
                for password in app.passwords {
                    lines.append(
                        "  with client secret \(password.identifier)\(password.displayName.map { " \"\($0)\"" } ?? "")\(password.recorded ? "" : " (not recorded by Onboarder)")"
                    )
                }
                for certificate in app.certificates {
                    lines.append(
                        "  with certificate \(certificate.identifier)\(certificate.recorded ? "" : " (not recorded by Onboarder)")"
                    )
                }
                if let principal = app.servicePrincipalID {
                    lines.append(
                        "  with service principal \(principal): \(app.appRoleIDs.count) application permission(s), delegated \(app.delegatedScopes.isEmpty ? "none" : app.delegatedScopes.joined(separator: " "))"
                    )
                }
                lines.append("  (Entra keeps a deleted application restorable for 30 days in Deleted applications)")
            }
        }
        if let pbx = survey.pbx, !servesCustomer(survey) {
            lines.append(
                "keep the PBX's integration: it serves another tenant now (TenantId \(pbx.tenantID), not \(survey.customerTenantID ?? "?"))"
            )
        }
        if survey.keepDomain {
            if let user = survey.activationUser {
                lines.append("keep activation user \(user.userPrincipalName) (--keep-domain)")
            }
            if let domain = survey.sbcDomain, survey.domainInTenant {
                lines.append(
                    "keep domain \(domain) and its DNS (--keep-domain: it stays activated for a later onboarding)")
            }
        }
        lines += survey.unread.map { "not read: \($0)" }
        if lines.isEmpty { lines.append("nothing to remove: the tenant and the PBX hold nothing of the integration") }
        return lines
    }

    /// The name the activation user takes before it is deleted, so that in Deleted users it no longer holds
    /// the SBC domain: its local part and the first 8 characters of its object id (two offboardings of the
    /// same SBC name never collide), on the tenant's default domain.
    public static func parkedName(of upn: String, id: String, defaultDomain: String) -> String {
        let local = upn.split(separator: "@").first.map(String.init) ?? "user"
        return "\(local)-\(id.prefix(8).lowercased())@\(defaultDomain)"
    }

    private static func shown(_ value: String) -> String { value.isEmpty ? "(empty)" : value }
}
