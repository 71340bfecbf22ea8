-- The nightly drift audit (`onboarder audit`): enqueue one read-only `audit` job per onboarded customer (and
-- per recently offboarded one),
-- show what the audits found (dashboard.drift), and enqueue an onboarding for each drifted customer
-- (`--repair`; never for an offboarded customer: its residue is removed by offboarding it again). The
-- audit job itself (Sources/Pipeline/DriftAuditHandler.swift) writes the findings into
-- onboarder.drift_findings as the worker login.
--
-- SECURITY DEFINER, for operators (who may not write jobs) and workers; acting is decided on the login
-- (onboarder.acting_msps, may_act_for), so an operator audits and repairs its own MSPs' customers only.

-- The customers an audit covers, of an MSP the login acts for, narrowed to p_msp and to p_customer (its
-- tenant key, default domain or Entra tenant id) when given: the onboarded ones, and the offboarded ones
-- (their audit checks that nothing of Onboarder's is left behind) offboarded within the last 30 days, or
-- named by p_customer whenever they were offboarded. The bound: reading an offboarded customer's tenant
-- needs the MSP's partner app's consent, which offboarding leaves (it is the MSP's app), but which a former
-- customer withdraws sooner or later — it would be `audit-failed` every night from then on; and after 30
-- days Entra has purged the deleted app for good, so nothing Onboarder removed can come back by a restore.
-- An onboarded customer being offboarded, and an offboarded one being onboarded or offboarded again, are
-- left out: the audit would see the objects that job is removing or making, as drift. Called only by
-- enqueue_audits (with the owner's rights), never granted.
CREATE OR REPLACE FUNCTION onboarder.audit_scope(p_msp text, p_customer text)
RETURNS TABLE (tenant_id bigint, msp_id text, tenant_key text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT t.id, t.msp_id, t.tenant_key
      FROM onboarder.tenants t JOIN onboarder.integrations i ON i.tenant_id = t.id
     WHERE ((i.onboarded_at IS NOT NULL AND i.offboarded_at IS NULL
             AND NOT EXISTS (SELECT 1 FROM onboarder.jobs a
                              WHERE a.tenant_id = t.id AND a.state IN ('queued', 'running', 'waiting', 'needs_attention')
                                AND a.kind = 'offboard' AND a.subject = ''))
            OR (i.offboarded_at IS NOT NULL
                AND (i.offboarded_at > now() - interval '30 days' OR p_customer IS NOT NULL)
                AND NOT EXISTS (SELECT 1 FROM onboarder.jobs a
                                 WHERE a.tenant_id = t.id AND a.state IN ('queued', 'running', 'waiting', 'needs_attention')
                                   AND (a.kind = 'onboard' OR (a.kind = 'offboard' AND a.subject = '')))))
       AND t.msp_id IN (SELECT onboarder.acting_msps())
       AND (p_msp IS NULL OR t.msp_id = p_msp)
       AND (p_customer IS NULL OR t.tenant_key = p_customer OR i.default_domain = lower(p_customer)
            OR i.entra_tenant_id::text = lower(p_customer))
     ORDER BY t.msp_id, t.tenant_key
$$;

-- One `audit` job per customer in scope (one active audit per tenant: a customer whose audit is still
-- queued or running reports that job, created = false). Events: `enqueued`, with the actor. An MSP the
-- login may not act for raises P0002 "no MSP X", as for an MSP that does not exist.
CREATE OR REPLACE FUNCTION onboarder.enqueue_audits(p_msp text DEFAULT NULL, p_customer text DEFAULT NULL,
                                                    p_actor text DEFAULT NULL)
RETURNS TABLE (job_id bigint, tenant_id bigint, msp text, tenant_key text, created boolean)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_actor text := coalesce(p_actor, session_user);
BEGIN
    IF p_msp IS NOT NULL AND NOT (onboarder.may_act_for(p_msp) AND EXISTS (SELECT 1 FROM onboarder.msps m WHERE m.id = p_msp)) THEN
        RAISE EXCEPTION 'no MSP %', p_msp USING ERRCODE = 'no_data_found';
    END IF;
    RETURN QUERY
    WITH scope AS (
        SELECT s.tenant_id, s.msp_id, s.tenant_key FROM onboarder.audit_scope(p_msp, p_customer) s
    ), inserted AS (
        INSERT INTO onboarder.jobs AS j (kind, msp_id, tenant_id, subject, payload)
        SELECT 'audit', s.msp_id, s.tenant_id, '', '{}'::jsonb FROM scope s
        ON CONFLICT DO NOTHING
        RETURNING j.id, j.tenant_id
    ), events AS (
        INSERT INTO onboarder.events (job_id, kind, actor) SELECT n.id, 'enqueued', v_actor FROM inserted n
    )
    SELECT coalesce(n.id, a.id), s.tenant_id, s.msp_id, s.tenant_key, n.id IS NOT NULL
      FROM scope s
      LEFT JOIN inserted n ON n.tenant_id = s.tenant_id
      LEFT JOIN onboarder.jobs a
             ON n.id IS NULL AND a.tenant_id = s.tenant_id AND a.kind = 'audit' AND a.subject = ''
            AND a.state IN ('queued', 'running', 'waiting', 'needs_attention')
     ORDER BY s.msp_id, s.tenant_key;
    PERFORM pg_notify('onboarder_jobs', '');
END $$;

-- Findings an onboarding does not put right (DriftPlan.notRepairable in Sources/Pipeline/Plans/DriftPlan.swift
-- says why for each; DriftRepairableTests checks the two lists agree): a customer with only these gets no repair.
CREATE OR REPLACE FUNCTION onboarder.drift_repairable(p_finding text) RETURNS boolean
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT p_finding NOT IN ('credential-unknown', 'user-missing', 'user-disabled', 'user-phone-system',
                             'audit-failed', 'offboard-residue')
$$;

-- An onboarding for each of p_tenants that has repairable drift findings, with the payload of its last
-- onboarding that succeeded (a later one that failed may carry a mistyped PBX URL or user list): the
-- pipeline's steps find what exists and put back only what is missing. One active onboarding per tenant
-- (an active one is reported, created = false). A customer the login may not act for raises P0002 "no
-- customer N", as for one that does not exist; one without repairable findings, never onboarded, offboarded
-- since, or being offboarded is left out (nothing to repair). More onboardings than
-- queue_limits.approval_threshold are held like an enqueue of that size: one batch (reason 'repair', its
-- plan the customers and their findings), the jobs waiting for approval with a 'held' event each.
-- Events: `enqueued` with the actor and {"repair": true, "findings": […]}.
-- Before 0017 the result had no batch_id.
DROP FUNCTION IF EXISTS onboarder.repair_drift(bigint[], text);
CREATE OR REPLACE FUNCTION onboarder.repair_drift(p_tenants bigint[], p_actor text DEFAULT NULL)
RETURNS TABLE (tenant_id bigint, tenant_key text, job_id bigint, created boolean, findings text[], batch_id bigint)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_actor text := coalesce(p_actor, session_user);
    v_tenant bigint;
    v_drifted bigint[];
    v_findings jsonb[];
    v_payloads jsonb[];
    v_creates integer;
    v_threshold integer;
    v_batch bigint;
BEGIN
    FOREACH v_tenant IN ARRAY coalesce(p_tenants, '{}') LOOP
        PERFORM onboarder.require_tenant(v_tenant);
    END LOOP;
    -- Waits for an offboarding being enqueued, whose job the check below must see (enqueue_many says why).
    LOCK TABLE onboarder.jobs IN ROW EXCLUSIVE MODE;
    SELECT array_agg(w.tenant_id ORDER BY w.tenant_key), array_agg(to_jsonb(w.findings) ORDER BY w.tenant_key),
           array_agg(w.payload ORDER BY w.tenant_key)
      INTO v_drifted, v_findings, v_payloads
      FROM (
        SELECT t.id AS tenant_id, t.tenant_key,
               (SELECT array_agg(DISTINCT f.finding ORDER BY f.finding) FROM onboarder.drift_findings f
                 WHERE f.tenant_id = t.id AND onboarder.drift_repairable(f.finding)) AS findings,
               (SELECT j.payload FROM onboarder.jobs j
                 WHERE j.tenant_id = t.id AND j.kind = 'onboard' AND j.state = 'succeeded'
                 ORDER BY j.id DESC LIMIT 1) AS payload
          FROM onboarder.tenants t JOIN onboarder.integrations i ON i.tenant_id = t.id
         WHERE t.id = ANY(p_tenants) AND i.onboarded_at IS NOT NULL AND i.offboarded_at IS NULL
           -- Nor one being offboarded: the onboarding would run after it and undo it (enqueue_many refuses it too).
           AND NOT EXISTS (SELECT 1 FROM onboarder.jobs o
                            WHERE o.tenant_id = t.id AND o.kind = 'offboard' AND o.subject = ''
                              AND o.state IN ('queued', 'running', 'waiting', 'needs_attention'))
      ) w
     WHERE w.findings IS NOT NULL AND w.payload IS NOT NULL;

    -- Approval: as many new onboardings as the enqueue of that many customers would be held for.
    SELECT count(*) INTO v_creates FROM unnest(v_drifted) AS d(tenant_id)
     WHERE NOT EXISTS (SELECT 1 FROM onboarder.jobs a
                        WHERE a.tenant_id = d.tenant_id AND a.kind = 'onboard' AND a.subject = ''
                          AND a.state IN ('queued', 'running', 'waiting', 'needs_attention'));
    SELECT l.approval_threshold INTO v_threshold FROM onboarder.queue_limits l WHERE l.singleton;
    IF v_creates > v_threshold THEN
        INSERT INTO onboarder.batches (msp_ids, reason, plan, created_actor)
        SELECT array_agg(DISTINCT t.msp_id ORDER BY t.msp_id), 'repair',
               jsonb_build_object('repair', true, 'customers', jsonb_agg(
                   jsonb_build_object('msp', t.msp_id, 'tenant', t.tenant_key, 'path', d.payload ->> 'path',
                                      'pbx_url', d.payload ->> 'pbx_url', 'findings', d.findings)
                   ORDER BY t.msp_id, t.tenant_key)),
               v_actor
          FROM unnest(v_drifted, v_findings, v_payloads) AS d(tenant_id, findings, payload)
          JOIN onboarder.tenants t ON t.id = d.tenant_id
        RETURNING id INTO v_batch;
    END IF;

    RETURN QUERY
    WITH drifted AS (
        SELECT d.tenant_id, t.msp_id, t.tenant_key, ARRAY(SELECT jsonb_array_elements_text(d.findings)) AS findings,
               d.payload
          FROM unnest(v_drifted, v_findings, v_payloads) AS d(tenant_id, findings, payload)
          JOIN onboarder.tenants t ON t.id = d.tenant_id
    ), inserted AS (
        -- A held batch's jobs wait for approval, where no claim reaches them (as enqueue_many's).
        INSERT INTO onboarder.jobs AS j (kind, msp_id, tenant_id, subject, payload, state, wait_reason, run_at, batch_id)
        SELECT 'onboard', d.msp_id, d.tenant_id, '', d.payload,
               CASE WHEN v_batch IS NULL THEN 'queued' ELSE 'waiting' END,
               CASE WHEN v_batch IS NOT NULL THEN 'approval' END,
               CASE WHEN v_batch IS NULL THEN now() ELSE 'infinity' END, v_batch
          FROM drifted d
        ON CONFLICT DO NOTHING
        RETURNING j.id, j.tenant_id, j.batch_id
    ), events AS (
        INSERT INTO onboarder.events (job_id, kind, actor, detail)
        SELECT n.id, 'enqueued', v_actor, jsonb_build_object('repair', true, 'findings', to_jsonb(d.findings))
          FROM inserted n JOIN drifted d ON d.tenant_id = n.tenant_id
        UNION ALL
        SELECT n.id, 'held', v_actor, jsonb_build_object('batch', n.batch_id, 'reason', 'repair')
          FROM inserted n WHERE n.batch_id IS NOT NULL
    )
    SELECT d.tenant_id, d.tenant_key, coalesce(n.id, a.id), n.id IS NOT NULL, d.findings,
           CASE WHEN n.id IS NOT NULL THEN n.batch_id ELSE a.batch_id END
      FROM drifted d
      LEFT JOIN inserted n ON n.tenant_id = d.tenant_id
      LEFT JOIN onboarder.jobs a
             ON n.id IS NULL AND a.tenant_id = d.tenant_id AND a.kind = 'onboard' AND a.subject = ''
            AND a.state IN ('queued', 'running', 'waiting', 'needs_attention')
     ORDER BY d.tenant_key;
    IF v_batch IS NOT NULL THEN
        -- The jobs count in a statement of its own: the insert above is not visible to its own statement.
        UPDATE onboarder.batches b SET jobs = (SELECT count(*) FROM onboarder.jobs j WHERE j.batch_id = b.id)
         WHERE b.id = v_batch;
    END IF;
    PERFORM pg_notify('onboarder_jobs', '');
END $$;

-- Per customer and finding: what the last audit found drifted from what Onboarder set up, since when, and
-- when it was last seen. security_invoker: the viewer's row-level security on drift_findings, tenants and
-- integrations applies, so an operator sees only its MSPs' customers.
CREATE OR REPLACE VIEW dashboard.drift WITH (security_invoker = true) AS
SELECT f.msp_id AS msp, t.tenant_key AS customer, coalesce(t.display_name, i.default_domain, t.tenant_key) AS display_name,
       i.path, f.finding, f.subject, f.detail, f.since, f.seen_at, i.audited_at, f.job_id AS audit_job_id
  FROM onboarder.drift_findings f
  JOIN onboarder.tenants t ON t.id = f.tenant_id
  LEFT JOIN onboarder.integrations i ON i.tenant_id = f.tenant_id;


REVOKE ALL ON FUNCTION onboarder.audit_scope(text, text), onboarder.enqueue_audits(text, text, text),
                       onboarder.repair_drift(bigint[], text), onboarder.drift_repairable(text)
  FROM PUBLIC, onboarder_worker, onboarder_enqueuer, onboarder_operator;
-- Operators (the nightly `onboarder audit` runs as the operator login) and workers.
GRANT EXECUTE ON FUNCTION onboarder.enqueue_audits(text, text, text), onboarder.repair_drift(bigint[], text)
   TO onboarder_worker, onboarder_operator;
REVOKE ALL ON dashboard.drift FROM PUBLIC, onboarder_enqueuer;
GRANT SELECT ON dashboard.drift TO onboarder_worker, onboarder_operator;
