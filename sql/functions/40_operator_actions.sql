-- Operator actions: what `onboarder retry|resume|cancel|cert add|secret export` call.
--
-- SECURITY DEFINER, for operators (who may not write the tables) and workers. A job or customer that does
-- not exist and one of an MSP the login may not act for raise the same error (P0002, "no job N" / "no
-- customer N"), so ids of other MSPs' rows tell nothing. A job in a state the action does not apply to
-- gives NULL. Every action's event records the actor (p_actor, default the login) beside the login.

-- Wakes the tenants' jobs that wait for operator input: they run now instead of at their next check; one
-- notification however many. Returns how many were woken. The checks are its callers'; granted to nobody.
-- (The DROP removes the one-tenant form 0007_security.sql made.)
DROP FUNCTION IF EXISTS onboarder.wake_input_waiters(bigint, text, text);
CREATE OR REPLACE FUNCTION onboarder.wake_input_waiters(p_tenants bigint[], p_why text, p_actor text)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n integer;
BEGIN
    WITH woken AS (
        UPDATE onboarder.jobs SET run_at = now(), updated_at = now()
         WHERE tenant_id = ANY (p_tenants) AND state = 'waiting' AND wait_reason = 'input'
        RETURNING id
    ), logged AS (
        INSERT INTO onboarder.events (job_id, kind, actor, detail)
        SELECT id, 'woken', p_actor, jsonb_build_object('why', p_why) FROM woken
    )
    SELECT count(*) INTO n FROM woken;
    IF n > 0 THEN PERFORM pg_notify('onboarder_jobs', ''); END IF;
    RETURN n;
END $$;

-- The job / customer an operator action names, if the login may act for its MSP. A missing id and another
-- MSP's id raise the same P0002, so an operator learns nothing of other MSPs' ids. Called only by the
-- actions below (which run with the owner's rights), never granted.
CREATE OR REPLACE FUNCTION onboarder.require_job(p_job bigint) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM onboarder.jobs j WHERE j.id = p_job AND onboarder.may_act_for(j.msp_id)) THEN
        RAISE EXCEPTION 'no job %', p_job USING ERRCODE = 'no_data_found';
    END IF;
END $$;

CREATE OR REPLACE FUNCTION onboarder.require_tenant(p_tenant bigint) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM onboarder.tenants t WHERE t.id = p_tenant AND onboarder.may_act_for(t.msp_id)) THEN
        RAISE EXCEPTION 'no customer %', p_tenant USING ERRCODE = 'no_data_found';
    END IF;
END $$;

-- Whether a job may be put back in the queue by an operator: not while it waits for approval, nor when
-- it belongs to a batch that was not approved (a cancelled job of a held batch stays out of the queue
-- until approve_batch; one of a cancelled batch for good). Only approve_batch releases a held job.
CREATE OR REPLACE FUNCTION onboarder.released_from_approval(p_wait_reason text, p_batch bigint) RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT p_wait_reason IS DISTINCT FROM 'approval'
           AND (p_batch IS NULL
                OR EXISTS (SELECT 1 FROM onboarder.batches b WHERE b.id = p_batch AND b.state = 'approved'))
$$;

-- Puts a job that stopped (needs_attention, failed, cancelled) or waits back in the queue now. Steps
-- already done stay done; the failure counts of the others start again. NULL when the job is running or
-- succeeded, waits for approval (or is of a batch not approved), or another job of its tenant, kind and
-- subject is active (a NOTICE says so).
CREATE OR REPLACE FUNCTION onboarder.retry_job(p_job bigint, p_actor text DEFAULT NULL) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    result text;
BEGIN
    PERFORM onboarder.require_job(p_job);
    UPDATE onboarder.jobs j
       SET state = 'queued', wait_reason = NULL, run_at = now(), attention = NULL, attention_at = NULL,
           finished_at = NULL, updated_at = now()
     WHERE j.id = p_job AND j.state IN ('needs_attention', 'failed', 'cancelled', 'waiting')
       AND onboarder.released_from_approval(j.wait_reason, j.batch_id)
       AND NOT EXISTS (SELECT 1 FROM onboarder.jobs o
                        WHERE o.tenant_id = j.tenant_id AND o.kind = j.kind AND o.subject = j.subject AND o.id <> j.id
                          AND o.state IN ('queued', 'running', 'waiting', 'needs_attention'))
    RETURNING j.state INTO result;
    IF result IS NULL THEN
        RAISE NOTICE 'job % is not stopped or waiting, waits for approval (onboarder approve), or its tenant has another active job of its kind', p_job;
        RETURN NULL;
    END IF;
    UPDATE onboarder.job_steps SET attempts = 0, state = 'pending' WHERE job_id = p_job AND state <> 'done';
    INSERT INTO onboarder.events (job_id, kind, actor) VALUES (p_job, 'retried', coalesce(p_actor, session_user));
    PERFORM pg_notify('onboarder_jobs', '');
    RETURN result;
END $$;

-- Runs a job that waits (input, a retry's backoff, throttling: not approval) or needs attention now,
-- keeping its steps' counts (retry_job starts them again). NULL for a job in any other state.
CREATE OR REPLACE FUNCTION onboarder.resume_job(p_job bigint, p_actor text DEFAULT NULL) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    result text;
BEGIN
    PERFORM onboarder.require_job(p_job);
    UPDATE onboarder.jobs j
       SET state = 'queued', wait_reason = NULL, run_at = now(), attention = NULL, attention_at = NULL,
           updated_at = now()
     WHERE j.id = p_job AND j.state IN ('waiting', 'needs_attention')
       AND onboarder.released_from_approval(j.wait_reason, j.batch_id)
    RETURNING j.state INTO result;
    IF result IS NULL THEN
        RETURN NULL;
    END IF;
    INSERT INTO onboarder.events (job_id, kind, actor) VALUES (p_job, 'resumed', coalesce(p_actor, session_user));
    PERFORM pg_notify('onboarder_jobs', '');
    RETURN result;
END $$;

-- Cancels a job that is not running; a running job is left to finish its step (cancel it again after).
CREATE OR REPLACE FUNCTION onboarder.cancel_job(p_job bigint, p_actor text DEFAULT NULL) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    result text;
BEGIN
    PERFORM onboarder.require_job(p_job);
    UPDATE onboarder.jobs j
       SET state = 'cancelled', wait_reason = NULL, attention = NULL, attention_at = NULL, finished_at = now(),
           updated_at = now()
     WHERE j.id = p_job AND j.state IN ('queued', 'waiting', 'needs_attention')
    RETURNING j.state INTO result;
    IF result IS NOT NULL THEN
        INSERT INTO onboarder.events (job_id, kind, actor) VALUES (p_job, 'cancelled', coalesce(p_actor, session_user));
    END IF;
    RETURN result;
END $$;

-- Wakes the tenant's jobs that wait for operator input (a DNS record was published by hand, say).
-- Returns how many.
CREATE OR REPLACE FUNCTION onboarder.wake_tenant(p_tenant bigint, p_why text, p_actor text DEFAULT NULL) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM onboarder.require_tenant(p_tenant);
    RETURN onboarder.wake_input_waiters(ARRAY[p_tenant], p_why, coalesce(p_actor, session_user));
END $$;

-- Records the PBX certificates of customers (`onboarder cert add`: the CLI parsed each and computed its SHA-1
-- thumbprint; `cert add --dir` hands over a technician's round, hundreds, in one call) and wakes the jobs
-- waiting for them. Each row on its own, in order: a row refused — a customer that does not exist or is one of
-- an MSP the login may not act for (the two alike: "no customer N"), a value out of bounds — records nothing
-- and says why (`refusal`, `code` its SQLSTATE); the others are recorded. recorded = false when that
-- certificate was recorded before (the jobs are woken all the same); woken counts the customer's jobs woken,
-- on its first row in the call (0 on its later ones); one notification however many. Operators may not write
-- credentials otherwise.
CREATE OR REPLACE FUNCTION onboarder.supply_certificates(
    p_tenants bigint[], p_thumbprints text[], p_certificate_pems text[], p_display_names text[],
    p_expires_ats timestamptz[], p_actor text DEFAULT NULL
) RETURNS TABLE (ordinal integer, recorded boolean, woken integer, code text, refusal text)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_actor text := coalesce(p_actor, session_user);
    -- The login's MSPs once per call (may_act_for's answer, as acting_msps lists it), not once per row.
    v_every boolean := onboarder.acts_for_every_msp();
    v_mine text[] := CASE WHEN NOT v_every THEN ARRAY(SELECT onboarder.acting_msps()) END;
    v_seen bigint[] := '{}';
    r record;
    v_thumbprint text;
    v_recorded boolean;
    v_job bigint;
BEGIN
    FOR r IN SELECT u.tenant, u.thumbprint, u.pem, u.display_name, u.expires_at, u.ord::integer AS ord
               FROM unnest(p_tenants, p_thumbprints, p_certificate_pems, p_display_names, p_expires_ats)
                    WITH ORDINALITY AS u(tenant, thumbprint, pem, display_name, expires_at, ord)
    LOOP
        v_thumbprint := upper(r.thumbprint);
        ordinal := r.ord;
        recorded := NULL;
        woken := NULL;
        code := NULL;
        refusal := NULL;
        IF r.tenant IS NULL OR NOT EXISTS (SELECT 1 FROM onboarder.tenants t
                                            WHERE t.id = r.tenant AND (v_every OR t.msp_id = ANY (v_mine))) THEN
            code := 'P0002';
            refusal := format('no customer %s', coalesce(r.tenant::text, 'NULL'));
        ELSIF v_thumbprint IS NULL OR v_thumbprint !~ '^[0-9A-F]{40}$' THEN
            code := '22023';
            refusal := 'thumbprint: a SHA-1 thumbprint is 40 hexadecimal digits';
        ELSIF r.pem IS NULL OR octet_length(r.pem) > 16384
              OR r.pem !~ '^\s*(-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----\s*)+$' THEN
            code := '22023';
            refusal := 'certificate_pem: one or more PEM certificates (-----BEGIN CERTIFICATE-----), at most 16 KiB, nothing else';
        ELSIF r.display_name IS NULL OR r.display_name = '' OR length(r.display_name) > 256
              OR r.display_name ~ '[\x01-\x1f\x7f]' THEN
            code := '22023';
            refusal := 'display_name: 1 to 256 characters, no control characters';
        ELSIF r.expires_at IS NOT NULL AND r.expires_at <= now() THEN
            code := '22023';
            refusal := 'expires_at: the certificate has expired';
        END IF;
        IF refusal IS NOT NULL THEN
            RETURN NEXT;
            CONTINUE;
        END IF;
        WITH added AS (
            INSERT INTO onboarder.credentials (tenant_id, kind, source, state, thumbprint, display_name,
                                               certificate_pem, expires_at)
            VALUES (r.tenant, 'certificate', 'pbx', 'supplied', v_thumbprint, r.display_name, r.pem, r.expires_at)
            ON CONFLICT (tenant_id, thumbprint) WHERE kind = 'certificate' DO UPDATE
                -- A certificate removed before (an offboarded customer's PBX keeps its key pair) is supplied
                -- anew for the onboarding that follows; one in any other state is recorded already.
                SET state = 'supplied', removed_at = NULL, app_object_id = NULL, certificate_pem = EXCLUDED.certificate_pem,
                    display_name = EXCLUDED.display_name, expires_at = EXCLUDED.expires_at, updated_at = now()
                WHERE onboarder.credentials.state = 'removed'
            RETURNING 1
        )
        SELECT EXISTS (SELECT 1 FROM added) INTO v_recorded;
        SELECT max(j.id) INTO v_job FROM onboarder.jobs j WHERE j.tenant_id = r.tenant;
        INSERT INTO onboarder.events (job_id, kind, actor, detail)
        VALUES (v_job, 'certificate_supplied', v_actor,
                jsonb_build_object('tenant_id', r.tenant, 'thumbprint', v_thumbprint, 'recorded', v_recorded));
        recorded := v_recorded;
        woken := CASE WHEN r.tenant = ANY (v_seen) THEN 0
                      ELSE onboarder.wake_input_waiters(ARRAY[r.tenant], 'certificate supplied', v_actor) END;
        v_seen := v_seen || r.tenant;
        RETURN NEXT;
    END LOOP;
END $$;

-- One customer's certificate, for SQL users: supply_certificates' row, its refusal raised (P0002 "no customer
-- N", 22023 for a value out of bounds).
CREATE OR REPLACE FUNCTION onboarder.supply_certificate(
    p_tenant bigint, p_thumbprint text, p_certificate_pem text, p_display_name text, p_expires_at timestamptz,
    p_actor text DEFAULT NULL
) RETURNS TABLE (recorded boolean, woken integer)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
BEGIN
    SELECT * INTO r FROM onboarder.supply_certificates(ARRAY[p_tenant], ARRAY[p_thumbprint], ARRAY[p_certificate_pem],
                                                       ARRAY[p_display_name], ARRAY[p_expires_at], p_actor);
    IF r.refusal IS NOT NULL THEN
        RAISE EXCEPTION '%', r.refusal USING ERRCODE = r.code;
    END IF;
    RETURN QUERY SELECT r.recorded, r.woken;
END $$;

-- Records that client secrets were handed to an operator (`onboarder handover sheet`, `secret export`, after
-- they were opened on a worker host: only workers hold the key, so only workers call this): exported_at, an
-- event per secret with the key id (never the value) and who, and wakes each customer's rotation waiting for
-- the hand-over (once per customer, however many of its secrets). All or nothing: a credential that is not a
-- client secret, or is one of an MSP the login may not act for, raises P0002 ("no client secret N", the
-- lowest such) and records none. A sheet shows hundreds: one call. Returns each credential's job.
CREATE OR REPLACE FUNCTION onboarder.record_secret_exports(p_credentials bigint[], p_actor text)
RETURNS TABLE (credential bigint, job bigint)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_actor text := coalesce(p_actor, session_user);
    -- The login's MSPs once per call (may_act_for's answer, as acting_msps lists it), not once per secret.
    v_every boolean := onboarder.acts_for_every_msp();
    v_mine text[] := CASE WHEN NOT v_every THEN ARRAY(SELECT onboarder.acting_msps()) END;
    v_refused bigint;
    v_ids bigint[];
BEGIN
    SELECT u.id INTO v_refused FROM unnest(p_credentials) AS u(id)
     WHERE NOT EXISTS (SELECT 1 FROM onboarder.credentials c JOIN onboarder.tenants t ON t.id = c.tenant_id
                        WHERE c.id = u.id AND c.kind = 'password' AND (v_every OR t.msp_id = ANY (v_mine)))
     ORDER BY u.id NULLS FIRST LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'no client secret %', coalesce(v_refused::text, 'NULL') USING ERRCODE = 'no_data_found';
    END IF;
    -- Locked in id order: two sheets at once never wait on each other in a cycle.
    SELECT array_agg(l.id ORDER BY l.id) INTO v_ids
      FROM (SELECT c.id FROM onboarder.credentials c WHERE c.id = ANY (p_credentials) ORDER BY c.id FOR UPDATE) l;
    IF v_ids IS NULL THEN
        RETURN;
    END IF;
    UPDATE onboarder.credentials SET exported_at = now(), updated_at = now() WHERE id = ANY (v_ids);
    INSERT INTO onboarder.events (job_id, kind, actor, detail)
    SELECT c.job_id, 'secret_exported', v_actor, jsonb_build_object('key_id', c.key_id, 'credential_id', c.id)
      FROM onboarder.credentials c WHERE c.id = ANY (v_ids) ORDER BY c.id;
    PERFORM onboarder.wake_input_waiters(
        ARRAY(SELECT DISTINCT c.tenant_id FROM onboarder.credentials c WHERE c.id = ANY (v_ids)), 'secret exported',
        v_actor);
    RETURN QUERY SELECT c.id, c.job_id FROM onboarder.credentials c WHERE c.id = ANY (v_ids) ORDER BY c.id;
END $$;

-- The one-secret form it replaces (the CLI calls record_secret_exports for one secret too; workers only, so
-- no SQL user calls it).
DROP FUNCTION IF EXISTS onboarder.record_secret_export(bigint, text);

REVOKE ALL ON FUNCTION
      onboarder.wake_input_waiters(bigint[], text, text), onboarder.require_job(bigint), onboarder.require_tenant(bigint),
      onboarder.released_from_approval(text, bigint),
      onboarder.retry_job(bigint, text), onboarder.resume_job(bigint, text), onboarder.cancel_job(bigint, text),
      onboarder.wake_tenant(bigint, text, text),
      onboarder.supply_certificate(bigint, text, text, text, timestamptz, text),
      onboarder.supply_certificates(bigint[], text[], text[], text[], timestamptz[], text),
      onboarder.record_secret_exports(bigint[], text)
  FROM PUBLIC, onboarder_worker, onboarder_enqueuer, onboarder_operator;
-- Operators and workers: the operator actions.
GRANT EXECUTE ON FUNCTION
      onboarder.retry_job(bigint, text), onboarder.resume_job(bigint, text), onboarder.cancel_job(bigint, text),
      onboarder.wake_tenant(bigint, text, text),
      onboarder.supply_certificate(bigint, text, text, text, timestamptz, text),
      onboarder.supply_certificates(bigint[], text[], text[], text[], timestamptz[], text)
   TO onboarder_worker, onboarder_operator;
-- Workers: the secret hand-over (only they hold the key that opens the secret).
GRANT EXECUTE ON FUNCTION onboarder.record_secret_exports(bigint[], text) TO onboarder_worker;
