import Foundation
import Graph
import PBX
import Store

extension Run {
    /// `pbx-handover`: the PBX's Microsoft 365 integration names the tenant and the app.
    mutating func pbxHandover() async throws {
        let pbx = try await pbx()
        let appID = try require(facts.appID, "app id")
        let current = try await pbx.microsoft365Integration()
        if current.TenantId?.lowercased() != tenant || current.ApplicationId?.lowercased() != appID {
            try await pbx.setMicrosoft365Application(tenantID: tenant, applicationID: appID)
        }
        // The XAPI has no field for the client secret (Tests/Fixtures/3cx/README.md): an operator hands it over,
        // exported once with `onboarder secret export`.
        if facts.secretHandedOff != true {
            facts.secretHandedOff = true
            try await OnboardingStore.event(
                job: job.id, kind: "secret_handoff", step: Step.pbxHandover.rawValue,
                detail: [
                    "key_id": facts.passwordKeyID ?? "", "export": "onboarder secret export \(job.tenantKey)",
                ], on: pool)
        }
    }

    /// `verify` ("Log into Microsoft 365"): the secret and Onboarder's certificate sign in, and the PBX's
    /// own check passes.
    mutating func verify() async throws {
        guard let password = try await OnboardingStore.activePassword(tenant: job.tenantID, on: pool) else {
            throw StepStop.attention("No client secret is recorded for this tenant; onboarder retry adds one.")
        }
        try await prove(.secret(try openPassword(password.sealed)), addedAt: facts.passwordAddedAt)
        if let active = try await OnboardingStore.certificates(tenant: job.tenantID, on: pool).first(where: {
            $0.state == .active && $0.thumbprint == facts.certificateThumbprint
        }), let credential = try credential(of: active) {
            try await prove(credential, addedAt: facts.certificateAddedAt)
        }
        let test = try await pbx().testSubscription()
        switch PBXCheck.verdict(
            available: test.IsSubscriptionAvailable, message: test.ExceptionMessage,
            credentialAddedAt: facts.passwordAddedAt, now: Date(), window: settings.replicationWindow)
        {
        case .passes:
            return
        case .propagating(let message):
            throw StepStop.retry(.replication, "the PBX's Microsoft 365 check does not pass yet: \(message)")
        case .fails(let message):
            throw StepStop.attention(
                "The PBX's own Microsoft 365 check (TestSubscription) fails: \(message). Check the PBX's Microsoft 365 settings, then onboarder retry."
            )
        }
    }
}
