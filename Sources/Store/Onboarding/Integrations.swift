import Foundation
import Postgres

/// A tenant's integration as onboarding records it, and the PBX's Teams scripts.
extension OnboardingStore {
    /// Records what is known of the tenant's integration (NULLs leave a column as it was).
    public static func recordIntegration(
        tenant: Int64, path: String? = nil, entraTenantID: String? = nil, defaultDomain: String? = nil,
        appObjectID: String? = nil, appID: String? = nil, servicePrincipalID: String? = nil, phoneSystem: Bool? = nil,
        pbxURL: String? = nil, sbcFQDN: String? = nil, summary: String? = nil, onboarded: Bool = false,
        on executor: some PostgresExecutor
    ) async throws {
        try await executor.query(
            """
            INSERT INTO onboarder.integrations AS i (tenant_id, path, entra_tenant_id, default_domain, app_object_id, app_id,
                service_principal_id, phone_system_available, pbx_url, sbc_fqdn, summary, onboarded_at)
            VALUES (\(tenant), \(path), \(entraTenantID)::uuid, \(defaultDomain), \(appObjectID)::uuid, \(appID)::uuid,
                \(servicePrincipalID)::uuid, \(phoneSystem), \(pbxURL), \(sbcFQDN), \(summary),
                CASE WHEN \(onboarded) THEN now() END)
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
                onboarded_at = coalesce(EXCLUDED.onboarded_at, i.onboarded_at), updated_at = now()
            """)
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
