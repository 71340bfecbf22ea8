import Graph

/// The client-secret decisions: which passwords on the app are orphans to remove, whether the recorded
/// one is still there, and how long a new one may live.
enum PasswordPlan {
    /// Passwords Onboarder made (`marker` begins their display name) that it never recorded: their secret
    /// was lost with a crash or a lost answer, nobody holds it. Passwords Onboarder recorded, or did not
    /// make, are never touched. Key ids as Graph lists them.
    static func orphans(listed: [GraphPasswordCredential], recorded: Set<String>, marker: String) -> [String] {
        listed.filter { ($0.displayName ?? "").hasPrefix(marker) && !recorded.contains($0.keyId.lowercased()) }
            .map(\.keyId)
    }

    /// Whether the password `keyID` (the recorded active one) is on the app.
    static func isListed(_ keyID: String, in listed: [GraphPasswordCredential]) -> Bool {
        listed.contains { $0.keyId.lowercased() == keyID.lowercased() }
    }

    /// The lifetime to ask for: the configured one, or the tenant policy's cap when that is shorter.
    static func lifetimeDays(configured: Int, policyCap: Int?) -> Int {
        guard let policyCap, policyCap < configured else { return configured }
        return policyCap
    }

    /// The next lifetime to try after addPassword refused `days` as too long; nil when none is left.
    static func shorter(than days: Int) -> Int? {
        guard days > 30 else { return nil }
        return [365, 180, 90, 30].first { $0 < days } ?? 30
    }
}
