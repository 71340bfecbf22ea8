-- The queue's hot paths, rewritten after `scripts/bench queue` profiles (pg_stat_statements with nested
-- statements, auto_explain). Same guarantees as 0002 (one claim at a time under the queue_limits row lock,
-- limits counted from the running jobs, ownership checked on finish); cheaper and flat as tables grow:
--
-- claim()   * each candidate's tenant is read once, by its key, in the scan that passes over full tenants;
--             0002 read it again in a hash join that scanned every tenant on every claim (1.8 ms per claim
--             at 20,000 tenants, growing with the table);
--           * the MSPs' running jobs are counted once per claim, in one pass, not once for the full-MSP
--             filter and again for each candidate MSP;
--           * the chosen jobs are updated by primary key and returned with their tenant's key, so the
--             caller needs no join (the worker's join planned a hash over all tenants per claim).
-- finish()  * the JSON input is parsed once: a nested loop re-read it for every job (O(n²) per batch, 10 ms
--             of a 150-job batch once the running-jobs index held dead entries);
--           * jobs are found by primary key, never by walking the running-jobs index for the worker (which
--             holds an entry per job that ran since the last vacuum).
-- enqueue_many()
--           * existing jobs are looked up only for rows that were not inserted (a duplicate or a key seen
--             before), not for every row;
--           * the scratch table is emptied with DELETE (free when empty, as it is after every commit), not
--             TRUNCATE, which swaps files on every call;
--           * tenant ids are looked up per row by the unique key, not by hashing every tenant (7.6 ms of a
--             1,000-row call at 100,000 tenants), and MSPs and tenants are inserted only when some are new
--             (the insert-or-skip of 1,000 existing tenants was another 8 ms);
--           * one foreign key from jobs to its tenant *and* MSP replaces two (jobs → tenants, jobs → msps):
--             each was a row check per inserted job (17 ms of a 1,000-row call), and the pair did not even
--             say that a job's MSP is its tenant's.

ALTER TABLE onboarder.tenants ADD CONSTRAINT tenants_id_msp UNIQUE (id, msp_id);
ALTER TABLE onboarder.jobs DROP CONSTRAINT jobs_msp_id_fkey, DROP CONSTRAINT jobs_tenant_id_fkey,
    ADD CONSTRAINT jobs_tenant_msp_fkey FOREIGN KEY (tenant_id, msp_id) REFERENCES onboarder.tenants (id, msp_id);

DROP FUNCTION onboarder.claim(text, integer, text[]);

-- Claims up to p_limit ready jobs of the given kinds for a worker, within every limit, set-based. Jobs
-- whose tenant or MSP is full are passed over in the scan (so one MSP's backlog cannot hide the others
-- behind it); priority order is kept within each limit.
CREATE FUNCTION onboarder.claim(p_worker text, p_limit integer, p_kinds text[])
RETURNS TABLE (id bigint, kind text, msp_id text, tenant_id bigint, tenant_key text, payload jsonb,
               attempts integer, rescues integer)
LANGUAGE plpgsql
-- Plan each call for its own numbers: generic plans were measured at 10× (0002) and 20× (here: a sequential
-- scan and sort of every job, from the unknown array parameters) the cost of custom ones.
SET plan_cache_mode = force_custom_plan
AS $$
#variable_conflict use_column
DECLARE
    global_max integer;
    global_room integer := p_limit;
    limited_msps text[] := '{}';   -- MSPs with a limit, and their room now
    msp_rooms integer[] := '{}';
    full_msps text[] := '{}';
    ids bigint[];
BEGIN
    -- A worker that was declared dead (it could not heartbeat) must not claim.
    PERFORM 1 FROM onboarder.workers w WHERE w.id = p_worker AND w.state = 'running';
    IF NOT FOUND THEN RETURN; END IF;
    -- One claim at a time (see 0002). Each statement below takes a new snapshot, so it sees every job the
    -- previous claim took.
    SELECT q.max_running INTO global_max FROM onboarder.queue_limits q WHERE q.singleton FOR UPDATE;
    IF global_max IS NOT NULL THEN
        SELECT least(p_limit, global_max - count(*)) INTO global_room FROM onboarder.jobs r WHERE r.state = 'running';
        IF global_room <= 0 THEN RETURN; END IF;
    END IF;
    IF EXISTS (SELECT 1 FROM onboarder.msps m WHERE m.max_running IS NOT NULL) THEN
        SELECT coalesce(array_agg(m.id), '{}'), coalesce(array_agg(m.max_running - coalesce(n.running, 0)), '{}'),
               coalesce(array_agg(m.id) FILTER (WHERE m.max_running <= coalesce(n.running, 0)), '{}')
          INTO limited_msps, msp_rooms, full_msps
          FROM onboarder.msps m
          LEFT JOIN (SELECT r.msp_id, count(*) AS running FROM onboarder.jobs r WHERE r.state = 'running'
                      GROUP BY r.msp_id) n ON n.msp_id = m.id
         WHERE m.max_running IS NOT NULL;
    END IF;

    ids := ARRAY(
        WITH candidates AS MATERIALIZED (
            SELECT j.id, j.msp_id, j.tenant_id, j.priority, j.run_at, tr.room
              FROM onboarder.jobs j
             CROSS JOIN LATERAL (
                   -- Counting is skipped where no limit is set (CASE: the count never runs).
                   SELECT CASE WHEN t.max_running IS NULL THEN 2147483647
                               ELSE t.max_running - (SELECT count(*) FROM onboarder.jobs r
                                                      WHERE r.state = 'running' AND r.msp_id = j.msp_id
                                                        AND r.tenant_id = j.tenant_id)
                          END AS room
                     FROM onboarder.tenants t WHERE t.id = j.tenant_id
                   -- LIMIT keeps this a per-row lookup: pulled up into a join it let the planner hash every
                   -- tenant and sort every queued job (seen mid-drain: 45–70 ms a claim instead of 3).
                    LIMIT 1) tr
             WHERE j.state IN ('queued', 'waiting') AND j.run_at <= now() AND j.kind = ANY (p_kinds)
               AND j.msp_id <> ALL (full_msps) AND tr.room > 0
             ORDER BY j.priority DESC, j.run_at, j.id
             -- A little more than asked: some candidates may still not fit (several jobs of one tenant).
             -- Every candidate is locked, so the slack is kept small.
             LIMIT p_limit + p_limit / 4 + 4
               FOR UPDATE OF j SKIP LOCKED
        ), within_tenant AS (
            SELECT c.*, row_number() OVER (PARTITION BY c.tenant_id ORDER BY c.priority DESC, c.run_at, c.id) AS n
              FROM candidates c
        ), within_msp AS (
            -- Only jobs that fit their tenant compete for their MSP's room.
            SELECT w.id, w.msp_id, w.priority, w.run_at,
                   row_number() OVER (PARTITION BY w.msp_id ORDER BY w.priority DESC, w.run_at, w.id) AS n
              FROM within_tenant w WHERE w.n <= w.room
        )
        SELECT w.id FROM within_msp w
          LEFT JOIN unnest(limited_msps, msp_rooms) AS m(id, room) ON m.id = w.msp_id
         WHERE m.room IS NULL OR w.n <= m.room
         ORDER BY w.priority DESC, w.run_at, w.id
         LIMIT global_room);

    RETURN QUERY
    UPDATE onboarder.jobs j
       SET state = 'running', wait_reason = NULL, worker_id = p_worker, attempts = j.attempts + 1,
           started_at = coalesce(j.started_at, now()), updated_at = now()
     WHERE j.id = ANY (ids)
    -- The tenant's key by its id, per row (as a join it was planned as a hash over every tenant).
    RETURNING j.id, j.kind, j.msp_id, j.tenant_id,
              (SELECT t.tenant_key FROM onboarder.tenants t WHERE t.id = j.tenant_id), j.payload, j.attempts, j.rescues;
END $$;

-- Moves jobs a worker holds out of 'running' (which frees their place in every limit); returns the ids
-- it moved. Input and ownership rules as in 0002; events as in 0004.
CREATE OR REPLACE FUNCTION onboarder.finish(p_worker text, p_items jsonb) RETURNS SETOF bigint LANGUAGE plpgsql AS $$
DECLARE
    ids bigint[];
BEGIN
    WITH input AS MATERIALIZED (
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
         -- Ownership: the job is this worker's, which means running (the CHECK jobs_running_has_worker).
         -- Not written as state = 'running' too: that let the planner walk the running-jobs index, dead
         -- entries and all, instead of finding the jobs by id; the id list (= ANY) is what steers it to the
         -- primary key rather than a hash over the table.
         WHERE j.id = i.id AND j.id = ANY (ARRAY(SELECT x.id FROM input x)) AND j.worker_id = p_worker
        RETURNING j.id, j.msp_id, j.tenant_id, j.state, j.wait_reason, j.current_step
    ), logged AS (
        INSERT INTO onboarder.events (job_id, kind, worker_id, step, detail)
        SELECT id, CASE state WHEN 'queued' THEN 'released' WHEN 'waiting' THEN 'rescheduled' ELSE state END, p_worker,
               current_step, CASE WHEN wait_reason IS NOT NULL THEN jsonb_build_object('wait_reason', wait_reason) END
          FROM done
    )
    SELECT array_agg(id) INTO ids FROM done;
    -- Freed places may let other jobs start: wake the workers.
    IF cardinality(ids) > 0 THEN PERFORM pg_notify('onboarder_jobs', ''); END IF;
    RETURN QUERY SELECT unnest(ids);
END $$;

-- Enqueues many jobs in one statement; contract as in 0002 (existing jobs reported with created = false,
-- MSPs and tenants created on first mention, one NOTIFY per call).
CREATE OR REPLACE FUNCTION onboarder.enqueue_many(
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
    DELETE FROM pg_temp.enqueue_input;  -- a second call in one transaction
    INSERT INTO pg_temp.enqueue_input
    SELECT i.ord::integer, i.msp, i.tenant_key, i.kind, coalesce(i.payload, '{}'), coalesce(i.priority, 0),
           coalesce(i.run_at, now()), i.idem, coalesce(i.subject, ''), NULL
      FROM unnest(p_msps, p_tenant_keys, p_kinds, p_payloads, p_priorities, p_run_ats, p_idempotency_keys, p_subjects)
           WITH ORDINALITY AS i(msp, tenant_key, kind, payload, priority, run_at, idem, subject, ord);

    -- Tenants that exist (usually all of them) are found by key; only the others are inserted.
    UPDATE pg_temp.enqueue_input i
       SET tenant_id = (SELECT t.id FROM onboarder.tenants t WHERE t.msp_id = i.msp_id AND t.tenant_key = i.tenant_key);
    IF FOUND AND EXISTS (SELECT 1 FROM pg_temp.enqueue_input WHERE tenant_id IS NULL) THEN
        INSERT INTO onboarder.msps (id, display_name)
        SELECT DISTINCT msp_id, msp_id FROM pg_temp.enqueue_input WHERE tenant_id IS NULL ORDER BY 1
        ON CONFLICT (id) DO NOTHING;
        INSERT INTO onboarder.tenants (msp_id, tenant_key)
        SELECT DISTINCT msp_id, tenant_key FROM pg_temp.enqueue_input WHERE tenant_id IS NULL ORDER BY 1, 2
        ON CONFLICT (msp_id, tenant_key) DO NOTHING;
        UPDATE pg_temp.enqueue_input i
           SET tenant_id = (SELECT t.id FROM onboarder.tenants t
                             WHERE t.msp_id = i.msp_id AND t.tenant_key = i.tenant_key)
         WHERE i.tenant_id IS NULL;
    END IF;

    RETURN QUERY
    WITH inserted AS (
        INSERT INTO onboarder.jobs (kind, msp_id, tenant_id, subject, payload, priority, run_at, idempotency_key)
        SELECT kind, msp_id, tenant_id, subject, payload, priority, run_at, idempotency_key
          FROM pg_temp.enqueue_input ORDER BY ordinal
        ON CONFLICT DO NOTHING
        RETURNING id, jobs.tenant_id, jobs.kind, jobs.subject, jobs.idempotency_key, jobs.state
    ), events AS (
        INSERT INTO onboarder.events (job_id, kind) SELECT id, 'enqueued' FROM inserted
    ), matched AS (
        -- Equality joins only (hash joins and index lookups): a 100,000-row enqueue stays linear.
        SELECT i.ordinal, i.tenant_id, i.kind, i.subject, i.idempotency_key,
               coalesce(by_key.id, by_tenant.id) AS job_id, coalesce(by_key.state, by_tenant.state) AS state
          FROM pg_temp.enqueue_input i
          LEFT JOIN inserted by_key ON by_key.idempotency_key = i.idempotency_key
          LEFT JOIN inserted by_tenant
                 ON i.idempotency_key IS NULL
                AND by_tenant.tenant_id = i.tenant_id AND by_tenant.kind = i.kind AND by_tenant.subject = i.subject
    )
    SELECT r.ordinal, r.job_id, r.inserted AND row_number() OVER (PARTITION BY r.job_id ORDER BY r.ordinal) = 1,
           r.state
      FROM (
        SELECT m.ordinal, m.job_id, true AS inserted, m.state FROM matched m WHERE m.job_id IS NOT NULL
        UNION ALL
        -- Rows not inserted: the job that was there before (same key, or active for the tenant and kind).
        SELECT m.ordinal, coalesce(old_by_key.id, old_active.id), false,
               coalesce(old_by_key.state, old_active.state)
          FROM matched m
          LEFT JOIN onboarder.jobs old_by_key ON old_by_key.idempotency_key = m.idempotency_key
          LEFT JOIN onboarder.jobs old_active
                 ON old_active.tenant_id = m.tenant_id AND old_active.kind = m.kind AND old_active.subject = m.subject
                AND old_active.state IN ('queued', 'running', 'waiting', 'needs_attention')
         WHERE m.job_id IS NULL
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
