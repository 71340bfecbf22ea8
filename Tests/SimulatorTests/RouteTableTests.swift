import Simulator
import Testing

/// The router's decisions, without a server: which pattern takes a path and with what parameters, and what
/// a table answers when no route has the path or the method.
@Suite("Route patterns and tables")
struct RouteTableTests {
    struct PatternCase: Sendable, CustomTestStringConvertible {
        let pattern: String
        let path: String
        let parameters: [String: String]?
        var testDescription: String { "\(pattern) ← \(path)" }
    }

    static let patterns: [PatternCase] = [
        .init(pattern: "/v1.0/applications", path: "/v1.0/applications", parameters: [:]),
        .init(pattern: "/v1.0/applications", path: "/v1.0/applications/x", parameters: nil),
        .init(pattern: "/v1.0/applications/{id}", path: "/v1.0/applications/1234", parameters: ["id": "1234"]),
        .init(pattern: "/v1.0/applications/{id}", path: "/v1.0/users/1234", parameters: nil),
        .init(
            pattern: "/v1.0/applications/{id}/addPassword", path: "/v1.0/applications/a-b/addPassword",
            parameters: ["id": "a-b"]),
        .init(
            pattern: "/v1.0/applications/{id}/addPassword", path: "/v1.0/applications/a-b/removePassword",
            parameters: nil),
        // OData keys and functions: the parameter sits inside literal text.
        .init(
            pattern: "/v1.0/servicePrincipals(appId='{appId}')", path: "/v1.0/servicePrincipals(appId='00000003')",
            parameters: ["appId": "00000003"]),
        .init(pattern: "/v1.0/servicePrincipals(appId='{appId}')", path: "/v1.0/servicePrincipals", parameters: nil),
        .init(
            pattern: "/v1.0/servicePrincipals(appId='{appId}')", path: "/v1.0/servicePrincipals(appId='00000003",
            parameters: nil),
        .init(
            pattern: "/v1.0/applications(uniqueName='{name}')", path: "/v1.0/applications(uniqueName='it''s')",
            parameters: ["name": "it''s"]),
        .init(
            pattern: "/pbx/{pbx}/xapi/v1/Microsoft365TeamsIntegration/Pbx.CheckFqdnRecord(fqdn='{fqdn}')",
            path: "/pbx/customer4/xapi/v1/Microsoft365TeamsIntegration/Pbx.CheckFqdnRecord(fqdn='sbc.example.com')",
            parameters: ["pbx": "customer4", "fqdn": "sbc.example.com"]),
        .init(
            pattern: "/{tenant}/oauth2/{version}/token", path: "/contoso.com/oauth2/v2.0/token",
            parameters: ["tenant": "contoso.com", "version": "v2.0"]),
        .init(pattern: "/{tenant}/oauth2/{version}/token", path: "/contoso.com/oauth2/token", parameters: nil),
    ]

    @Test(arguments: patterns) func aPatternTakesItsPathsAndParameters(_ example: PatternCase) {
        #expect(PathPattern(example.pattern).match(example.path.split(separator: "/")) == example.parameters)
    }

    static let table = RouteTable<String>([
        Route("GET", "/v1.0/users") { _ in SimResponse(status: 200) },
        Route("POST", "/v1.0/users") { _ in SimResponse(status: 201) },
        Route("GET", "/v1.0/users/{id}") { _ in SimResponse(status: 200) },
        Route("POST", "/v1.0/users/{id}/assignLicense") { _ in SimResponse(status: 200) },
    ])

    enum Expected: Equatable {
        case found(String, [String: String])
        case methodNotAllowed
        case notFound(String)
    }

    static let requests: [(String, String, Expected)] = [
        ("GET", "/v1.0/users", .found("/v1.0/users", [:])),
        ("POST", "/v1.0/users", .found("/v1.0/users", [:])),
        ("GET", "/v1.0/users/alice@contoso.com", .found("/v1.0/users/{id}", ["id": "alice@contoso.com"])),
        ("DELETE", "/v1.0/users", .methodNotAllowed),
        ("GET", "/v1.0/users/u/assignLicense", .methodNotAllowed),
        // The first segment no route accepts is the one Graph names.
        ("GET", "/v1.0/groups", .notFound("groups")),
        ("GET", "/v1.0/users/u/calendar", .notFound("calendar")),
        ("GET", "/v1.0/users/u/assignLicense/more", .notFound("more")),
    ]

    @Test func aTableResolvesByPathThenMethod() {
        for (method, path, expected) in Self.requests {
            let resolved: Expected =
                switch Self.table.resolve(SimRequest(method: method, path: path)) {
                case .found(let route, let parameters): .found(route.pattern.description, parameters)
                case .methodNotAllowed: .methodNotAllowed
                case .notFound(let segment): .notFound(segment)
                }
            #expect(resolved == expected, "\(method) \(path)")
        }
    }
}
