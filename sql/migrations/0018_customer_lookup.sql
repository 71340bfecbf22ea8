-- A customer found by any of its names (`onboarder handover done`, `cert add --dir`, `retry`…: Tenants.matching)
-- by index, not by reading every customer: the technician names customers one at a time, and a scan of all
-- 10,000 customers per name made a run's hand-over quadratic. Each name has its index: the key as enqueued,
-- case-insensitively; the tenant id onboarding recorded; the default domain.
CREATE INDEX tenants_by_lower_key ON onboarder.tenants (lower(tenant_key));
CREATE INDEX integrations_by_entra_tenant ON onboarder.integrations (entra_tenant_id);
CREATE INDEX integrations_by_default_domain ON onboarder.integrations (default_domain);
