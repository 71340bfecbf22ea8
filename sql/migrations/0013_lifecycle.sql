-- The rest of a customer's life with an MSP (issue 22): offboarding, the nightly drift audit, and approval
-- before a large enqueue. The functions are in sql/functions (80_offboard, 82_audit, 84_approval).

DO $$
BEGIN
    -- Roles belong to the cluster and are the administrator's to create (sql/bootstrap.sql): the owner may
    -- not. Say so before anything is changed, instead of failing on the first GRANT.
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'onboarder_approver') THEN
        RAISE EXCEPTION 'the role onboarder_approver does not exist'
            USING ERRCODE = 'undefined_object',
                  HINT = 'Run sql/bootstrap.sql as the database administrator (it creates it), then onboarder migrate again.';
    END IF;
END $$;

-- MARK: offboarding

-- A customer taken out of the integration: when its offboarding finished, by which job. Onboarding again
-- clears it (the finish step).
ALTER TABLE onboarder.integrations
    ADD COLUMN offboarded_at timestamptz,
    ADD COLUMN offboard_job_id bigint,
    -- The last audit that read the customer's tenant (82_audit.sql), and its job.
    ADD COLUMN audited_at timestamptz,
    ADD COLUMN audit_job_id bigint;

-- An offboarded credential keeps its row (history: key id, thumbprint, dates) but not its secret: the
-- sealed value of a removed credential may be destroyed (NULL).
ALTER TABLE onboarder.credentials DROP CONSTRAINT credentials_password_sealed;
ALTER TABLE onboarder.credentials ADD CONSTRAINT credentials_password_sealed
    CHECK (kind <> 'password' OR (key_id IS NOT NULL AND (sealed IS NOT NULL OR state = 'removed')));

-- MARK: drift audit

-- What the last audit of each customer found that differs from what Onboarder set up and recorded. One row
-- per customer, finding and subject (which role, credential, user…); a finding the next audit no longer sees
-- is deleted (its history stays in the events: drift_found, drift_cleared). `since` is when it was first
-- seen, `seen_at` the last audit that saw it.
CREATE TABLE onboarder.drift_findings (
    tenant_id bigint NOT NULL REFERENCES onboarder.tenants,
    msp_id    text NOT NULL REFERENCES onboarder.msps,
    finding   text NOT NULL CONSTRAINT drift_findings_finding CHECK (finding ~ '^[a-z][a-z0-9-]{0,62}$'),
    subject   text NOT NULL DEFAULT '' CONSTRAINT drift_findings_subject CHECK (length(subject) <= 512),
    detail    text NOT NULL CONSTRAINT drift_findings_detail CHECK (length(detail) <= 2000),
    since     timestamptz NOT NULL DEFAULT now(),
    seen_at   timestamptz NOT NULL DEFAULT now(),
    job_id    bigint,
    PRIMARY KEY (tenant_id, finding, subject)
);
CREATE INDEX drift_findings_by_msp ON onboarder.drift_findings (msp_id, tenant_id);
COMMENT ON TABLE onboarder.drift_findings IS
    'Per customer: what the last audit found drifted from what Onboarder set up (one row per finding and subject).';

-- MARK: approval

-- An enqueue of more customers than the threshold (queue_limits.approval_threshold, which onboarder migrate
-- sets from enqueue.approval_threshold), or any enqueue from GDAP, is a held batch: its jobs wait
-- (wait_reason 'approval', run_at 'infinity', so no claim reaches them) until a member of
-- onboarder_approver who is not the login that enqueued approves it.
CREATE TABLE onboarder.batches (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Every MSP whose customers the batch enqueues (an approver must act for each).
    msp_ids      text[] NOT NULL CONSTRAINT batches_msps CHECK (cardinality(msp_ids) > 0),
    state        text NOT NULL DEFAULT 'held' CONSTRAINT batches_state CHECK (state IN ('held', 'approved', 'cancelled')),
    -- Why it is held: 'threshold' (more rows than approval_threshold) or 'gdap' (enqueue --from-gdap).
    reason       text NOT NULL CONSTRAINT batches_reason CHECK (reason IN ('threshold', 'gdap')),
    jobs         integer NOT NULL DEFAULT 0 CONSTRAINT batches_jobs CHECK (jobs >= 0),
    -- What the batch does: customers, path, MSP, and what will be created in each tenant, as printed.
    plan         jsonb NOT NULL,
    -- The login (session_user: not the caller's to choose) and the name given with --actor.
    created_by   text NOT NULL DEFAULT session_user,
    created_actor text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    decided_by   text,
    decided_actor text,
    decided_at   timestamptz,
    CONSTRAINT batches_decided CHECK ((state = 'held') = (decided_at IS NULL) AND (decided_at IS NULL) = (decided_by IS NULL))
);
COMMENT ON TABLE onboarder.batches IS
    'Enqueues held for approval: their plan, who enqueued, who approved or cancelled them and when.';

ALTER TABLE onboarder.jobs ADD COLUMN batch_id bigint REFERENCES onboarder.batches;
CREATE INDEX jobs_by_batch ON onboarder.jobs (batch_id) WHERE batch_id IS NOT NULL;

ALTER TABLE onboarder.jobs DROP CONSTRAINT jobs_wait_reason_check;
ALTER TABLE onboarder.jobs ADD CONSTRAINT jobs_wait_reason_check
    CHECK (wait_reason IN ('retry', 'throttled', 'replication', 'input', 'approval'));

-- NULL: no enqueue is held for its size (enqueues from GDAP still are).
ALTER TABLE onboarder.queue_limits ADD COLUMN approval_threshold integer
    CONSTRAINT queue_limits_approval_threshold CHECK (approval_threshold > 0);

-- MARK: row-level security and privileges

ALTER TABLE onboarder.drift_findings ENABLE ROW LEVEL SECURITY;
CREATE POLICY msp_rows ON onboarder.drift_findings
    USING ((SELECT onboarder.sees_all_msps()) OR msp_id IN (SELECT onboarder.my_msps()));
ALTER TABLE onboarder.batches ENABLE ROW LEVEL SECURITY;
-- A batch is seen by whoever acts for one of its MSPs.
CREATE POLICY msp_rows ON onboarder.batches
    USING ((SELECT onboarder.sees_all_msps()) OR msp_ids && ARRAY(SELECT onboarder.my_msps()));

REVOKE ALL ON onboarder.drift_findings, onboarder.batches
  FROM PUBLIC, onboarder_worker, onboarder_enqueuer, onboarder_operator, onboarder_approver;
-- Workers write findings (the audit job) and read batches; batches change only through the functions
-- (SECURITY DEFINER), so nobody but the owner writes them directly.
GRANT SELECT, INSERT, UPDATE, DELETE ON onboarder.drift_findings TO onboarder_worker;
GRANT SELECT ON onboarder.drift_findings, onboarder.batches TO onboarder_operator;
GRANT SELECT ON onboarder.batches TO onboarder_worker, onboarder_approver;
GRANT USAGE ON SCHEMA onboarder, dashboard TO onboarder_approver;
