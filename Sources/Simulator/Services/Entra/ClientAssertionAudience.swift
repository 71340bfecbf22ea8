/// The audiences Entra accepts in a client assertion: its token endpoint as the client reached it —
/// this scheme and host, the tenant named by its id or a domain, the v2.0 or the v1 path. Compared
/// lowercased: hosts and tenant names are case-insensitive.
package enum ClientAssertionAudience {
    package static func accepted(base: String, tenantNames: [String]) -> Set<String> {
        Set(
            tenantNames.flatMap { tenant in
                ["oauth2/v2.0/token", "oauth2/token"].map { "\(base)/\(tenant)/\($0)".lowercased() }
            })
    }
}
