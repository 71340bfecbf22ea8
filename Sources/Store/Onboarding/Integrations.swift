import Foundation
import Postgres

/// What a step learnt of a tenant's integration (`onboarder.integrations`), to record: nil leaves a column as
/// it was; `onboarded` marks the tenant onboarded now, and clears an earlier offboarding (a customer
/// offboarded before is onboarded again).
public struct IntegrationRecord: Sendable, Equatable {
    public var path, entraTenantID, defaultDomain, appObjectID, appID, servicePrincipalID: String?
    public var phoneSystem: Bool?
    public var pbxURL, sbcFQDN, summary: String?
    public var onboarded: Bool

    public init(
        path: String? = nil, entraTenantID: String? = nil, defaultDomain: String? = nil, appObjectID: String? = nil,
        appID: String? = nil, servicePrincipalID: String? = nil, phoneSystem: Bool? = nil, pbxURL: String? = nil,
        sbcFQDN: String? = nil, summary: String? = nil, onboarded: Bool = false
    ) {
        (self.path, self.entraTenantID, self.defaultDomain, self.appObjectID, self.appID) =
            (path, entraTenantID, defaultDomain, appObjectID, appID)
        (self.servicePrincipalID, self.phoneSystem, self.pbxURL, self.sbcFQDN, self.summary, self.onboarded) =
            (servicePrincipalID, phoneSystem, pbxURL, sbcFQDN, summary, onboarded)
    }

    /// This record with `newer`'s values where it has them (two steps' findings before one checkpoint).
    public func merged(with newer: IntegrationRecord) -> IntegrationRecord {
        IntegrationRecord(
            path: newer.path ?? path, entraTenantID: newer.entraTenantID ?? entraTenantID,
            defaultDomain: newer.defaultDomain ?? defaultDomain, appObjectID: newer.appObjectID ?? appObjectID,
            appID: newer.appID ?? appID, servicePrincipalID: newer.servicePrincipalID ?? servicePrincipalID,
            phoneSystem: newer.phoneSystem ?? phoneSystem, pbxURL: newer.pbxURL ?? pbxURL,
            sbcFQDN: newer.sbcFQDN ?? sbcFQDN, summary: newer.summary ?? summary,
            onboarded: newer.onboarded || onboarded)
    }
}

/// A tenant's integration as onboarding records it, and the PBX's Teams scripts.
extension OnboardingStore {
    /// Records `integration` for `tenant` on its own (a step's checkpoint records it with the step: `complete`).
    public static func record(
        _ integration: IntegrationRecord, tenant: Int64, on executor: some PostgresExecutor
    ) async throws {
        try await executor.query("\(integrationUpsert(integration, tenant: tenant))")
    }

    /// The statement recording `integration`: an insert of the tenant's row, or an update of the columns it
    /// names.
    static func integrationUpsert(_ r: IntegrationRecord, tenant: Int64) -> PostgresFragment {
        """
        INSERT INTO onboarder.integrations AS i (tenant_id, path, entra_tenant_id, default_domain, app_object_id, app_id,
            service_principal_id, phone_system_available, pbx_url, sbc_fqdn, summary, onboarded_at)
        VALUES (\(tenant), \(r.path), \(r.entraTenantID)::uuid, \(r.defaultDomain), \(r.appObjectID)::uuid, \(r.appID)::uuid,
            \(r.servicePrincipalID)::uuid, \(r.phoneSystem), \(r.pbxURL), \(r.sbcFQDN), \(r.summary),
            CASE WHEN \(r.onboarded) THEN now() END)
        ON CONFLICT (tenant_id) DO UPDATE SET
            path = coalesce(EXCLUDED.path, i.path),
            entra_tenant_id = coalesce(EXCLUDED.entra_tenant_id, i.entra_tenant_id),
            default_domain = coalesce(EXCLUDED.default_domain, i.default_domain),
            app_object_id = coalesce(EXCLUDED.app_object_id, i.app_object_id),
            app_id = coalesce(EXCLUDED.app_id, i.app_id),
            service_principal_id = coalesce(EXCLUDED.service_principal_id, i.service_principal_id),
            phone_system_available = coalesce(EXCLUDED.phone_system_available, i.phone_system_available),
            pbx_url = coalesce(EXCLUDED.pbx_url, i.pbx_url), sbc_fqdn = coalesce(EXCLUDED.sbc_fqdn, i.sbc_fqdn),
            summary = coalesce(EXCLUDED.summary, i.summary),
            onboarded_at = coalesce(EXCLUDED.onboarded_at, i.onboarded_at),
            offboarded_at = CASE WHEN \(r.onboarded) THEN NULL ELSE i.offboarded_at END,
            offboard_job_id = CASE WHEN \(r.onboarded) THEN NULL ELSE i.offboard_job_id END,
            updated_at = now()
        """
    }

    public static func storeScript(
        tenant: Int64, job: Int64, name: String, body: String, on executor: some PostgresExecutor
    ) async throws {
        try await executor.query(
            """
            INSERT INTO onboarder.scripts (tenant_id, name, body, job_id) VALUES (\(tenant), \(name), \(body), \(job))
            ON CONFLICT (tenant_id, name) DO UPDATE SET body = EXCLUDED.body, job_id = EXCLUDED.job_id, fetched_at = now()
            """)
    }
}
