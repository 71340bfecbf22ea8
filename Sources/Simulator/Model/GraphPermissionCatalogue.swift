import Foundation

/// One of Microsoft Graph's permissions as its service principal lists it.
public struct GraphPermission: Sendable, Equatable {
    public enum Kind: String, Sendable {
        /// An application permission (`appRoles`).
        case role
        /// A delegated permission (`oauth2PermissionScopes`).
        case scope
    }

    public let kind: Kind
    /// Lowercased GUID.
    public let id: String
    /// `Application.ReadWrite.All`.
    public let value: String
    /// `Application` for a role; `User` or `Admin` (who may consent) for a scope.
    public let type: String
    public let isEnabled: Bool
    public let displayName: String

    public init(kind: Kind, id: String, value: String, type: String, isEnabled: Bool, displayName: String) {
        self.kind = kind
        self.id = id
        self.value = value
        self.type = type
        self.isEnabled = isEnabled
        self.displayName = displayName
    }
}

/// The simulator's own copy of Microsoft Graph's permissions: every app role and delegated scope of the Graph
/// service principal, read once from the vendored `Resources/graph-permissions.tsv` (its header names the
/// source and date). Never the client's table: a wrong GUID on the client's side must fail against this.
public struct GraphPermissionCatalogue: Sendable {
    /// Microsoft Graph's application id, the resource of every permission.
    public static let resourceAppID = "00000003-0000-0000-c000-000000000000"

    /// Loaded on first use from the target's resources.
    public static let microsoftGraph: GraphPermissionCatalogue = {
        guard let url = Bundle.module.url(forResource: "graph-permissions", withExtension: "tsv"),
            let text = try? String(contentsOf: url, encoding: .utf8)
        else { fatalError("the simulator's resource graph-permissions.tsv is missing from its bundle") }
        return GraphPermissionCatalogue(parsing: text)
    }()

    public let appRoles: [GraphPermission]
    public let scopes: [GraphPermission]
    private let roleByValue: [String: GraphPermission]
    private let roleByID: [String: GraphPermission]
    private let scopeByValue: [String: GraphPermission]

    /// Lines of `kind TAB id TAB value TAB type TAB enabled TAB display name`; `#` starts a comment.
    public init(parsing text: String) {
        var roles: [GraphPermission] = []
        var scopes: [GraphPermission] = []
        for line in text.split(whereSeparator: \.isNewline) where !line.hasPrefix("#") {
            let fields = line.split(separator: "\t", maxSplits: 5, omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 6, let kind = GraphPermission.Kind(rawValue: fields[0]) else { continue }
            let permission = GraphPermission(
                kind: kind, id: fields[1].lowercased(), value: fields[2], type: fields[3], isEnabled: fields[4] == "1",
                displayName: fields[5])
            if kind == .role { roles.append(permission) } else { scopes.append(permission) }
        }
        appRoles = roles
        self.scopes = scopes
        roleByValue = Dictionary(roles.map { ($0.value, $0) }, uniquingKeysWith: { first, _ in first })
        roleByID = Dictionary(roles.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        scopeByValue = Dictionary(scopes.map { ($0.value, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// The application permission named `value` (`User.Read.All`).
    public func appRole(named value: String) -> GraphPermission? { roleByValue[value] }

    /// The application permission with this id.
    public func appRole(id: UUID) -> GraphPermission? { roleByID[id.uuidString.lowercased()] }

    /// The delegated permission named `value` (`openid`).
    public func scope(named value: String) -> GraphPermission? { scopeByValue[value] }
}
