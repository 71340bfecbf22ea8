/// The deployment's rules an enqueue file is checked against beyond syntax: what its secret references
/// may name and where PBX secrets may go. The worker checks both again before it reads a secret or sends
/// one, so these are the early, per-line report, not the only guard.
public struct EnqueueRules: Sendable, Equatable {
    public var references: SecretReferencePolicy
    public var pbxEndpoints: PBXEndpointPolicy

    public init(
        references: SecretReferencePolicy = SecretReferencePolicy(
            environmentPrefixes: SecretReferencePolicy.defaultEnvironmentPrefixes),
        pbxEndpoints: PBXEndpointPolicy = PBXEndpointPolicy()
    ) {
        self.references = references
        self.pbxEndpoints = pbxEndpoints
    }

    /// Nil when `text` is a reference the deployment lets `msp`'s rows use.
    public func secretReferenceProblem(_ text: String, msp: String) -> String? {
        switch SecretReference.parse(text) {
        case .failure(let error): error.description
        case .success(let reference): references.forMSP(msp).problem(reference)
        }
    }
}
