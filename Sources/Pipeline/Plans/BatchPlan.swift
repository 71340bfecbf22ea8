import Foundation

/// What a held enqueue will do, for the person who approves it: each customer (MSP, tenant, path, PBX)
/// and what the pipeline will create in its tenant — the app registration (name, redirect URI, Graph
/// permissions, admin consent), the client secret (name, lifetime), the certificate, and on the Teams path
/// the Direct Routing domain with its verification TXT record and the activation user, on the Microsoft
/// 365 path the users added to the PBX's sync. Computed from the enqueue rows and the onboarding settings
/// only (nothing is read from the tenants before approval), printed by `enqueue` and stored in
/// `batches.plan` (`batch show`).
public struct BatchPlan: Codable, Sendable, Equatable {
    /// The settings every tenant of the batch shares (`[onboarding]` of the enqueuing host's configuration).
    public struct Common: Codable, Sendable, Equatable {
        public var appName: String
        public var applicationPermissions: [String]
        public var delegatedPermissions: [String]
        public var secretName: String
        public var secretLifetimeDays: Int
        /// `pbx`: the PBX's own certificate (`onboarder cert add`); `generate`: one of Onboarder's as well.
        public var certificate: String
        /// The Teams activation user's name and usage location (the domain is each customer's).
        public var activationUser: String
        public var usageLocation: String

        enum CodingKeys: String, CodingKey {
            case appName = "app_name"
            case applicationPermissions = "application_permissions"
            case delegatedPermissions = "delegated_permissions"
            case secretName = "secret_name"
            case secretLifetimeDays = "secret_lifetime_days"
            case certificate
            case activationUser = "activation_user"
            case usageLocation = "usage_location"
        }
    }

    /// One customer: where, and what is created in its tenant besides the common parts.
    public struct Customer: Codable, Sendable, Equatable {
        public var msp: String
        public var tenant: String
        public var path: String
        public var pbxURL: String
        public var redirectURI: String
        /// Teams: the Direct Routing (SBC) domain, also the name of its verification TXT record; nil when it
        /// is the first label of the tenant's default domain, known only once the job reads the tenant.
        public var sbcDomain: String?
        /// Teams: the activation user's UPN (nil with `sbcDomain`).
        public var activationUPN: String?
        /// Microsoft 365: the users added to the PBX's sync; nil: every licensed, enabled user.
        public var users: [String]?

        enum CodingKeys: String, CodingKey {
            case msp, tenant, path
            case pbxURL = "pbx_url"
            case redirectURI = "redirect_uri"
            case sbcDomain = "sbc_domain"
            case activationUPN = "activation_upn"
            case users
        }
    }

    /// An enqueue row as the plan needs it.
    public struct Row: Sendable {
        public var msp: String
        public var tenant: String
        public var payload: OnboardingPayload

        public init(msp: String, tenant: String, payload: OnboardingPayload) {
            self.msp = msp
            self.tenant = tenant
            self.payload = payload
        }
    }

    public var common: Common
    /// Under this key the database appends the customers of each later statement of the same enqueue.
    public var customers: [Customer]

    public init(rows: [Row], settings: OnboardingSettings) {
        common = Common(
            appName: settings.appName, applicationPermissions: settings.roles, delegatedPermissions: settings.scopes,
            secretName: settings.passwordMarker + " job …", secretLifetimeDays: settings.secretLifetimeDays,
            certificate: settings.generatesCertificates ? "generate" : "pbx", activationUser: settings.activationUser,
            usageLocation: settings.usageLocation)
        customers = rows.map { row in
            let payload = row.payload
            let teams = payload.path == "teams"
            let sbc =
                teams
                ? SBCName.fqdn(
                    sbcDomain: payload.sbcDomain, defaultDomain: nil, tenantKey: row.tenant,
                    parent: settings.sbcParentDomain) : nil
            return Customer(
                msp: row.msp, tenant: row.tenant, path: payload.path, pbxURL: payload.pbxURL,
                redirectURI: payload.redirectURI ?? settings.redirectURI(pbxURL: payload.pbxURL), sbcDomain: sbc,
                activationUPN: sbc.map { "\(settings.activationUser)@\($0)" },
                users: teams ? nil : payload.users.flatMap { $0.isEmpty ? nil : $0 })
        }
    }

    /// The plan as the terminal shows it: what every tenant gets, then one line per customer (the first
    /// `limit`; `batch show` prints them all).
    public func lines(limit: Int = .max) -> [String] {
        let paths = Dictionary(grouping: customers, by: \.path).mapValues(\.count)
        let msps = Set(customers.map(\.msp)).sorted()
        var lines = [
            "plan: \(customers.count) customer(s) of MSP \(msps.joined(separator: ", "))"
                + " (\(paths.sorted { $0.key > $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")))",
            "in each tenant: app registration \"\(common.appName)\" with admin consent to application permissions "
                + "\(common.applicationPermissions.joined(separator: ", ")) and delegated "
                + "\(common.delegatedPermissions.joined(separator: ", "));",
            "  client secret \"\(common.secretName)\" valid \(common.secretLifetimeDays) days (or the tenant's "
                + "policy's shorter limit); certificate: "
                + (common.certificate == "generate"
                    ? "one of Onboarder's, and the PBX's own once supplied (onboarder cert add)"
                    : "the PBX's own (onboarder cert add)"),
        ]
        if paths["teams"] != nil {
            lines.append(
                "  Teams: a Direct Routing domain verified by a TXT record of its name, activation user "
                    + "\(common.activationUser)@<domain> (usage location \(common.usageLocation), a Teams licence)")
        }
        for customer in customers.prefix(limit) {
            var line = "  \(customer.msp) \(customer.tenant) \(customer.path) → PBX \(customer.pbxURL): "
            line += "redirect URI \(customer.redirectURI)"
            if customer.path == "teams" {
                if let domain = customer.sbcDomain, let upn = customer.activationUPN {
                    line += "; domain \(domain) (TXT \(domain)); activation user \(upn)"
                } else {
                    line += "; domain: the first label of the tenant's default domain (read when the job runs)"
                }
            } else if let users = customer.users {
                line += "; PBX sync: \(users.joined(separator: ", "))"
            } else {
                line += "; PBX sync: every licensed, enabled user"
            }
            lines.append(line)
        }
        if customers.count > limit {
            lines.append("  … and \(customers.count - limit) more (onboarder batch show lists them all)")
        }
        return lines
    }

    /// The JSON stored in `batches.plan` (and passed to enqueue_many as p_plan), keys sorted.
    public func json(customers range: Range<Int>? = nil) throws -> String {
        var part = self
        if let range { part.customers = Array(customers[range]) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(part), as: UTF8.self)
    }
}
