-- The technician's hand-over: which customers wait for someone at their PBX (`onboarder handover sheet`,
-- the dashboard), and the technician's word that the PBX part is done (`onboarder handover done`).

-- Jobs waiting for the technician, oldest wait first: an onboarding at `certificate` (the PBX's certificate
-- is missing) or `verify` (the PBX's own Microsoft 365 check does not pass with this job's credentials yet),
-- a secret rotation at `rotate-handover` / `rotate-test-pbx`, a certificate rotation at `rotate-cert-new`.
--   tenant_id           the customer's directory (Entra tenant) id, as the PBX's Microsoft 365 page asks for it
--   waiting_since       the first time the job went to wait for input at this step (its `rescheduled` event;
--                       the pipeline's re-checks and wake-ups reschedule it again without starting a new wait),
--                       counted again after an operator's retry; for a job with no such event the step's start,
--                       else the job's creation (never updated_at: every wake-up changes it)
--   message             the job's wait message: what the technician must do
--   certificate_needed  no PBX certificate is supplied or on the app for this job (a certificate rotation
--                       needs one supplied after the rotation began; the old one does not count), or the job's
--                       latest look found the PBX's certificate missing from the app and none was supplied since
--   customer_id         onboarder.tenants.id: what onboarder.handover_done takes
-- The steps at which a job waiting for input waits for its technician: what the view below lists and
-- handover_done_many wakes (a job waiting for other input, a DNS record published by hand, is neither). Written
-- once, here; IMMUTABLE, so the planner folds it into a constant array where it is used.
CREATE OR REPLACE FUNCTION onboarder.handover_steps() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ARRAY['certificate', 'verify', 'rotate-handover', 'rotate-test-pbx', 'rotate-cert-new']
$$;

-- security_invoker: the viewer's row-level security applies (an operator sees only its MSPs' customers).
CREATE OR REPLACE VIEW dashboard.handover_waiting WITH (security_invoker = true) AS
SELECT j.msp_id AS msp, t.tenant_key AS customer,
       coalesce(i.entra_tenant_id::text,
                CASE WHEN t.tenant_key ~* '^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$' THEN lower(t.tenant_key) END)
           AS tenant_id,
       j.id AS job_id, j.kind, j.current_step AS step,
       coalesce(w.since, s.started_at, j.created_at) AS waiting_since,
       j.last_error AS message,
       coalesce(i.pbx_url, j.payload->>'pbx_url') AS pbx_url,
       i.app_id::text AS application_id,
       (NOT EXISTS (SELECT 1 FROM onboarder.credentials c
                     WHERE c.tenant_id = j.tenant_id AND c.kind = 'certificate' AND c.source = 'pbx'
                       AND (c.state = 'supplied'
                            OR (c.state IN ('pending', 'active')
                                AND (j.kind <> 'rotate-certificate' OR c.created_at >= j.created_at))))
        OR (coalesce(k.certificate_needed, false)
            AND NOT EXISTS (SELECT 1 FROM onboarder.credentials c
                             WHERE c.tenant_id = j.tenant_id AND c.kind = 'certificate' AND c.source = 'pbx'
                               AND c.state = 'supplied' AND c.created_at > k.at)))
           AS certificate_needed,
       t.id AS customer_id
  FROM onboarder.jobs j
  JOIN onboarder.tenants t ON t.id = j.tenant_id
  LEFT JOIN onboarder.integrations i ON i.tenant_id = j.tenant_id
  LEFT JOIN onboarder.job_steps s ON s.job_id = j.id AND s.step = j.current_step
  -- The wait began at the job's first wait for input at this step since an operator last retried it. Read
  -- through events_job_waits (migration 0021), which holds only the kinds this view asks for: the sheet lists
  -- every waiting job, and each has about 30 events.
  LEFT JOIN LATERAL (
      SELECT min(e.at) AS since FROM onboarder.events e
       WHERE e.job_id = j.id AND e.kind = 'rescheduled' AND e.step = j.current_step
         AND e.detail->>'wait_reason' = 'input'
         AND e.at > coalesce((SELECT max(r.at) FROM onboarder.events r
                               WHERE r.job_id = j.id AND r.kind = 'retried'), '-infinity')
  ) w ON true
  -- The job's latest look at this step: the PBX's check found its certificate missing from the app (an earlier
  -- onboarding's is recorded, but the PBX — reinstalled, or re-keyed — signs with another key). A look is recorded
  -- by the finish that set the job waiting, at the finish's time: a certificate `cert add` records between the
  -- look and its finish counts as before the look, and the sheet asks for it until the next look.
  LEFT JOIN LATERAL (
      SELECT e.at, (e.detail->>'certificate_needed')::boolean AS certificate_needed FROM onboarder.events e
       WHERE e.job_id = j.id AND e.kind = 'handover_check' AND e.step = j.current_step
       ORDER BY e.id DESC LIMIT 1
  ) k ON true
 WHERE j.state = 'waiting' AND j.wait_reason = 'input'
   AND j.current_step = ANY (onboarder.handover_steps())
 ORDER BY waiting_since, j.id;

-- The technician says the PBX part is done for customers (secret pasted, certificate uploaded, "Log into
-- Microsoft 365" done): every job of each customer waiting at the hand-over (the steps of the view above) runs
-- its check now, and each gets a `handover_done` event with who said so (the pipeline reads it: for a rotation
-- whose sign-in report is not available, the technician's word is the evidence it records). A job waiting for
-- other input (a DNS record published by hand) is neither woken nor recorded: the technician said nothing of
-- it. One row per distinct customer of p_tenants: how many of its jobs were woken, 0 when none waits at the
-- hand-over (nothing is recorded for it then), NULL when no such customer exists or it is a customer of an MSP
-- the login may not act for (the two alike, as the other operator actions answer). A technician's round
-- names hundreds of customers (`onboarder handover done`): one call, one lock pass, one notification.
CREATE OR REPLACE FUNCTION onboarder.handover_done_many(p_tenants bigint[], p_actor text DEFAULT NULL)
RETURNS TABLE (tenant bigint, woken integer)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_actor text := coalesce(p_actor, session_user);
    -- The login's MSPs once per call (may_act_for's answer, as acting_msps lists it), not once per customer.
    v_every boolean := onboarder.acts_for_every_msp();
    v_mine text[] := CASE WHEN NOT v_every THEN ARRAY(SELECT onboarder.acting_msps()) END;
    v_known bigint[];
    v_jobs bigint[];
BEGIN
    SELECT array_agg(t.id) INTO v_known FROM onboarder.tenants t
     WHERE t.id = ANY (p_tenants) AND (v_every OR t.msp_id = ANY (v_mine));
    -- Locked in id order (two technicians' calls never wait on each other in a cycle), so that the jobs
    -- recorded are the jobs woken: a worker's claim skips them until this commits. The jobs the view lists,
    -- by its conditions, not through it: the view works out each waiting job's columns (its wait's start,
    -- from the job's events), which this needs none of.
    SELECT array_agg(w.id ORDER BY w.id) INTO v_jobs
      FROM (SELECT j.id FROM onboarder.jobs j
             WHERE j.tenant_id = ANY (v_known)
               AND j.state = 'waiting' AND j.wait_reason = 'input' AND j.current_step = ANY (onboarder.handover_steps())
             ORDER BY j.id
               FOR UPDATE) w;
    IF v_jobs IS NOT NULL THEN
        INSERT INTO onboarder.events (job_id, kind, step, actor, detail)
        SELECT j.id, 'handover_done', j.current_step, v_actor, jsonb_build_object('tenant_id', j.tenant_id)
          FROM onboarder.jobs j WHERE j.id = ANY (v_jobs) ORDER BY j.id;
        UPDATE onboarder.jobs SET run_at = now(), updated_at = now() WHERE id = ANY (v_jobs);
        INSERT INTO onboarder.events (job_id, kind, actor, detail)
        SELECT id, 'woken', v_actor, jsonb_build_object('why', 'handover done') FROM unnest(v_jobs) AS id;
        PERFORM pg_notify('onboarder_jobs', '');
    END IF;
    RETURN QUERY
    SELECT c.id, CASE WHEN c.id = ANY (v_known)
                      THEN (SELECT count(*)::integer FROM onboarder.jobs j
                             WHERE j.id = ANY (coalesce(v_jobs, '{}')) AND j.tenant_id = c.id) END
      FROM (SELECT DISTINCT u.id FROM unnest(p_tenants) AS u(id) WHERE u.id IS NOT NULL) c
     ORDER BY c.id;
END $$;

-- One customer's hand-over, as handover_done_many records it, for SQL users (psql): how many jobs were woken;
-- a customer that does not exist and one of an MSP the login may not act for raise the same P0002 ("no
-- customer N"), as the other operator actions do.
CREATE OR REPLACE FUNCTION onboarder.handover_done(p_tenant bigint, p_actor text DEFAULT NULL) RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_woken integer;
BEGIN
    SELECT d.woken INTO v_woken FROM onboarder.handover_done_many(ARRAY[p_tenant], p_actor) d;
    IF v_woken IS NULL THEN
        RAISE EXCEPTION 'no customer %', p_tenant USING ERRCODE = 'no_data_found';
    END IF;
    RETURN v_woken;
END $$;

REVOKE ALL ON FUNCTION onboarder.handover_done(bigint, text), onboarder.handover_done_many(bigint[], text),
                       onboarder.handover_steps()
  FROM PUBLIC, onboarder_worker, onboarder_enqueuer, onboarder_operator;
-- Operators and workers, as the other operator actions.
-- (handover_steps: those who read the view, which calls it.)
GRANT EXECUTE ON FUNCTION onboarder.handover_done(bigint, text), onboarder.handover_done_many(bigint[], text),
                          onboarder.handover_steps()
   TO onboarder_worker, onboarder_operator;
-- Read-only, as the other dashboard views: operators, and the service login that prints the sheet.
REVOKE ALL ON dashboard.handover_waiting FROM PUBLIC, onboarder_worker, onboarder_enqueuer, onboarder_operator;
GRANT SELECT ON dashboard.handover_waiting TO onboarder_worker, onboarder_operator;
