-- MSPs as `onboarder msp add|set` records them (sql/migrations/0009_msp_profiles.sql), for operators: each
-- MSP's cloud, partner app, consent mode, DNS and limits beside its jobs running now. security_invoker: an
-- operator sees its own MSPs only. No credential, sealed or not, is in it (operators may not read
-- onboarder.msp_secrets; `onboarder msp show` as the owner or a worker says which credential is stored).

CREATE OR REPLACE VIEW dashboard.msps WITH (security_invoker = true) AS
SELECT m.id AS msp, m.display_name, m.cloud,
       coalesce(m.partner_client_id::text, 'configuration') AS partner_app,
       m.partner_tenant_id AS partner_tenant,
       m.consent_mode,
       coalesce(m.dns_provider, 'configuration') AS dns_provider,
       m.dns_zone,
       m.allowed_pbx_hosts,
       m.max_running,
       (SELECT count(*) FROM onboarder.jobs j WHERE j.msp_id = m.id AND j.state = 'running') AS running,
       m.writes_per_second,
       m.created_at, m.updated_at
  FROM onboarder.msps m;

REVOKE ALL ON dashboard.msps FROM PUBLIC, onboarder_worker, onboarder_enqueuer, onboarder_operator;
GRANT SELECT ON dashboard.msps TO onboarder_worker, onboarder_operator;
