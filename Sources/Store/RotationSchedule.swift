import Foundation
import Postgres
import Queue

/// A credential due for rotation, with what its rotation job needs.
public struct DueCredential: Sendable {
    public let credentialID: Int64
    public let msp: String
    public let tenantKey: String
    /// The secret's key id or the certificate's thumbprint.
    public let keyID: String
    public let expiresAt: Date?
    /// `password` or `certificate`.
    public let kind: String
    /// The customer's latest onboarding payload (the PBX's details the rotation reuses); nil when it was
    /// never onboarded.
    public let onboardingPayload: PostgresJSON?

    public init(
        credentialID: Int64, msp: String, tenantKey: String, keyID: String, expiresAt: Date?, kind: String,
        onboardingPayload: PostgresJSON?
    ) {
        self.credentialID = credentialID
        self.msp = msp
        self.tenantKey = tenantKey
        self.keyID = keyID
        self.expiresAt = expiresAt
        self.kind = kind
        self.onboardingPayload = onboardingPayload
    }

    /// The rotation job for this credential: the onboarding payload plus its credential_id, one job per
    /// credential however often it is asked for (the idempotency key). Nil without an onboarding payload.
    public var rotationRequest: EnqueueRequest? {
        guard let onboardingPayload,
            let object = try? JSONSerialization.jsonObject(with: Data(onboardingPayload.text.utf8)) as? [String: Any],
            let data = try? JSONSerialization.data(
                withJSONObject: object.merging(["credential_id": credentialID]) { $1 })
        else { return nil }
        return EnqueueRequest(
            msp: msp, tenantKey: tenantKey, kind: kind == "password" ? "rotate-secret" : "rotate-certificate",
            payload: PostgresJSON(text: String(decoding: data, as: UTF8.self)),
            idempotencyKey: "rotate-secret:\(credentialID)", subject: keyID)
    }
}

/// A rotation job that stopped: it needs an operator, or failed.
public struct StoppedRotation: Sendable, Equatable {
    public let job: Int64
    public let tenantKey: String
    public let state: String
    /// The attention message or last error.
    public let reason: String
}

/// What `onboarder rotate-secrets` finds due, enqueues and waits for.
public enum RotationSchedule {
    /// Which credentials a run rotates.
    public enum Scope: String, Sendable, CaseIterable {
        case all, secrets, certificates

        var kinds: [String] {
            switch self {
            case .all: ["password", "certificate"]
            case .secrets: ["password"]
            case .certificates: ["certificate"]
            }
        }
    }

    /// Active credentials of `scope` expiring within `window` (every one selected, with `force`), of
    /// `msp`'s or `tenant`'s customers when given, soonest expiry first.
    public static func due(
        scope: Scope, within window: Duration, force: Bool, msp: String?, tenant: Int64?,
        on executor: some PostgresExecutor
    ) async throws -> [DueCredential] {
        let seconds = window.components.seconds
        return try await executor.query(
            """
            SELECT c.id, t.msp_id, t.tenant_key, coalesce(c.key_id::text, c.thumbprint), c.expires_at, c.kind,
                   (SELECT j.payload FROM onboarder.jobs j WHERE j.tenant_id = t.id AND j.kind = 'onboard'
                     ORDER BY j.id DESC LIMIT 1) AS payload
              FROM onboarder.credentials c JOIN onboarder.tenants t ON t.id = c.tenant_id
             WHERE c.kind = ANY(\(scope.kinds))
               AND c.state = 'active'
               AND (\(force) OR c.expires_at < now() + \(Int(seconds)) * interval '1 second')
               AND (\(msp)::text IS NULL OR t.msp_id = \(msp))
               AND (\(tenant)::bigint IS NULL OR t.id = \(tenant))
             ORDER BY c.expires_at
            """
        ).map { row in
            let (id, msp, key, keyID, expires, kind, payload) = try row.decode(
                (Int64, String, String, String, Date?, String, PostgresJSON?).self)
            return DueCredential(
                credentialID: id, msp: msp, tenantKey: key, keyID: keyID, expiresAt: expires, kind: kind,
                onboardingPayload: payload)
        }
    }

    /// Rotation jobs in needs_attention or failed, of `msp`'s or `tenant`'s customers when given.
    public static func stopped(msp: String?, tenant: Int64?, on executor: some PostgresExecutor) async throws
        -> [StoppedRotation]
    {
        try await executor.query(
            """
            SELECT j.id, t.tenant_key, j.state, coalesce(j.attention, j.last_error, '')
              FROM onboarder.jobs j JOIN onboarder.tenants t ON t.id = j.tenant_id
             WHERE j.kind IN ('rotate-secret', 'rotate-certificate') AND j.state IN ('needs_attention', 'failed')
               AND (\(msp)::text IS NULL OR j.msp_id = \(msp)) AND (\(tenant)::bigint IS NULL OR t.id = \(tenant))
            """
        ).map { row in
            let (id, key, state, why) = try row.decode((Int64, String, String, String).self)
            return StoppedRotation(job: id, tenantKey: key, state: state, reason: why)
        }
    }
}
