import Graph

/// The client-secret decisions: which passwords on the app are orphans to remove, whether the recorded
/// one is still there, and how long a new one may live.
enum PasswordPlan {
    /// Passwords Onboarder can prove it made and nobody holds: their secret was lost with a crash or a lost
    /// answer. Proof that Onboarder made one is its display name, `<marker> job N`, N a job of this customer
    /// row (`ours`: Onboarder's jobs of this row among the names' N, this job included); the marker alone is
    /// a display name anybody can type. Never removed: a password Onboarder recorded (for any customer row
    /// on this app: `recorded`); one it did not make, or that names no job, or a job of another customer row
    /// (the same tenant enqueued under another key before 0011, whose job may hold it); one made by another
    /// job that may still record it (N in `busyJobs` and not `job`): that job's secret may be in a PBX by the
    /// time it records it. Key ids as Graph lists them.
    static func orphans(
        listed: [GraphPasswordCredential], recorded: Set<String>, marker: String, job: Int64, ours: Set<Int64>,
        busyJobs: Set<Int64> = []
    ) -> [String] {
        listed.filter { password in
            let name = password.displayName ?? ""
            guard !recorded.contains(password.keyId.lowercased()), let maker = Self.job(named: name, marker: marker),
                ours.contains(maker)
            else { return false }
            return maker == job || !busyJobs.contains(maker)
        }
        .map(\.keyId)
    }

    /// The job a password's display name says made it (`<marker> job 12`), nil when it names none.
    static func job(named displayName: String, marker: String) -> Int64? {
        guard displayName.hasPrefix(marker + " job ") else { return nil }
        return Int64(displayName.dropFirst(marker.count + 5))
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
