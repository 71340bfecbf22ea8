-- The queue: claim, finish, heartbeat, reap. Workers only; every name in them is qualified.

-- Claims up to p_limit ready jobs of the given kinds for a worker, within every limit, set-based. Jobs
-- whose tenant or MSP is full are passed over in the scan (so one MSP's backlog cannot hide the others
-- behind it); priority order is kept within each limit.
CREATE OR REPLACE FUNCTION onboarder.claim(p_worker text, p_limit integer, p_kinds text[])
RETURNS TABLE (id bigint, kind text, msp_id text, tenant_id bigint, tenant_key text, payload jsonb,
               attempts integer, rescues integer)
LANGUAGE plpgsql
-- Plan each call for its own numbers: generic plans were measured at 10× (0002) and 20× (here: a sequential
-- scan and sort of every job, from the unknown array parameters) the cost of custom ones.
SET plan_cache_mode = force_custom_plan
SET search_path = pg_catalog, pg_temp
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
-- it moved. Input and ownership rules as in 0002; events as in 0004, after the item's own `events` (kind, step,
-- detail: what the job's handler saw before it waited), recorded by this statement or not at all.
CREATE OR REPLACE FUNCTION onboarder.finish(p_worker text, p_items jsonb) RETURNS SETOF bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ids bigint[];
BEGIN
    WITH input AS MATERIALIZED (
        SELECT * FROM jsonb_to_recordset(p_items)
                 AS i(id bigint, state text, run_at timestamptz, delay_ms bigint, wait_reason text,
                      error_class text, error text, attention text, warnings jsonb, uncount boolean, events jsonb)
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
               attention_at = CASE WHEN i.state IN ('needs_attention', 'failed') THEN now() END,
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
        -- Each finished job's own events first (what its handler saw before it waited: a look at the PBX), in
        -- their order, then the finish's; only for the jobs this worker still held.
        INSERT INTO onboarder.events (job_id, kind, worker_id, step, detail)
        SELECT e.job, e.kind, p_worker, e.step, e.detail
          FROM (SELECT d.id AS job, x.kind, x.step, x.detail, 0 AS last, x.n
                  FROM input i JOIN done d ON d.id = i.id
                 CROSS JOIN LATERAL ROWS FROM (jsonb_to_recordset(i.events) AS (kind text, step text, detail jsonb))
                       WITH ORDINALITY AS x(kind, step, detail, n)
                 WHERE i.events IS NOT NULL
                UNION ALL
                SELECT d.id, CASE d.state WHEN 'queued' THEN 'released' WHEN 'waiting' THEN 'rescheduled' ELSE d.state END,
                       d.current_step,
                       CASE WHEN d.wait_reason IS NOT NULL THEN jsonb_build_object('wait_reason', d.wait_reason) END, 1, 0
                  FROM done d) e
         ORDER BY e.job, e.last, e.n
    )
    SELECT array_agg(id) INTO ids FROM done;
    -- Freed places may let other jobs start: wake the workers.
    IF cardinality(ids) > 0 THEN PERFORM pg_notify('onboarder_jobs', ''); END IF;
    RETURN QUERY SELECT unnest(ids);
END $$;

-- Records a heartbeat, which is the lease of every job the worker runs. Returns false when the worker
-- was declared dead meanwhile: it must stop claiming and abandon what it runs (the jobs went back to
-- the queue; finish() will refuse its results).
CREATE OR REPLACE FUNCTION onboarder.heartbeat(p_worker text) RETURNS boolean
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    WITH beat AS (
        UPDATE onboarder.workers SET heartbeat_at = now()
         WHERE id = p_worker AND state IN ('running', 'draining') RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM beat)
$$;

-- Declares workers without a heartbeat for p_lease dead and puts their jobs back in the queue, counting
-- the rescue. Safe to run from every worker at once. Never the reaper itself (p_reaper): a worker that can
-- reap is alive, and one whose beats came late (its process or the database paused past the lease) would
-- otherwise declare itself dead, stop, and — alone — leave every job waiting for a restart; whether it lost
-- its jobs is for the other workers to judge. 0002's reap(interval) is replaced: a worker of an earlier
-- version still calls it with one argument during an upgrade, and then spares no one (p_reaper NULL).
DROP FUNCTION IF EXISTS onboarder.reap(interval);
CREATE OR REPLACE FUNCTION onboarder.reap(p_lease interval, p_reaper text DEFAULT NULL) RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rescued integer;
BEGIN
    UPDATE onboarder.workers SET state = 'dead', stopped_at = now()
     WHERE state IN ('running', 'draining') AND heartbeat_at < now() - p_lease
       AND id IS DISTINCT FROM p_reaper;
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


REVOKE ALL ON FUNCTION onboarder.claim(text, integer, text[]), onboarder.finish(text, jsonb),
                       onboarder.heartbeat(text), onboarder.reap(interval, text)
  FROM PUBLIC, onboarder_worker, onboarder_enqueuer, onboarder_operator;
GRANT EXECUTE ON FUNCTION onboarder.claim(text, integer, text[]), onboarder.finish(text, jsonb),
                          onboarder.heartbeat(text), onboarder.reap(interval, text)
   TO onboarder_worker;
