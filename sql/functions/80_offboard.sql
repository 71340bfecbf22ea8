-- Offboarding (`onboarder offboard`, README "Offboarding a customer"): an operator enqueues the reverse
-- pipeline for customers of its MSPs. Operators may not write jobs, so this is SECURITY DEFINER and checks
-- every row itself; any refused row refuses the call (nothing enqueued).

-- One `offboard` job per customer named by p_keys (as `Tenants.matching` finds them: its tenant key as
-- enqueued, its Entra tenant id or its default domain), of MSP p_msp when given, else of whichever of the login's MSPs has it. The payload is the
-- customer's last onboarding's (PBX URL, client id, secret reference, path…: what the pipeline needs to
-- reach its PBX) plus keep_domain and dry_run. A dry run is its own subject ('dry-run'), so it may run
-- beside a real offboarding; one real offboarding per customer (the jobs' unique index). created = false:
-- the job of that subject that was active already.
CREATE OR REPLACE FUNCTION onboarder.enqueue_offboard(
    p_msp text, p_keys text[], p_keep_domain boolean[] DEFAULT NULL, p_dry_run boolean DEFAULT false,
    p_actor text DEFAULT NULL
) RETURNS TABLE (ordinal integer, job_id bigint, tenant_key text, created boolean)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_actor text := coalesce(p_actor, session_user);
    v_mine text[] := ARRAY(SELECT onboarder.acting_msps());
    v_subject text := CASE WHEN coalesce(p_dry_run, false) THEN 'dry-run' ELSE '' END;
    v_key text;
    v_ord integer;
    v_found bigint[];
    v_tenant bigint;
    v_msp text;
    v_payload jsonb;
    v_active record;
    v_tenants bigint[] := '{}';
    v_payloads jsonb[] := '{}';
    v_msps text[] := '{}';
    v_job bigint;
    v_created boolean;
BEGIN
    IF p_msp IS NOT NULL AND NOT p_msp = ANY (v_mine) THEN
        RAISE EXCEPTION 'msp: % is not an MSP this login may act for', left(p_msp, 63)
              USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF p_keep_domain IS NOT NULL AND cardinality(p_keep_domain) <> cardinality(p_keys) THEN
        RAISE EXCEPTION 'p_keep_domain must have one entry per key' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- An onboarding or rotation enqueued at the same moment as this offboarding would pass this call's
    -- check (it is not committed yet) while this job passes its (the same): both would run. This lock
    -- conflicts with the ROW EXCLUSIVE every job insert takes (enqueue_many, repair_drift, rotations), so
    -- it waits for those transactions to end and holds new ones until this one commits; the checks below
    -- are later statements and see what they wrote. Enqueues and workers wait for an offboarding's
    -- enqueue, a short transaction; they never wait for one another. Self-conflicting: two offboarding
    -- enqueues run one after the other instead of deadlocking on their inserts.
    IF NOT coalesce(p_dry_run, false) THEN
        LOCK TABLE onboarder.jobs IN SHARE ROW EXCLUSIVE MODE;
    END IF;
    FOR v_key, v_ord IN SELECT k.key, k.ord::integer FROM unnest(p_keys) WITH ORDINALITY AS k(key, ord) LOOP
        -- Another MSP's customer is refused exactly like one that does not exist: its name tells nothing.
        v_found := ARRAY(
            SELECT DISTINCT t.id FROM onboarder.tenants t LEFT JOIN onboarder.integrations i ON i.tenant_id = t.id
             WHERE t.msp_id = ANY (v_mine) AND (p_msp IS NULL OR t.msp_id = p_msp)
               AND (lower(t.tenant_key) = lower(v_key) OR t.entra_tenant_id::text = lower(v_key)
                    OR i.entra_tenant_id::text = lower(v_key) OR i.default_domain = lower(v_key)));
        IF cardinality(v_found) = 0 THEN
            RAISE EXCEPTION 'row %: tenant: % is not a customer of %', v_ord, coalesce(left(v_key, 253), '(none)'),
                            CASE WHEN p_msp IS NULL THEN 'an MSP this login acts for' ELSE 'MSP ' || p_msp END
                  USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF cardinality(v_found) > 1 THEN
            RAISE EXCEPTION 'row %: tenant: % is a customer of several MSPs: name one with --msp', v_ord, left(v_key, 253)
                  USING ERRCODE = 'invalid_parameter_value';
        END IF;
        v_tenant := v_found[1];
        SELECT t.msp_id INTO v_msp FROM onboarder.tenants t WHERE t.id = v_tenant;
        SELECT j.id, j.kind, j.state INTO v_active FROM onboarder.jobs j
         WHERE j.tenant_id = v_tenant AND j.kind IN ('onboard', 'rotate-secret', 'rotate-certificate')
           AND j.state IN ('queued', 'running', 'waiting', 'needs_attention')
         ORDER BY j.id LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'row %: tenant: % has an active % job % (%): cancel job % first', v_ord, left(v_key, 253),
                            v_active.kind, v_active.id, v_active.state, v_active.id
                  USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF NOT EXISTS (SELECT 1 FROM onboarder.integrations i WHERE i.tenant_id = v_tenant AND i.app_object_id IS NOT NULL)
        THEN
            RAISE EXCEPTION 'row %: tenant: % was never onboarded (no app registration is recorded): nothing to offboard',
                            v_ord, left(v_key, 253)
                  USING ERRCODE = 'invalid_parameter_value';
        END IF;
        SELECT j.payload INTO v_payload FROM onboarder.jobs j
         WHERE j.tenant_id = v_tenant AND j.kind = 'onboard' ORDER BY j.id DESC LIMIT 1;
        IF v_payload IS NULL THEN
            RAISE EXCEPTION 'row %: tenant: % has no onboarding job to take the PBX from', v_ord, left(v_key, 253)
                  USING ERRCODE = 'invalid_parameter_value';
        END IF;
        v_tenants := v_tenants || v_tenant;
        v_msps := v_msps || v_msp;
        v_payloads := v_payloads || (v_payload - 'keep_domain' - 'dry_run' || jsonb_build_object(
            'keep_domain', coalesce(p_keep_domain[v_ord], false), 'dry_run', coalesce(p_dry_run, false)));
    END LOOP;

    FOR v_ord IN 1 .. coalesce(cardinality(v_tenants), 0) LOOP
        v_created := false;
        INSERT INTO onboarder.jobs AS j (kind, msp_id, tenant_id, subject, payload)
        VALUES ('offboard', v_msps[v_ord], v_tenants[v_ord], v_subject, v_payloads[v_ord])
        ON CONFLICT DO NOTHING
        RETURNING j.id INTO v_job;
        IF v_job IS NOT NULL THEN
            v_created := true;
            INSERT INTO onboarder.events (job_id, kind, actor, detail)
            VALUES (v_job, 'enqueued', v_actor,
                    jsonb_build_object('keep_domain', v_payloads[v_ord] -> 'keep_domain', 'dry_run', p_dry_run));
        ELSE
            SELECT j.id INTO v_job FROM onboarder.jobs j
             WHERE j.tenant_id = v_tenants[v_ord] AND j.kind = 'offboard' AND j.subject = v_subject
               AND j.state IN ('queued', 'running', 'waiting', 'needs_attention');
        END IF;
        ordinal := v_ord;
        job_id := v_job;
        created := v_created;
        SELECT t.tenant_key INTO tenant_key FROM onboarder.tenants t WHERE t.id = v_tenants[v_ord];
        RETURN NEXT;
        v_job := NULL;
    END LOOP;
    PERFORM pg_notify('onboarder_jobs', '');
END $$;

-- The offboarding's last step (offboard-records), in the worker's transaction: every credential of the
-- customer removed with its sealed value destroyed, the integration marked offboarded by the job, the drift
-- found while it was onboarded cleared (a drift_cleared event each). Returns
-- the credentials it changed (kind, key id or thumbprint) for the events.
CREATE OR REPLACE FUNCTION onboarder.record_offboarded(p_tenant bigint, p_job bigint)
RETURNS TABLE (kind text, identifier text, previous_state text)
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    WITH before AS (
        SELECT c.id, c.state FROM onboarder.credentials c
         WHERE c.tenant_id = p_tenant AND (c.state <> 'removed' OR c.sealed IS NOT NULL)
           FOR UPDATE
    ), changed AS (
        UPDATE onboarder.credentials c
           SET state = 'removed', removed_at = coalesce(c.removed_at, now()), sealed = NULL, updated_at = now()
          FROM before b WHERE c.id = b.id
        RETURNING c.kind, coalesce(c.key_id::text, c.thumbprint) AS identifier, b.state AS previous_state
    ), marked AS (
        -- Executed whether or not the query reads it (a data-modifying WITH always runs to completion).
        UPDATE onboarder.integrations i SET offboarded_at = now(), offboard_job_id = p_job, updated_at = now()
         WHERE i.tenant_id = p_tenant
        RETURNING 1
    ), cleared AS (
        -- What the audit found while the customer was onboarded means nothing now; the audit of an
        -- offboarded customer records its own (offboard-residue).
        DELETE FROM onboarder.drift_findings f WHERE f.tenant_id = p_tenant
        RETURNING f.finding, f.subject
    ), logged AS (
        INSERT INTO onboarder.events (job_id, kind, detail)
        SELECT p_job, 'drift_cleared', jsonb_build_object('finding', d.finding, 'subject', d.subject, 'why', 'offboarded')
          FROM cleared d
    )
    SELECT c.kind, c.identifier, c.previous_state FROM changed c
$$;

REVOKE ALL ON FUNCTION
      onboarder.enqueue_offboard(text, text[], boolean[], boolean, text), onboarder.record_offboarded(bigint, bigint)
  FROM PUBLIC, onboarder_worker, onboarder_enqueuer, onboarder_operator;
-- Operators enqueue offboardings (their MSPs' customers only); workers too (a script on a worker host).
GRANT EXECUTE ON FUNCTION onboarder.enqueue_offboard(text, text[], boolean[], boolean, text)
   TO onboarder_operator, onboarder_worker;
-- Runs as the worker (not SECURITY DEFINER): the worker's own privileges on credentials and integrations.
GRANT EXECUTE ON FUNCTION onboarder.record_offboarded(bigint, bigint) TO onboarder_worker;
