-- The queue: MSPs, tenants, jobs and their steps, the event log, workers, and concurrency limits.
--
-- States an operator understands:
--   queued            waiting for a worker
--   running           a worker holds it (worker_id); the lease is the worker's heartbeat
--   waiting           rescheduled for run_at; wait_reason says why: retry | throttled | replication | input
--   succeeded         done
--   succeeded_with_warnings  done, with warnings an operator should read (jobs.warnings)
--   needs_attention   stopped until an operator acts (onboarder retry / cancel); attention says what to do
--   failed            gave up (attempts exhausted or a permanent error)
--   cancelled         an operator cancelled it
--
-- Concurrency limits (global, per MSP, per tenant: `max_running`, NULL = none) hold across any number
-- of worker processes on any number of hosts. `count(*) < limit` inside a claim over-admits when two
-- claims run at once (each sees room for one), so claims are serialised: every claim() first locks the
-- one queue_limits row, and counts the running jobs only after it holds it. Everything else that
-- changes how many jobs run (finish, reap, an operator's cancel) can only lower the count, so it needs
-- no lock: a claim that reads the count just before a finish commits sees one job too many, which is
-- safe. There are no counters to drift, so nothing needs reconciling, and finishes (half of the queue's
-- statements) never wait for claims. Claims are batched, so their serialisation costs little.

CREATE TABLE onboarder.queue_limits (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    max_running integer CHECK (max_running > 0)           -- NULL: no global limit
);
INSERT INTO onboarder.queue_limits (singleton) VALUES (true);
COMMENT ON TABLE onboarder.queue_limits IS 'The global concurrency limit (one row; its lock serialises claims).';

CREATE TABLE onboarder.msps (
    id           text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'),
    display_name text NOT NULL,
    max_running  integer CHECK (max_running > 0),          -- NULL: no per-MSP limit
    created_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE onboarder.msps IS 'Managed service providers: each owns its customers (tenants).';

CREATE TABLE onboarder.tenants (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    msp_id       text NOT NULL REFERENCES onboarder.msps,
    -- The customer as the MSP named it: the Entra tenant id (GUID) or a verified domain.
    tenant_key   text NOT NULL CHECK (length(tenant_key) BETWEEN 1 AND 255),
    display_name text,
    max_running  integer DEFAULT 1 CHECK (max_running > 0), -- NULL: no per-tenant limit
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (msp_id, tenant_key)
);
COMMENT ON TABLE onboarder.tenants IS 'Customer Microsoft 365 tenants, one row per MSP and tenant.';

CREATE TABLE onboarder.jobs (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind             text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_-]*$'),
    msp_id           text NOT NULL REFERENCES onboarder.msps,
    tenant_id        bigint NOT NULL REFERENCES onboarder.tenants,
    -- What the job is about within the tenant when a kind can have several at once (a rotation's
    -- credential id); empty otherwise. At most one active job per (tenant, kind, subject).
    subject          text NOT NULL DEFAULT '',
    state            text NOT NULL DEFAULT 'queued' CHECK (state IN (
                         'queued', 'running', 'waiting', 'succeeded', 'succeeded_with_warnings',
                         'needs_attention', 'failed', 'cancelled')),
    wait_reason      text CHECK (wait_reason IN ('retry', 'throttled', 'replication', 'input')),
    priority         integer NOT NULL DEFAULT 0,
    run_at           timestamptz NOT NULL DEFAULT now(),
    idempotency_key  text,
    payload          jsonb NOT NULL DEFAULT '{}',
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),   -- times claimed
    rescues          integer NOT NULL DEFAULT 0 CHECK (rescues >= 0),    -- times taken back from a dead worker
    worker_id        text,             -- the worker running it; its lease is that worker's heartbeat
    current_step     text,
    last_error_class text,
    last_error       text,
    attention        text,             -- for needs_attention: what an operator should do
    warnings         jsonb NOT NULL DEFAULT '[]',
    created_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,      -- first claim
    updated_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    CONSTRAINT jobs_waiting_has_reason CHECK ((state = 'waiting') = (wait_reason IS NOT NULL)),
    CONSTRAINT jobs_running_has_worker CHECK ((state = 'running') = (worker_id IS NOT NULL)),
    CONSTRAINT jobs_finished_at CHECK (
        (state IN ('succeeded', 'succeeded_with_warnings', 'failed', 'cancelled')) = (finished_at IS NOT NULL)),
    CONSTRAINT jobs_attention_explained CHECK (state <> 'needs_attention' OR attention IS NOT NULL)
)
-- Finished jobs stay (dashboards and history read them); the hot part is small and churns, so vacuum
-- early and leave room on each page for HOT updates (state changes touch no indexed column but state).
WITH (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 1000,
      autovacuum_analyze_scale_factor = 0.02, autovacuum_vacuum_cost_delay = 0);
COMMENT ON TABLE onboarder.jobs IS 'One row per onboarding or rotation run.';

-- At most one active job of a kind (and subject) per tenant; a second enqueue reports the existing one.
CREATE UNIQUE INDEX jobs_one_active_per_tenant ON onboarder.jobs (tenant_id, kind, subject)
    WHERE state IN ('queued', 'running', 'waiting', 'needs_attention');
CREATE UNIQUE INDEX jobs_idempotency_key ON onboarder.jobs (idempotency_key) WHERE idempotency_key IS NOT NULL;
-- The claim's scan: only claimable rows are in it, so finished jobs cost it nothing.
CREATE INDEX jobs_claimable ON onboarder.jobs (priority DESC, run_at, id) WHERE state IN ('queued', 'waiting');
-- The running jobs: counted by the claim per MSP and tenant, searched by the reaper per worker.
CREATE INDEX jobs_running ON onboarder.jobs (msp_id, tenant_id, worker_id) WHERE state = 'running';

CREATE TABLE onboarder.job_steps (
    job_id           bigint NOT NULL REFERENCES onboarder.jobs ON DELETE CASCADE,
    step             text NOT NULL,
    state            text NOT NULL DEFAULT 'pending' CHECK (state IN (
                         'pending', 'running', 'waiting', 'done', 'skipped', 'failed', 'needs_attention')),
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_run_at      timestamptz,
    last_error_class text,
    last_error       text,
    output           jsonb,            -- external object ids etc., recorded the moment they are known
    started_at       timestamptz,
    finished_at      timestamptz,
    PRIMARY KEY (job_id, step)
) WITH (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.02);
COMMENT ON TABLE onboarder.job_steps IS 'Per-step state of each job: attempts, next run, last error, outputs.';

CREATE TABLE onboarder.events (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- No foreign key: the check (a row lock on the job per event) cost two thirds of finish()'s time,
    -- and only Onboarder's own functions write here, always with the id of the job they just changed.
    job_id    bigint,
    at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    kind      text NOT NULL,   -- enqueued, claimed, step_done, rescheduled, succeeded, failed, rescued, released, …
    step      text,
    worker_id text,
    detail    jsonb
);
CREATE INDEX events_by_job ON onboarder.events (job_id, id);
COMMENT ON TABLE onboarder.events IS 'Append-only history of every job: never updated or deleted by Onboarder.';

CREATE FUNCTION onboarder.events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'onboarder.events is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER events_append_only BEFORE UPDATE ON onboarder.events
    FOR EACH ROW EXECUTE FUNCTION onboarder.events_append_only();

CREATE TABLE onboarder.workers (
    id           text PRIMARY KEY,
    host         text NOT NULL,
    pid          integer NOT NULL,
    concurrency  integer NOT NULL,
    version      text NOT NULL,
    state        text NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'draining', 'stopped', 'dead')),
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    stopped_at   timestamptz
);
COMMENT ON TABLE onboarder.workers IS 'Worker processes and their last heartbeat.';

-- MARK: enqueue

-- Enqueues many jobs in one statement. Rows whose tenant already has an active job of that kind, or
-- whose idempotency key was used before, are not duplicated: the existing job is reported with
-- created = false. MSPs and tenants are created on first mention. One NOTIFY per call.
CREATE FUNCTION onboarder.enqueue_many(
    p_msps text[], p_tenant_keys text[], p_kinds text[], p_payloads jsonb[] DEFAULT NULL,
    p_priorities integer[] DEFAULT NULL, p_run_ats timestamptz[] DEFAULT NULL, p_idempotency_keys text[] DEFAULT NULL,
    p_subjects text[] DEFAULT NULL
) RETURNS TABLE (ordinal integer, job_id bigint, created boolean, state text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    IF to_regclass('pg_temp.enqueue_input') IS NULL THEN
        CREATE TEMP TABLE enqueue_input (
            ordinal integer, msp_id text, tenant_key text, kind text, payload jsonb, priority integer,
            run_at timestamptz, idempotency_key text, subject text, tenant_id bigint) ON COMMIT DELETE ROWS;
    END IF;
    TRUNCATE pg_temp.enqueue_input;
    INSERT INTO pg_temp.enqueue_input
    SELECT i.ord::integer, i.msp, i.tenant_key, i.kind, coalesce(i.payload, '{}'), coalesce(i.priority, 0),
           coalesce(i.run_at, now()), i.idem, coalesce(i.subject, ''), NULL
      FROM unnest(p_msps, p_tenant_keys, p_kinds, p_payloads, p_priorities, p_run_ats, p_idempotency_keys, p_subjects)
           WITH ORDINALITY AS i(msp, tenant_key, kind, payload, priority, run_at, idem, subject, ord);

    INSERT INTO onboarder.msps (id, display_name)
    SELECT DISTINCT msp_id, msp_id FROM pg_temp.enqueue_input ORDER BY 1
    ON CONFLICT (id) DO NOTHING;
    INSERT INTO onboarder.tenants (msp_id, tenant_key)
    SELECT DISTINCT msp_id, tenant_key FROM pg_temp.enqueue_input ORDER BY 1, 2
    ON CONFLICT (msp_id, tenant_key) DO NOTHING;
    UPDATE pg_temp.enqueue_input i SET tenant_id = t.id
      FROM onboarder.tenants t WHERE t.msp_id = i.msp_id AND t.tenant_key = i.tenant_key;

    RETURN QUERY
    WITH inserted AS (
        INSERT INTO onboarder.jobs (kind, msp_id, tenant_id, subject, payload, priority, run_at, idempotency_key)
        SELECT kind, msp_id, tenant_id, subject, payload, priority, run_at, idempotency_key
          FROM pg_temp.enqueue_input ORDER BY ordinal
        ON CONFLICT DO NOTHING
        RETURNING id, jobs.tenant_id, jobs.kind, jobs.subject, jobs.idempotency_key, jobs.state
    ), events AS (
        INSERT INTO onboarder.events (job_id, kind) SELECT id, 'enqueued' FROM inserted
    )
    SELECT r.ordinal, r.job_id,
           r.inserted AND row_number() OVER (PARTITION BY r.job_id ORDER BY r.ordinal) = 1, r.state
      FROM (
    -- Equality joins only (hash joins and index lookups): a 100,000-row enqueue stays linear.
    SELECT i.ordinal, coalesce(by_key.id, by_tenant.id, old_by_key.id, old_active.id) AS job_id,
           coalesce(by_key.id, by_tenant.id) IS NOT NULL AS inserted,
           coalesce(by_key.state, by_tenant.state, old_by_key.state, old_active.state) AS state
      FROM pg_temp.enqueue_input i
      LEFT JOIN inserted by_key ON by_key.idempotency_key = i.idempotency_key
      LEFT JOIN inserted by_tenant
             ON i.idempotency_key IS NULL
            AND by_tenant.tenant_id = i.tenant_id AND by_tenant.kind = i.kind AND by_tenant.subject = i.subject
      LEFT JOIN onboarder.jobs old_by_key ON old_by_key.idempotency_key = i.idempotency_key
      LEFT JOIN onboarder.jobs old_active
             ON old_active.tenant_id = i.tenant_id AND old_active.kind = i.kind AND old_active.subject = i.subject
            AND old_active.state IN ('queued', 'running', 'waiting', 'needs_attention')
      ) r
     ORDER BY r.ordinal;

    -- A bulk enqueue that grows the table a lot leaves the planner with stale (or, on a new install, no)
    -- statistics until autovacuum gets to it, and the claim's plan was measured ten times slower then.
    -- Refresh them here; small enqueues leave it to autovacuum.
    IF cardinality(p_msps) >= 1000 AND cardinality(p_msps) > 0.2 * greatest(
           (SELECT reltuples FROM pg_class WHERE oid = 'onboarder.jobs'::regclass), 0) THEN
        ANALYZE onboarder.jobs;
        ANALYZE onboarder.tenants;
    END IF;
    PERFORM pg_notify('onboarder_jobs', '');
END $$;

-- One job, for any SQL client: SELECT * FROM onboarder.enqueue('acme', 'contoso.onmicrosoft.com', 'onboard');
CREATE FUNCTION onboarder.enqueue(
    p_msp text, p_tenant_key text, p_kind text, p_payload jsonb DEFAULT '{}', p_priority integer DEFAULT 0,
    p_run_at timestamptz DEFAULT now(), p_idempotency_key text DEFAULT NULL, p_subject text DEFAULT ''
) RETURNS TABLE (job_id bigint, created boolean, state text)
LANGUAGE sql AS $$
    SELECT e.job_id, e.created, e.state
      FROM onboarder.enqueue_many(ARRAY[p_msp], ARRAY[p_tenant_key], ARRAY[p_kind], ARRAY[p_payload],
                                  ARRAY[p_priority], ARRAY[p_run_at], ARRAY[p_idempotency_key], ARRAY[p_subject]) e
$$;

-- MARK: claim

-- Claims up to p_limit ready jobs of the given kinds for a worker, within every limit, set-based. Jobs
-- whose tenant or MSP is full are passed over in the scan (so one MSP's backlog cannot hide the others
-- behind it); priority order is kept within each limit.
CREATE FUNCTION onboarder.claim(p_worker text, p_limit integer, p_kinds text[])
RETURNS SETOF onboarder.jobs LANGUAGE plpgsql
-- Plan each call for its own numbers: a cached generic plan (after five calls on a connection) was seen
-- to cost ten times as much as a custom one here.
SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
    global_max integer;
    global_room integer := p_limit;
    full_msps text[];
BEGIN
    -- A worker that was declared dead (it could not heartbeat) must not claim.
    PERFORM 1 FROM onboarder.workers WHERE id = p_worker AND state = 'running';
    IF NOT FOUND THEN RETURN; END IF;
    -- One claim at a time (see the top of this file). Each statement below takes a new snapshot, so
    -- it sees every job the previous claim took.
    SELECT max_running INTO global_max FROM onboarder.queue_limits WHERE singleton FOR UPDATE;
    IF global_max IS NOT NULL THEN
        SELECT least(p_limit, global_max - count(*)) INTO global_room FROM onboarder.jobs WHERE state = 'running';
        IF global_room <= 0 THEN RETURN; END IF;
    END IF;
    -- Counting is skipped wherever no limit is set (CASE, not AND: it guarantees the count never runs).
    SELECT coalesce(array_agg(m.id), '{}') INTO full_msps FROM onboarder.msps m
     WHERE CASE WHEN m.max_running IS NULL THEN false
                ELSE m.max_running <= (SELECT count(*) FROM onboarder.jobs r WHERE r.state = 'running' AND r.msp_id = m.id)
           END;

    RETURN QUERY
    WITH candidates AS MATERIALIZED (
        SELECT j.id, j.msp_id, j.tenant_id, j.priority, j.run_at FROM onboarder.jobs j
         WHERE j.state IN ('queued', 'waiting') AND j.run_at <= now() AND j.kind = ANY (p_kinds)
           AND j.msp_id <> ALL (full_msps)
           AND NOT EXISTS (
               SELECT 1 FROM onboarder.tenants t
                WHERE t.id = j.tenant_id
                  AND CASE WHEN t.max_running IS NULL THEN false
                           ELSE t.max_running <= (SELECT count(*) FROM onboarder.jobs r
                                                   WHERE r.state = 'running' AND r.msp_id = j.msp_id
                                                     AND r.tenant_id = j.tenant_id)
                      END)
         ORDER BY j.priority DESC, j.run_at, j.id
         -- A little more than asked: some candidates may still not fit (several jobs of one tenant).
         -- Every candidate is locked, so the slack is kept small.
         LIMIT p_limit + p_limit / 4 + 4
           FOR UPDATE OF j SKIP LOCKED
    ), tenant_room AS MATERIALIZED (
        SELECT t.id,
               CASE WHEN t.max_running IS NULL THEN 2147483647
                    ELSE t.max_running - (SELECT count(*) FROM onboarder.jobs r
                                           WHERE r.state = 'running' AND r.msp_id = t.msp_id AND r.tenant_id = t.id)
               END AS room
          FROM (SELECT DISTINCT tenant_id FROM candidates) c JOIN onboarder.tenants t ON t.id = c.tenant_id
    ), msp_room AS MATERIALIZED (
        SELECT m.id,
               CASE WHEN m.max_running IS NULL THEN 2147483647
                    ELSE m.max_running - (SELECT count(*) FROM onboarder.jobs r WHERE r.state = 'running' AND r.msp_id = m.id)
               END AS room
          FROM (SELECT DISTINCT msp_id FROM candidates) c JOIN onboarder.msps m ON m.id = c.msp_id
    ), within_tenant AS (
        SELECT c.*, row_number() OVER (PARTITION BY c.tenant_id ORDER BY c.priority DESC, c.run_at, c.id) AS n
          FROM candidates c
    ), within_msp AS (
        -- Only jobs that fit their tenant compete for their MSP's room.
        SELECT w.id, w.msp_id, w.priority, w.run_at,
               row_number() OVER (PARTITION BY w.msp_id ORDER BY w.priority DESC, w.run_at, w.id) AS n
          FROM within_tenant w JOIN tenant_room r ON r.id = w.tenant_id
         WHERE w.n <= r.room
    ), chosen AS (
        SELECT w.id FROM within_msp w JOIN msp_room r ON r.id = w.msp_id
         WHERE w.n <= r.room
         ORDER BY w.priority DESC, w.run_at, w.id
         LIMIT global_room
    )
    UPDATE onboarder.jobs j
       SET state = 'running', wait_reason = NULL, worker_id = p_worker, attempts = j.attempts + 1,
           started_at = coalesce(j.started_at, now()), updated_at = now()
      FROM chosen c WHERE j.id = c.id
    RETURNING j.*;
END $$;

-- MARK: finish

-- Moves jobs a worker holds out of 'running' (which frees their place in every limit); returns the ids
-- it moved.
-- Ownership is checked: a job the reaper already took back (its worker was declared dead) is left alone.
-- p_items is a JSON array of objects:
--   id          the job
--   state       succeeded | succeeded_with_warnings | needs_attention | failed | waiting | queued (released)
--   run_at      when waiting: the next run, or
--   delay_ms    when waiting: the next run, counted from the database's clock (no host clock skew)
--   wait_reason when waiting: retry | throttled | replication | input
--   error_class, error, attention, warnings (a JSON array of strings)
--   uncount     true: this claim does not count as an attempt (released at shutdown)
CREATE FUNCTION onboarder.finish(p_worker text, p_items jsonb) RETURNS SETOF bigint LANGUAGE plpgsql AS $$
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
        RETURNING j.id, j.msp_id, j.tenant_id, j.state
    ), logged AS (
        INSERT INTO onboarder.events (job_id, kind, worker_id)
        SELECT id, CASE state WHEN 'queued' THEN 'released' WHEN 'waiting' THEN 'rescheduled' ELSE state END, p_worker
          FROM done
    )
    SELECT array_agg(id) INTO ids FROM done;
    -- Freed places may let other jobs start: wake the workers.
    IF cardinality(ids) > 0 THEN PERFORM pg_notify('onboarder_jobs', ''); END IF;
    RETURN QUERY SELECT unnest(ids);
END $$;

-- MARK: workers, leases, rescue

-- Records a heartbeat, which is the lease of every job the worker runs. Returns false when the worker
-- was declared dead meanwhile: it must stop claiming and abandon what it runs (the jobs went back to
-- the queue; finish() will refuse its results).
CREATE FUNCTION onboarder.heartbeat(p_worker text) RETURNS boolean LANGUAGE sql AS $$
    WITH beat AS (
        UPDATE onboarder.workers SET heartbeat_at = now()
         WHERE id = p_worker AND state IN ('running', 'draining') RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM beat)
$$;

-- Declares workers without a heartbeat for p_lease dead and puts their jobs back in the queue, counting
-- the rescue. Safe to run from every worker at once.
CREATE FUNCTION onboarder.reap(p_lease interval) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    rescued integer;
BEGIN
    UPDATE onboarder.workers SET state = 'dead', stopped_at = now()
     WHERE state IN ('running', 'draining') AND heartbeat_at < now() - p_lease;
    -- Cheap exit, without the global lock, when no job belongs to a worker that is not alive.
    PERFORM 1 FROM onboarder.jobs j JOIN onboarder.workers w ON w.id = j.worker_id
     WHERE j.state = 'running' AND w.state IN ('dead', 'stopped') LIMIT 1;
    IF NOT FOUND THEN
        PERFORM 1 FROM onboarder.jobs j WHERE j.state = 'running'
           AND NOT EXISTS (SELECT 1 FROM onboarder.workers w WHERE w.id = j.worker_id) LIMIT 1;
        IF NOT FOUND THEN RETURN 0; END IF;
    END IF;
    WITH orphaned AS (
        SELECT j.id FROM onboarder.jobs j
          LEFT JOIN onboarder.workers w ON w.id = j.worker_id
         WHERE j.state = 'running' AND (w.id IS NULL OR w.state IN ('dead', 'stopped'))
           FOR UPDATE OF j SKIP LOCKED
    ), rescued_jobs AS (
        UPDATE onboarder.jobs j
           SET state = 'queued', worker_id = NULL, rescues = rescues + 1, updated_at = now()
          FROM orphaned o WHERE j.id = o.id
        RETURNING j.id, j.msp_id, j.tenant_id
    ), logged AS (
        INSERT INTO onboarder.events (job_id, kind) SELECT id, 'rescued' FROM rescued_jobs
    )
    SELECT count(*) INTO rescued FROM rescued_jobs;
    IF rescued > 0 THEN PERFORM pg_notify('onboarder_jobs', ''); END IF;
    RETURN rescued;
END $$;
