-- The onboarding pipeline's records: what Onboarder knows of each customer's Microsoft 365 side (every
-- external id recorded the moment it is known), the credentials it created or was given (secrets and
-- private keys only as AES-256-GCM ciphertext), and the scripts it fetched for operators.
--
-- The pipeline's per-step checkpoints live in onboarder.job_steps (state 'done', output = what the step
-- learnt); these tables are the lasting, per-tenant view of the same facts, which rotation and the
-- dashboards read.

CREATE TABLE onboarder.integrations (
    tenant_id              bigint PRIMARY KEY REFERENCES onboarder.tenants,
    path                   text CHECK (path IN ('teams', 'm365')),
    entra_tenant_id        uuid,
    default_domain         text,     -- the tenant's default domain, by which operators may name it
    app_object_id          uuid,     -- the application's object id (Graph /applications/{id})
    app_id                 uuid,     -- its application (client) id
    service_principal_id   uuid,
    phone_system_available boolean,  -- a subscribed SKU carries MCOEV
    pbx_url                text,
    sbc_fqdn               text,     -- Teams path: the Direct Routing domain
    summary                text,     -- the last onboarding's result, in words
    onboarded_at           timestamptz,
    updated_at             timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE onboarder.integrations IS 'Per customer: the app registration, service principal and PBX Onboarder set up.';

-- Every credential Onboarder put on a customer's app (or was handed for it).
--   state supplied:   a PBX certificate given with `onboarder cert add`, not uploaded yet
--         pending:    a certificate about to be uploaded (recorded before the PATCH, so a crash cannot lose it)
--         active:     on the app and recorded
--         superseded: replaced by a newer one, still on the app during the grace period (rotation)
--         removed:    taken off the app
CREATE TABLE onboarder.credentials (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id       bigint NOT NULL REFERENCES onboarder.tenants,
    kind            text NOT NULL CHECK (kind IN ('password', 'certificate')),
    source          text NOT NULL CHECK (source IN ('addPassword', 'generated', 'pbx')),
    state           text NOT NULL CHECK (state IN ('supplied', 'pending', 'active', 'superseded', 'removed')),
    app_object_id   uuid,
    key_id          uuid,             -- Graph's keyId
    thumbprint      text CHECK (thumbprint ~ '^[0-9A-F]{40}$'),  -- certificate: SHA-1, as customKeyIdentifier
    display_name    text NOT NULL,
    -- The client secret, or the generated certificate's private key (PEM): `og1.<key id>.<base64url>`,
    -- AES-256-GCM under the key named in it, bound to this row's kind and tenant.
    sealed          text CHECK (sealed IS NULL OR sealed ~ '^og1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$'),
    certificate_pem text,
    expires_at      timestamptz,
    job_id          bigint,
    exported_at     timestamptz,      -- last `onboarder secret export`
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    removed_at      timestamptz,
    CONSTRAINT credentials_password_sealed CHECK (kind <> 'password' OR (key_id IS NOT NULL AND sealed IS NOT NULL)),
    CONSTRAINT credentials_certificate_pem CHECK (kind <> 'certificate' OR (thumbprint IS NOT NULL AND certificate_pem IS NOT NULL)),
    CONSTRAINT credentials_removed_at CHECK ((state = 'removed') = (removed_at IS NOT NULL))
);
CREATE UNIQUE INDEX credentials_password_key ON onboarder.credentials (key_id) WHERE kind = 'password';
CREATE UNIQUE INDEX credentials_certificate ON onboarder.credentials (tenant_id, thumbprint) WHERE kind = 'certificate';
CREATE INDEX credentials_by_tenant ON onboarder.credentials (tenant_id, kind, state);
CREATE INDEX credentials_expiring ON onboarder.credentials (expires_at) WHERE state = 'active';
COMMENT ON TABLE onboarder.credentials IS 'Client secrets and certificates on customer apps; secrets only as ciphertext.';

CREATE TABLE onboarder.scripts (
    tenant_id  bigint NOT NULL REFERENCES onboarder.tenants,
    name       text NOT NULL CHECK (name IN ('dial-plan', 'map-users')),
    body       text NOT NULL,
    job_id     bigint,
    fetched_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, name)
);
COMMENT ON TABLE onboarder.scripts IS 'Teams PowerShell from the PBX (GetDialPlanScript, GetMapUsersScript) for the operator.';

-- MARK: operator actions (also what `onboarder retry|cancel|resume` call)

-- Puts a job that stopped (needs_attention, failed, cancelled) or waits back in the queue now. Steps
-- already done stay done; the failure counts of the others start again. Returns the job's new state, or
-- NULL when there is no such job or another job of the tenant is active (it says so in a NOTICE).
CREATE FUNCTION onboarder.retry_job(p_job bigint, p_by text DEFAULT current_user) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    result text;
BEGIN
    UPDATE onboarder.jobs j
       SET state = 'queued', wait_reason = NULL, run_at = now(), attention = NULL, finished_at = NULL,
           updated_at = now()
     WHERE j.id = p_job AND j.state IN ('needs_attention', 'failed', 'cancelled', 'waiting')
       AND NOT EXISTS (SELECT 1 FROM onboarder.jobs o
                        WHERE o.tenant_id = j.tenant_id AND o.kind = j.kind AND o.subject = j.subject AND o.id <> j.id
                          AND o.state IN ('queued', 'running', 'waiting', 'needs_attention'))
    RETURNING state INTO result;
    IF result IS NULL THEN
        RAISE NOTICE 'job % is not stopped or waiting, or its tenant has another active job of its kind', p_job;
        RETURN NULL;
    END IF;
    UPDATE onboarder.job_steps SET attempts = 0, state = 'pending' WHERE job_id = p_job AND state <> 'done';
    INSERT INTO onboarder.events (job_id, kind, detail) VALUES (p_job, 'retried', jsonb_build_object('by', p_by));
    PERFORM pg_notify('onboarder_jobs', '');
    RETURN result;
END $$;

-- Cancels a job that is not running; a running job is left to finish its step (cancel it again after).
CREATE FUNCTION onboarder.cancel_job(p_job bigint, p_by text DEFAULT current_user) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    result text;
BEGIN
    UPDATE onboarder.jobs
       SET state = 'cancelled', wait_reason = NULL, attention = NULL, finished_at = now(), updated_at = now()
     WHERE id = p_job AND state IN ('queued', 'waiting', 'needs_attention')
    RETURNING state INTO result;
    IF result IS NOT NULL THEN
        INSERT INTO onboarder.events (job_id, kind, detail) VALUES (p_job, 'cancelled', jsonb_build_object('by', p_by));
    END IF;
    RETURN result;
END $$;

-- Wakes the tenant's jobs that wait for operator input (a certificate was supplied, a DNS record was
-- published by hand): they run now instead of at their next check.
CREATE FUNCTION onboarder.wake_tenant(p_tenant bigint, p_why text) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    WITH woken AS (
        UPDATE onboarder.jobs SET run_at = now(), updated_at = now()
         WHERE tenant_id = p_tenant AND state = 'waiting' AND wait_reason = 'input'
        RETURNING id
    ), logged AS (
        INSERT INTO onboarder.events (job_id, kind, detail) SELECT id, 'woken', jsonb_build_object('why', p_why) FROM woken
    )
    SELECT count(*) INTO n FROM woken;
    IF n > 0 THEN PERFORM pg_notify('onboarder_jobs', ''); END IF;
    RETURN n;
END $$;
