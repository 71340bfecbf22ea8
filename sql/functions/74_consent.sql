-- The customers whose tenant has not (or only partly) consented to their MSP's partner app: jobs waiting for
-- input at `resolve-tenant`, which look again on their own (`onboarder consent links`, the dashboard).

-- Jobs waiting for the partner app's consent, oldest wait first. What is missing and the link come from the
-- job's latest look (its `consent_check` event), so the view says what the worker saw, not a guess.
--   tenant_id          the customer's directory (Entra tenant) id: the resolved one, else the key as enqueued
--                      when it is a GUID (a domain names the tenant too: the link's tenant is in consent_url)
--   waiting_since      the first look of this wait (counted again after an operator's retry)
--   missing            the Microsoft Graph application roles the partner app lacks there, sorted
--   service_principal  false: the partner app has no service principal there (never consented at all)
--   consent_url        Microsoft's admin-consent link for the partner app in that tenant, on the MSP's
--                      cloud's login host, as the worker built it
--   client_id          the partner app the link is for
--   checks             how many times the job looked since the wait began
--   message            the job's wait message
--   customer_id        onboarder.tenants.id
-- security_invoker: the viewer's row-level security applies (an operator sees only its MSPs' customers).
CREATE OR REPLACE VIEW dashboard.consent_waiting WITH (security_invoker = true) AS
SELECT j.msp_id AS msp, t.tenant_key AS customer,
       coalesce(i.entra_tenant_id::text,
                CASE WHEN t.tenant_key ~* '^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$' THEN lower(t.tenant_key) END)
           AS tenant_id,
       j.id AS job_id,
       coalesce(f.since, k.at) AS waiting_since,
       coalesce(string_to_array(nullif(k.detail->>'missing', ''), ','), ARRAY[]::text[]) AS missing,
       coalesce((k.detail->>'service_principal')::boolean, false) AS service_principal,
       k.detail->>'consent_url' AS consent_url,
       k.detail->>'client_id' AS client_id,
       f.checks,
       j.last_error AS message,
       t.id AS customer_id
  FROM onboarder.jobs j
  JOIN onboarder.tenants t ON t.id = j.tenant_id
  LEFT JOIN onboarder.integrations i ON i.tenant_id = j.tenant_id
  -- The latest look.
  JOIN LATERAL (
      SELECT e.at, e.detail FROM onboarder.events e
       WHERE e.job_id = j.id AND e.kind = 'consent_check' AND e.step = 'resolve-tenant'
       ORDER BY e.id DESC LIMIT 1
  ) k ON true
  -- The looks of this wait: since the operator's last retry, if any.
  LEFT JOIN LATERAL (
      SELECT min(e.at) AS since, count(*)::int AS checks FROM onboarder.events e
       WHERE e.job_id = j.id AND e.kind = 'consent_check'
         AND e.at > coalesce((SELECT max(r.at) FROM onboarder.events r WHERE r.job_id = j.id AND r.kind = 'retried'),
                             '-infinity')
  ) f ON true
 WHERE j.state = 'waiting' AND j.wait_reason = 'input' AND j.current_step = 'resolve-tenant'
 ORDER BY waiting_since, j.id;

-- Read-only, as the other dashboard views: operators (their MSPs' rows), and the workers' service login.
REVOKE ALL ON dashboard.consent_waiting FROM PUBLIC, onboarder_worker, onboarder_enqueuer, onboarder_operator;
GRANT SELECT ON dashboard.consent_waiting TO onboarder_worker, onboarder_operator;
