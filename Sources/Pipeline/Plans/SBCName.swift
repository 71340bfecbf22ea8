import Foundation

/// The Teams path's SBC domain: the enqueued `sbc_domain` when it is a full name; else a label (the
/// enqueued one, or the first label of the tenant's default domain, or of a tenant key that is a domain)
/// under `onboarding.sbc_parent_domain`. Lower case.
enum SBCName {
    /// Nil when there is no label or no parent domain to put it under.
    static func fqdn(sbcDomain: String?, defaultDomain: String?, tenantKey: String, parent: String) -> String? {
        if let given = sbcDomain?.lowercased(), given.contains(".") { return given }
        let label =
            sbcDomain?.lowercased()
            ?? (defaultDomain ?? (UUID(uuidString: tenantKey) == nil ? tenantKey.lowercased() : nil))
            .map { String($0.prefix { $0 != "." }) }
        guard let label, !parent.isEmpty else { return nil }
        return "\(label).\(parent.lowercased())"
    }
}
