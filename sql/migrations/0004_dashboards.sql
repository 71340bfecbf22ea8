-- The operators' surface in SQL: dashboard views (psql, Grafana's PostgreSQL data source, Metabase), and
-- the roles and row-level security that hold each MSP's operators to their own customers.
--
-- Roles (group roles, NOLOGIN; grant them to login roles):
--   onboarder_worker     runs the workers: reads and writes everything
--   onboarder_enqueuer   may call onboarder.enqueue / enqueue_many, nothing else
--   onboarder_operator   reads the dashboard views and the tables, only the rows of the MSPs listed for
--                        its login role in onboarder.operator_msps; writes nothing; never sees a sealed secret
-- The roles are created here when the migrating user may create roles; otherwise a NOTICE says so and a
-- superuser creates them (the statements are in the README).

-- Why a job waited, on the history of each reschedule (the throttling view counts these).
CREATE OR REPLACE FUNCTION onboarder.finish(p_worker text, p_items jsonb) RETURNS SETOF bigint LANGUAGE plpgsql AS $$
DECLARE
    ids bigint[];
BEGIN
    WITH input AS (
        SELECT * FROM jsonb_to_recordset(p_items)
                 AS i(id bigint, state text, run_at timestamptz, delay_ms bigint, wait_reason text,
                      error_class text, error text, attention text, warnings jsonb, uncount boolean)
    ), done AS (
        UPDATE onboarder.jobs j
           SET state = i.state,
               wait_reason = CASE WHEN i.state = 'waiting' THEN i.wait_reason END,
               run_at = coalesce(i.run_at, now() + i.delay_ms * interval '1 millisecond', j.run_at),
               worker_id = NULL,
               attempts = CASE WHEN i.uncount THEN greatest(j.attempts - 1, 0) ELSE j.attempts END,
               last_error_class = coalesce(i.error_class, j.last_error_class),
               last_error = coalesce(i.error, j.last_error),
               attention = CASE WHEN i.state = 'needs_attention' THEN i.attention END,
               warnings = j.warnings || coalesce(i.warnings, '[]'),
               finished_at = CASE WHEN i.state IN ('succeeded', 'succeeded_with_warnings', 'failed', 'cancelled')
                                  THEN now() END,
               updated_at = now()
          FROM input i
         WHERE j.id = i.id AND j.state = 'running' AND j.worker_id = p_worker
        RETURNING j.id, j.msp_id, j.tenant_id, j.state, j.wait_reason, j.current_step
    ), logged AS (
        INSERT INTO onboarder.events (job_id, kind, worker_id, step, detail)
        SELECT id, CASE state WHEN 'queued' THEN 'released' WHEN 'waiting' THEN 'rescheduled' ELSE state END, p_worker,
               current_step, CASE WHEN wait_reason IS NOT NULL THEN jsonb_build_object('wait_reason', wait_reason) END
          FROM done
    )
    SELECT array_agg(id) INTO ids FROM done;
    IF cardinality(ids) > 0 THEN PERFORM pg_notify('onboarder_jobs', ''); END IF;
    RETURN QUERY SELECT unnest(ids);
END $$;

-- Indexes the views use: a tenant's latest job, recent history.
CREATE INDEX jobs_by_tenant ON onboarder.jobs (tenant_id, id DESC);
CREATE INDEX jobs_finished ON onboarder.jobs (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX jobs_attention ON onboarder.jobs (updated_at) WHERE state IN ('needs_attention', 'failed');
CREATE INDEX events_recent_waits ON onboarder.events (at) WHERE kind = 'rescheduled';
CREATE INDEX job_steps_finished ON onboarder.job_steps (finished_at) WHERE finished_at IS NOT NULL;

-- MARK: isolation

CREATE TABLE onboarder.operator_msps (
    role_name name NOT NULL,
    msp_id    text NOT NULL REFERENCES onboarder.msps,
    PRIMARY KEY (role_name, msp_id)
);
COMMENT ON TABLE onboarder.operator_msps IS 'Which MSPs each operator login role may see (row-level security).';

-- Whether the current user sees every MSP (a member of onboarder_worker), and otherwise which MSPs it
-- sees (those listed for a role it is a member of). The tables' owner bypasses row-level security.
CREATE FUNCTION onboarder.sees_all_msps() RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = 'onboarder_worker'
                      AND pg_has_role(current_user, r.oid, 'member'))
$$;
CREATE FUNCTION onboarder.my_msps() RETURNS SETOF text LANGUAGE sql STABLE AS $$
    SELECT o.msp_id FROM onboarder.operator_msps o JOIN pg_roles r ON r.rolname = o.role_name
     WHERE pg_has_role(current_user, r.oid, 'member')
$$;

ALTER TABLE onboarder.msps ENABLE ROW LEVEL SECURITY;
ALTER TABLE onboarder.tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE onboarder.jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE onboarder.job_steps ENABLE ROW LEVEL SECURITY;
ALTER TABLE onboarder.events ENABLE ROW LEVEL SECURITY;
ALTER TABLE onboarder.integrations ENABLE ROW LEVEL SECURITY;
ALTER TABLE onboarder.credentials ENABLE ROW LEVEL SECURITY;
ALTER TABLE onboarder.scripts ENABLE ROW LEVEL SECURITY;
ALTER TABLE onboarder.operator_msps ENABLE ROW LEVEL SECURITY;

CREATE POLICY msp_rows ON onboarder.msps USING (onboarder.sees_all_msps() OR id IN (SELECT onboarder.my_msps()));
CREATE POLICY msp_rows ON onboarder.tenants
    USING (onboarder.sees_all_msps() OR msp_id IN (SELECT onboarder.my_msps()));
CREATE POLICY msp_rows ON onboarder.jobs
    USING (onboarder.sees_all_msps() OR msp_id IN (SELECT onboarder.my_msps()));
CREATE POLICY msp_rows ON onboarder.job_steps
    USING (EXISTS (SELECT 1 FROM onboarder.jobs j WHERE j.id = job_id));
CREATE POLICY msp_rows ON onboarder.events
    USING (EXISTS (SELECT 1 FROM onboarder.jobs j WHERE j.id = job_id));
CREATE POLICY msp_rows ON onboarder.integrations
    USING (EXISTS (SELECT 1 FROM onboarder.tenants t WHERE t.id = tenant_id));
CREATE POLICY msp_rows ON onboarder.credentials
    USING (EXISTS (SELECT 1 FROM onboarder.tenants t WHERE t.id = tenant_id));
CREATE POLICY msp_rows ON onboarder.scripts
    USING (EXISTS (SELECT 1 FROM onboarder.tenants t WHERE t.id = tenant_id));
CREATE POLICY own_rows ON onboarder.operator_msps
    USING (onboarder.sees_all_msps()
           OR EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = role_name AND pg_has_role(current_user, r.oid, 'member')));

-- MARK: dashboard views (security_invoker: the viewer's row-level security applies)

-- Per MSP: jobs by state, the oldest queued job's age, jobs finished in the last hour.
CREATE VIEW dashboard.queue_overview WITH (security_invoker = true) AS
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
CREATE VIEW dashboard.tenant_status WITH (security_invoker = true) AS
SELECT t.msp_id AS msp, t.tenant_key AS tenant, i.default_domain, j.id AS job_id, j.kind, j.state,
       j.wait_reason, j.current_step, j.attempts, j.rescues,
       CASE WHEN j.state IN ('queued', 'waiting') THEN j.run_at END AS next_run,
       j.last_error, j.attention, jsonb_array_length(j.warnings) AS warnings, j.updated_at,
       i.path, i.app_id, i.sbc_fqdn, i.onboarded_at, i.summary
  FROM onboarder.tenants t
  LEFT JOIN LATERAL (SELECT * FROM onboarder.jobs j WHERE j.tenant_id = t.id ORDER BY j.id DESC LIMIT 1) j ON true
  LEFT JOIN onboarder.integrations i ON i.tenant_id = t.id;

-- What an operator must act on, with the fix in words.
CREATE VIEW dashboard.needs_attention WITH (security_invoker = true) AS
SELECT j.msp_id AS msp, t.tenant_key AS tenant, j.id AS job_id, j.kind, j.current_step AS step, j.attention,
       j.updated_at AS since
  FROM onboarder.jobs j JOIN onboarder.tenants t ON t.id = j.tenant_id
 WHERE j.state = 'needs_attention';

-- Step durations over the last 24 hours (first start to done, waits included).
CREATE VIEW dashboard.step_latency WITH (security_invoker = true) AS
SELECT s.step, count(*) AS done,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM s.finished_at - s.started_at)) AS p50_seconds,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM s.finished_at - s.started_at)) AS p90_seconds,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM s.finished_at - s.started_at)) AS p99_seconds
  FROM onboarder.job_steps s
 WHERE s.state = 'done' AND s.finished_at > now() - interval '24 hours'
 GROUP BY s.step;

-- Throttling (429 + Retry-After) and other waits per customer over the last 24 hours.
CREATE VIEW dashboard.throttling WITH (security_invoker = true) AS
SELECT j.msp_id AS msp, t.tenant_key AS tenant,
       count(*) FILTER (WHERE e.detail->>'wait_reason' = 'throttled') AS throttled,
       count(*) FILTER (WHERE e.detail->>'wait_reason' = 'retry') AS transient_failures,
       count(*) FILTER (WHERE e.detail->>'wait_reason' = 'replication') AS replication_waits,
       max(e.at) AS last_wait
  FROM onboarder.events e JOIN onboarder.jobs j ON j.id = e.job_id JOIN onboarder.tenants t ON t.id = j.tenant_id
 WHERE e.kind = 'rescheduled' AND e.at > now() - interval '24 hours'
 GROUP BY j.msp_id, t.tenant_key;

-- Client secrets and certificates on customer apps, by days until they expire (no secret values).
CREATE VIEW dashboard.credentials_expiry WITH (security_invoker = true) AS
SELECT t.msp_id AS msp, t.tenant_key AS tenant, c.kind, c.source, c.state, c.key_id, c.thumbprint,
       c.display_name, c.expires_at, floor(extract(epoch FROM c.expires_at - now()) / 86400)::integer AS days_left,
       c.created_at, c.exported_at
  FROM onboarder.credentials c JOIN onboarder.tenants t ON t.id = c.tenant_id
 WHERE c.state IN ('active', 'superseded', 'supplied', 'pending');

-- Workers, their last heartbeat and what they run.
CREATE VIEW dashboard.workers WITH (security_invoker = true) AS
SELECT w.id AS worker, w.host, w.pid, w.state, w.concurrency, w.version, w.started_at, w.heartbeat_at,
       now() - w.heartbeat_at AS silent_for,
       (SELECT count(*) FROM onboarder.jobs j WHERE j.state = 'running' AND j.worker_id = w.id) AS running
  FROM onboarder.workers w;

-- Jobs that failed or stopped in the last 24 hours.
CREATE VIEW dashboard.recent_failures WITH (security_invoker = true) AS
SELECT j.msp_id AS msp, t.tenant_key AS tenant, j.id AS job_id, j.kind, j.state, j.current_step AS step,
       j.last_error_class AS error_class, j.last_error AS error, j.updated_at AS at
  FROM onboarder.jobs j JOIN onboarder.tenants t ON t.id = j.tenant_id
 WHERE j.state IN ('failed', 'needs_attention') AND j.updated_at > now() - interval '24 hours';

-- MARK: roles and grants

DO $$
DECLARE
    may_create boolean;
    role text;
BEGIN
    SELECT rolsuper OR rolcreaterole INTO may_create FROM pg_roles WHERE rolname = current_user;
    IF NOT may_create THEN
        RAISE NOTICE 'onboarder roles not created: % may not create roles (see the README)', current_user;
        RETURN;
    END IF;
    -- Roles belong to the cluster: another database's migration may be creating them at this moment.
    FOREACH role IN ARRAY ARRAY['onboarder_worker', 'onboarder_enqueuer', 'onboarder_operator'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', role);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;
            END;
        END IF;
    END LOOP;
END $$;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'onboarder_operator') THEN RETURN; END IF;
    GRANT USAGE ON SCHEMA onboarder, dashboard TO onboarder_worker, onboarder_enqueuer, onboarder_operator;
    GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA onboarder TO onboarder_worker;
    GRANT SELECT ON ALL TABLES IN SCHEMA dashboard TO onboarder_worker, onboarder_operator;
    GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA onboarder TO onboarder_worker;
    -- Operators read everything but the sealed secrets, and write nothing.
    GRANT SELECT ON onboarder.msps, onboarder.tenants, onboarder.jobs, onboarder.job_steps, onboarder.events,
                    onboarder.integrations, onboarder.scripts, onboarder.operator_msps, onboarder.workers,
                    onboarder.queue_limits
       TO onboarder_operator;
    GRANT SELECT (id, tenant_id, kind, source, state, app_object_id, key_id, thumbprint, display_name,
                  certificate_pem, expires_at, job_id, exported_at, created_at, updated_at, removed_at)
       ON onboarder.credentials TO onboarder_operator;
    GRANT EXECUTE ON FUNCTION onboarder.sees_all_msps(), onboarder.my_msps() TO onboarder_operator, onboarder_enqueuer;
    -- Enqueuers call the enqueue functions, which run with the owner's rights.
    ALTER FUNCTION onboarder.enqueue_many(text[], text[], text[], jsonb[], integer[], timestamptz[], text[], text[])
        SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
    REVOKE EXECUTE ON FUNCTION onboarder.enqueue_many(text[], text[], text[], jsonb[], integer[], timestamptz[], text[], text[]) FROM PUBLIC;
    GRANT EXECUTE ON FUNCTION onboarder.enqueue_many(text[], text[], text[], jsonb[], integer[], timestamptz[], text[], text[])
        TO onboarder_enqueuer, onboarder_worker;
    GRANT EXECUTE ON FUNCTION onboarder.enqueue(text, text, text, jsonb, integer, timestamptz, text, text)
        TO onboarder_enqueuer, onboarder_worker;
END $$;
