/// A step of a pipeline job. The raw value is the step's name in `onboarder.job_steps`, in the dashboards
/// and in `ONBOARDER_CRASH_AT`; a job's checkpoints name steps by it, so a raw value never changes.
public enum Step: String, CaseIterable, Sendable, CustomStringConvertible {
    // Onboarding, both paths
    case resolveTenant = "resolve-tenant"
    case appRegistration = "app-registration"
    case servicePrincipal = "service-principal"
    case consent
    case clientSecret = "client-secret"
    case certificate
    case pbxHandover = "pbx-handover"
    case verify
    // Teams Direct Routing
    case teamsDomain = "teams-domain"
    case teamsActivationUser = "teams-activation-user"
    case teamsPBX = "teams-pbx"
    // Microsoft 365
    case m365Users = "m365-users"
    case finish
    // Client-secret rotation
    case rotateAddPassword = "rotate-add-password"
    case rotateProve = "rotate-prove"
    case rotateHandover = "rotate-handover"
    case rotateTestPBX = "rotate-test-pbx"
    case rotateGrace = "rotate-grace"
    case rotateRemoveOld = "rotate-remove-old"
    // Certificate rotation
    case rotateCertificateNew = "rotate-cert-new"
    case rotateCertificateProve = "rotate-cert-prove"
    case rotateCertificateGrace = "rotate-cert-grace"
    case rotateCertificateRemoveOld = "rotate-cert-remove-old"
    // Offboarding (OffboardingHandler): the survey, then the removals in the order OffboardPlan gives
    case offboardSurvey = "offboard-survey"
    case offboardPBX = "offboard-pbx"
    case offboardActivationUser = "offboard-activation-user"
    case offboardDomain = "offboard-domain"
    case offboardDNS = "offboard-dns"
    case offboardApp = "offboard-app"
    case offboardRecords = "offboard-records"

    public var description: String { rawValue }

    /// The steps of an onboarding on `path` (`teams` or `m365`), in order. The PBX gets its ids
    /// (`pbx-handover`) before the job waits for its certificate, so the technician can do the whole
    /// Microsoft 365 page at once; a job checkpointed under the older order resumes by step name.
    public static func onboarding(path: String) -> [Step] {
        [
            .resolveTenant, .appRegistration, .servicePrincipal, .consent, .clientSecret, .pbxHandover, .certificate,
            .verify,
        ]
            + (path == "teams" ? [.teamsDomain, .teamsActivationUser, .teamsPBX] : [.m365Users]) + [.finish]
    }

    public static let secretRotation: [Step] = [
        .rotateAddPassword, .rotateProve, .rotateHandover, .rotateTestPBX, .rotateGrace, .rotateRemoveOld,
    ]

    public static let certificateRotation: [Step] = [
        .rotateCertificateNew, .rotateCertificateProve, .rotateCertificateGrace, .rotateCertificateRemoveOld,
    ]

    /// The steps of an offboarding: a dry run only surveys (it writes nothing anywhere). The Teams steps run
    /// on the Microsoft 365 path too and find nothing to remove; the plan decides, not the list.
    public static func offboarding(dryRun: Bool) -> [Step] {
        dryRun
            ? [.offboardSurvey]
            : [
                .offboardSurvey, .offboardPBX, .offboardActivationUser, .offboardDomain, .offboardDNS, .offboardApp,
                .offboardRecords,
            ]
    }
}

extension Run {
    /// Runs one step: each observes (reads Graph, the PBX, the store), decides (a pure plan of what it
    /// observed, the facts, the settings and the time) and applies (writes).
    mutating func perform(_ step: Step) async throws -> StepResult {
        switch step {
        case .resolveTenant: return try await resolveTenant()
        case .appRegistration: try await registerApp()
        case .servicePrincipal: try await servicePrincipal()
        case .consent: try await consent()
        case .clientSecret: return try await clientSecret()
        case .certificate, .rotateCertificateNew: return try await certificate(step: step)
        case .pbxHandover: try await pbxHandover()
        case .verify: return try await verify()
        case .teamsDomain: return try await teamsDomain()
        case .teamsActivationUser: try await activationUser()
        case .teamsPBX: try await teamsPBX()
        case .m365Users: try await m365Users()
        case .finish: try await finish()
        case .rotateAddPassword: return try await rotateAddPassword()
        case .rotateProve: try await rotateProve()
        case .rotateHandover: return try await rotateHandover()
        case .rotateTestPBX: return try await rotateTestPBX()
        case .rotateGrace, .rotateCertificateGrace: return try await rotateGrace()
        case .rotateRemoveOld: return try await rotateRemoveOld()
        case .rotateCertificateProve: try await rotateCertificateProve()
        case .rotateCertificateRemoveOld: return try await rotateCertificateRemoveOld()
        case .offboardSurvey: try await offboardSurvey()
        case .offboardPBX: try await offboardPBX()
        case .offboardActivationUser: try await offboardActivationUser()
        case .offboardDomain: try await offboardDomain()
        case .offboardDNS: try await offboardDNS()
        case .offboardApp: try await offboardApp()
        case .offboardRecords: return try await offboardRecords()
        }
        return .done
    }
}
