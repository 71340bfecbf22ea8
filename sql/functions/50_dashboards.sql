-- The dashboard views: read-only, for operators (query these, not the onboarder schema). security_invoker:
-- the viewer's row-level security applies, so an operator sees only its MSPs' rows.

-- Per MSP: jobs by state, the oldest queued job's age, jobs finished in the last hour.
CREATE OR REPLACE VIEW dashboard.queue_overview WITH (security_invoker = true) AS
SELECT m.id AS msp,
       count(j.id) FILTER (WHERE j.state = 'queued') AS queued,
       count(j.id) FILTER (WHERE j.state = 'running') AS running,
       count(j.id) FILTER (WHERE j.state = 'waiting') AS waiting,
       count(j.id) FILTER (WHERE j.state = 'needs_attention') AS needs_attention,
       count(j.id) FILTER (WHERE j.state = 'failed') AS failed,
       count(j.id) FILTER (WHERE j.state IN ('succeeded', 'succeeded_with_warnings')) AS succeeded,
       count(j.id) FILTER (WHERE j.state = 'succeeded_with_warnings') AS with_warnings,
       count(j.id) FILTER (WHERE j.state = 'cancelled') AS cancelled,
       max(now() - j.created_at) FILTER (WHERE j.state = 'queued') AS oldest_queued,
       count(j.id) FILTER (WHERE j.finished_at > now() - interval '1 hour') AS finished_last_hour
  FROM onboarder.msps m LEFT JOIN onboarder.jobs j ON j.msp_id = m.id
 GROUP BY m.id;

-- Per customer: its latest job, where it is, what it waits for, the last error in words.
CREATE OR REPLACE VIEW dashboard.tenant_status WITH (security_invoker = true) AS
SELECT t.msp_id AS msp, t.tenant_key AS tenant, i.default_domain, j.id AS job_id, j.kind, j.state,
       j.wait_reason, j.current_step, j.attempts, j.rescues,
       CASE WHEN j.state IN ('queued', 'waiting') THEN j.run_at END AS next_run,
       j.last_error, j.attention, jsonb_array_length(j.warnings) AS warnings, j.updated_at,
       i.path, i.app_id, i.sbc_fqdn, i.onboarded_at, i.summary
  FROM onboarder.tenants t
  LEFT JOIN LATERAL (SELECT * FROM onboarder.jobs j WHERE j.tenant_id = t.id ORDER BY j.id DESC LIMIT 1) j ON true
  LEFT JOIN onboarder.integrations i ON i.tenant_id = t.id;

-- What an operator must act on, with the fix in words.
CREATE OR REPLACE VIEW dashboard.needs_attention WITH (security_invoker = true) AS
SELECT j.msp_id AS msp, t.tenant_key AS tenant, j.id AS job_id, j.kind, j.current_step AS step, j.attention,
       j.attention_at AS since
  FROM onboarder.jobs j JOIN onboarder.tenants t ON t.id = j.tenant_id
 WHERE j.state = 'needs_attention';

-- Step durations over the last 24 hours (first start to done, waits included).
CREATE OR REPLACE VIEW dashboard.step_latency WITH (security_invoker = true) AS
SELECT s.step, count(*) AS done,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM s.finished_at - s.started_at)) AS p50_seconds,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM s.finished_at - s.started_at)) AS p90_seconds,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM s.finished_at - s.started_at)) AS p99_seconds
  FROM onboarder.job_steps s
 WHERE s.state = 'done' AND s.finished_at > now() - interval '24 hours'
 GROUP BY s.step;

-- Throttling (429 + Retry-After) and other waits per customer over the last 24 hours.
CREATE OR REPLACE VIEW dashboard.throttling WITH (security_invoker = true) AS
SELECT j.msp_id AS msp, t.tenant_key AS tenant,
       count(*) FILTER (WHERE e.detail->>'wait_reason' = 'throttled') AS throttled,
       count(*) FILTER (WHERE e.detail->>'wait_reason' = 'retry') AS transient_failures,
       count(*) FILTER (WHERE e.detail->>'wait_reason' = 'replication') AS replication_waits,
       max(e.at) AS last_wait
  FROM onboarder.events e JOIN onboarder.jobs j ON j.id = e.job_id JOIN onboarder.tenants t ON t.id = j.tenant_id
 WHERE e.kind = 'rescheduled' AND e.at > now() - interval '24 hours'
 GROUP BY j.msp_id, t.tenant_key;

-- Client secrets and certificates on customer apps, by days until they expire (no secret values).
CREATE OR REPLACE VIEW dashboard.credentials_expiry WITH (security_invoker = true) AS
SELECT t.msp_id AS msp, t.tenant_key AS tenant, c.kind, c.source, c.state, c.key_id, c.thumbprint,
       c.display_name, c.expires_at, floor(extract(epoch FROM c.expires_at - now()) / 86400)::integer AS days_left,
       c.created_at, c.exported_at
  FROM onboarder.credentials c JOIN onboarder.tenants t ON t.id = c.tenant_id
 WHERE c.state IN ('active', 'superseded', 'supplied', 'pending');

-- Workers, their last heartbeat and what they run.
CREATE OR REPLACE VIEW dashboard.workers WITH (security_invoker = true) AS
SELECT w.id AS worker, w.host, w.pid, w.state, w.concurrency, w.version, w.started_at, w.heartbeat_at,
       now() - w.heartbeat_at AS silent_for,
       (SELECT count(*) FROM onboarder.jobs j WHERE j.state = 'running' AND j.worker_id = w.id) AS running
  FROM onboarder.workers w;

-- Jobs that failed or stopped in the last 24 hours.
CREATE OR REPLACE VIEW dashboard.recent_failures WITH (security_invoker = true) AS
SELECT j.msp_id AS msp, t.tenant_key AS tenant, j.id AS job_id, j.kind, j.state, j.current_step AS step,
       j.last_error_class AS error_class, j.last_error AS error, j.attention_at AS at
  FROM onboarder.jobs j JOIN onboarder.tenants t ON t.id = j.tenant_id
 WHERE j.state IN ('failed', 'needs_attention') AND j.attention_at > now() - interval '24 hours';


GRANT SELECT ON dashboard.queue_overview, dashboard.tenant_status, dashboard.needs_attention,
                dashboard.step_latency, dashboard.throttling, dashboard.credentials_expiry, dashboard.workers,
                dashboard.recent_failures
   TO onboarder_worker, onboarder_operator;
