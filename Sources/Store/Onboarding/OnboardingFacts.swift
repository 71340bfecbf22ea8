import Foundation

/// What a pipeline run has learnt so far; checkpointed as the output of every step it completes, so a run
/// that resumes (after a retry, a crash, a rescue) starts from the facts, not from scratch.
public struct OnboardingFacts: Codable, Sendable, Equatable {
    public var entraTenantID: String?
    public var defaultDomain: String?
    public var graphServicePrincipalID: String?
    public var roleIDs: [String: String]?
    public var scopeIDs: [String: String]?
    public var phoneSystemAvailable: Bool?
    public var appObjectID: String?
    public var appID: String?
    public var appRegisteredAt: Date?
    public var servicePrincipalID: String?
    public var servicePrincipalAt: Date?
    public var passwordKeyID: String?
    public var passwordAddedAt: Date?
    public var certificateThumbprint: String?
    public var certificateAddedAt: Date?
    /// When `pbx-handover` set the PBX's ids: the technician's part starts then.
    public var handoverStartedAt: Date?
    /// What proved the PBX signs in with this job's credential (`HandoverProof`'s evidence).
    public var handoverEvidence: String?
    public var sbcFQDN: String?
    public var activationUPN: String?
    public var selectedUsers: [String]?
    /// Those of `selectedUsers` without Phone System when `m365-users` ran (its warning): the drift audit does
    /// not call that drift. nil for an onboarding from before it was recorded.
    public var usersWithoutPhoneSystem: [String]?
    public var warnings: [String] = []
    // Rotation
    public var rotatedCredentialID: Int64?
    public var rotatedKeyID: String?
    public var newCredentialID: Int64?
    public var handedOverAt: Date?
    /// Rotation: when Onboarder's own proof signed in with the new secret, by Onboarder's clock and, when
    /// the sign-in report showed it, by Entra's.
    public var provenAt: Date?
    public var proofReportedAt: Date?
    public var rotatedThumbprint: String?
    // Offboarding: what the survey read (`Offboarding.swift`)
    public var offboardSurvey: OffboardSurvey?

    public init() {}
}
