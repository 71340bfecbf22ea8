import Foundation
import Graph

/// Which of an MSP's GDAP customers `onboarder enqueue --from-gdap` enqueues, and why each other one is
/// left out. A pure function of what the partner tenant listed (customers and relationships), the
/// operator's filter, the roles required and the time.
///
/// A customer qualifies when at least one of its relationships is `active`, has not reached its
/// `endDateTime`, and the active relationships together hold every required role (a relationship's roles
/// are the `accessDetails.unifiedRoles` the customer approved; several relationships add up, as their
/// access does). Customers come from both lists: Microsoft deletes a `delegatedAdminCustomer` once no
/// relationship is active, so a customer whose relationships all expired appears only in the
/// relationships, and is reported as expired rather than silently missing.
public enum GDAPSelection {
    /// Entra built-in roles by template id (the `roleDefinitionId` GDAP uses), from Microsoft's "Microsoft
    /// Entra built-in roles" reference (MicrosoftDocs/entra-docs, permissions-reference.md).
    public enum Role {
        public static let globalAdministrator = "62e90394-69f5-4237-9190-012177145e10"
        public static let privilegedRoleAdministrator = "e8611ab8-c189-46e8-94e1-60213ab1f814"
        public static let cloudApplicationAdministrator = "158c047a-c907-4556-b7ef-446551a6b5f7"
        public static let applicationAdministrator = "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3"

        public static let names: [String: String] = [
            globalAdministrator: "Global Administrator",
            privilegedRoleAdministrator: "Privileged Role Administrator",
            cloudApplicationAdministrator: "Cloud Application Administrator",
            applicationAdministrator: "Application Administrator",
        ]

        /// `Privileged Role Administrator (e8611ab8-…)`, or the bare id of a role not in the table.
        public static func describe(_ id: String) -> String {
            names[id.lowercased()].map { "\($0) (\(id.lowercased()))" } ?? id.lowercased()
        }
    }

    /// One role the relationship must hold, met by any of `anyOf` (Global Administrator can do what every
    /// other role can).
    public struct Requirement: Sendable, Equatable {
        public var role: String
        public var anyOf: Set<String>

        public init(role: String, alsoMetBy: Set<String> = [Role.globalAdministrator]) {
            self.role = role.lowercased()
            anyOf = Set(alsoMetBy.map { $0.lowercased() }).union([role.lowercased()])
        }
    }

    /// What Onboarder needs of the MSP in a customer tenant: admin consent to the partner app's Microsoft
    /// Graph *application* permissions (Application.ReadWrite.All, AppRoleAssignment.ReadWrite.All, …),
    /// whether an MSP technician grants it through GDAP or Partner Center's consent API does. Microsoft's
    /// "Grant tenant-wide admin consent" page: Privileged Role Administrator may consent to any permission
    /// of any API; Cloud Application Administrator and Application Administrator may not consent to
    /// Microsoft Graph app roles. Everything else — the app registration, its secret, domains, users —
    /// Onboarder does with the partner app's own token, which needs no directory role.
    public static let defaultRequirements = [Requirement(role: Role.privilegedRoleAdministrator)]

    public struct Customer: Sendable, Equatable {
        /// Lower-cased.
        public var tenantID: String
        public var displayName: String
    }

    public enum Skip: Sendable, Equatable, CustomStringConvertible {
        case filteredOut
        /// Listed as a customer, but no relationship with it was listed.
        case noRelationship
        /// No relationship is active; their statuses (`terminated`, `approvalPending`, …).
        case notActive(statuses: [String])
        /// The latest end of its relationships is past (or Microsoft already marked them expired).
        case expired(end: String?)
        /// Active, but these required roles (template ids) are held by no active relationship.
        case missingRoles([String])

        public var description: String {
            switch self {
            case .filteredOut: "filtered out"
            case .noRelationship: "no GDAP relationship"
            case .notActive(let statuses): "no active GDAP relationship (\(statuses.joined(separator: ", ")))"
            case .expired(let end): "GDAP relationship expired" + (end.map { " (ended \($0))" } ?? "")
            case .missingRoles(let roles):
                "GDAP relationship lacks the role " + roles.map(Role.describe).joined(separator: " and ")
            }
        }
    }

    public enum Outcome: Sendable, Equatable {
        /// The relationship ids that qualify it.
        case qualifies(relationships: [String])
        case skipped(Skip)
    }

    public struct Decision: Sendable, Equatable {
        public var customer: Customer
        public var outcome: Outcome
    }

    /// One decision per customer, ordered by display name then tenant id.
    public static func decide(
        customers: [GraphDelegatedAdminCustomer], relationships: [GraphDelegatedAdminRelationship],
        filter: GDAPFilter = GDAPFilter(), requirements: [Requirement] = defaultRequirements, now: Date
    ) -> [Decision] {
        var names: [String: String] = [:]
        var byCustomer: [String: [GraphDelegatedAdminRelationship]] = [:]
        for relationship in relationships {
            guard let id = relationship.customer?.tenantId?.lowercased(), !id.isEmpty else { continue }
            byCustomer[id, default: []].append(relationship)
            if names[id] == nil, let name = relationship.customer?.displayName { names[id] = name }
        }
        // The customers list's names win: they are the tenant's own display names.
        for customer in customers {
            names[customer.tenantId.lowercased()] = customer.displayName ?? names[customer.tenantId.lowercased()] ?? ""
        }
        let everyone = Set(customers.map { $0.tenantId.lowercased() }).union(byCustomer.keys)
        return everyone.map { id in
            let customer = Customer(tenantID: id, displayName: names[id] ?? "")
            guard filter.matches(customer) else { return Decision(customer: customer, outcome: .skipped(.filteredOut)) }
            return Decision(
                customer: customer,
                outcome: outcome(byCustomer[id] ?? [], requirements: requirements, now: now))
        }.sorted {
            ($0.customer.displayName.lowercased(), $0.customer.tenantID)
                < ($1.customer.displayName.lowercased(), $1.customer.tenantID)
        }
    }

    static func outcome(_ relationships: [GraphDelegatedAdminRelationship], requirements: [Requirement], now: Date)
        -> Outcome
    {
        guard !relationships.isEmpty else { return .skipped(.noRelationship) }
        func ended(_ relationship: GraphDelegatedAdminRelationship) -> Bool {
            // No end date on an active relationship: Microsoft sets one on activation; without it, nothing
            // says it ended.
            guard let text = relationship.endDateTime else { return false }
            guard let end = date(text) else { return true }  // unreadable: not trusted to be current
            return end <= now
        }
        let active = relationships.filter { $0.status?.lowercased() == "active" }
        let current = active.filter { !ended($0) }
        guard !current.isEmpty else {
            let expired = relationships.filter {
                ["expired", "expiring"].contains($0.status?.lowercased() ?? "") || ($0.status?.lowercased() == "active")
            }
            if !expired.isEmpty {
                let latest = expired.compactMap(\.endDateTime).max {
                    (date($0) ?? .distantPast) < (date($1) ?? .distantPast)
                }
                return .skipped(.expired(end: latest))
            }
            let statuses = Set(relationships.map { $0.status ?? "unknown" }).sorted()
            return .skipped(.notActive(statuses: statuses))
        }
        let held = current.reduce(into: Set<String>()) { $0.formUnion($1.roleDefinitionIDs) }
        let missing = requirements.filter { held.isDisjoint(with: $0.anyOf) }.map(\.role)
        guard missing.isEmpty else { return .skipped(.missingRoles(missing)) }
        let qualifying = current.filter { relationship in
            requirements.allSatisfy { !relationship.roleDefinitionIDs.isDisjoint(with: $0.anyOf) }
        }
        return .qualifies(relationships: (qualifying.isEmpty ? current : qualifying).map(\.id).sorted())
    }
}

extension GDAPSelection {
    /// An `Edm.DateTimeOffset` as Graph writes these (`2024-02-10T11:24:42.3148266Z`: seven fractional
    /// digits, which Foundation's formatter refuses — it reads at most three), cut to milliseconds first.
    static func date(_ text: String) -> Date? {
        guard let dot = text.firstIndex(of: ".") else { return Run.date(text) }
        let digits = text[text.index(after: dot)...].prefix { $0.isASCII && $0.isNumber }
        let rest = text[text.index(after: dot)...].dropFirst(digits.count)
        return Run.date(String(text[..<dot]) + "." + String(digits.prefix(3)) + rest)
    }
}

/// `--filter`: which customers the operator means, by display name or tenant id, case-insensitively. A
/// pattern with `*` or `?` is a glob over the whole name (`contoso*`); one without is a substring
/// (`contoso`). Several patterns: any of them. No pattern: everyone.
public struct GDAPFilter: Sendable, Equatable {
    public var patterns: [String]

    public init(_ patterns: [String] = []) { self.patterns = patterns.filter { !$0.isEmpty } }

    public func matches(_ customer: GDAPSelection.Customer) -> Bool {
        guard !patterns.isEmpty else { return true }
        let names = [customer.displayName.lowercased(), customer.tenantID.lowercased()]
        return patterns.contains { pattern in
            let pattern = pattern.lowercased()
            let isGlob = pattern.contains("*") || pattern.contains("?")
            return names.contains { isGlob ? Self.glob(Array(pattern), Array($0)) : $0.contains(pattern) }
        }
    }

    /// `*` any run of characters, `?` one character; iterative with one backtrack point (linear for the
    /// patterns people type, never exponential).
    static func glob(_ pattern: [Character], _ text: [Character]) -> Bool {
        var (p, t) = (0, 0)
        var star: Int?
        var resume = 0
        while t < text.count {
            if p < pattern.count, pattern[p] == "?" || (pattern[p] != "*" && pattern[p] == text[t]) {
                p += 1
                t += 1
            } else if p < pattern.count, pattern[p] == "*" {
                star = p
                resume = t
                p += 1
            } else if let star {
                p = star + 1
                resume += 1
                t = resume
            } else {
                return false
            }
        }
        while p < pattern.count, pattern[p] == "*" { p += 1 }
        return p == pattern.count
    }
}
