-- Approval before a large run (issue 22): an enqueue of more onboard jobs than
-- queue_limits.approval_threshold, or any enqueue --from-gdap, is a held batch (enqueue_many in
-- 20_enqueue.sql creates it); these release or cancel it. The tables are in 0013_lifecycle.sql.
--
-- SECURITY DEFINER: approvers and operators may not write batches or jobs. Who decides is the login
-- (session_user), which a client cannot choose; --actor is recorded beside it as a claim. A batch that does
-- not exist and one none of whose MSPs the login acts for raise the same P0002, as require_job does.

-- The batch, locked, when it is still held and the login acts for every one of its MSPs: "no batch N" (P0002)
-- when the login acts for none of them, 42501 when for some only, 55000 when it is no longer held. What
-- approving and cancelling both require.
CREATE OR REPLACE FUNCTION onboarder.require_batch(p_batch bigint) RETURNS onboarder.batches
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_batch onboarder.batches;
    v_msp text;
BEGIN
    SELECT * INTO v_batch FROM onboarder.batches b WHERE b.id = p_batch FOR UPDATE;
    IF NOT FOUND OR NOT EXISTS (SELECT 1 FROM unnest(v_batch.msp_ids) AS m WHERE onboarder.may_act_for(m)) THEN
        RAISE EXCEPTION 'no batch %', p_batch USING ERRCODE = 'no_data_found';
    END IF;
    SELECT m INTO v_msp FROM unnest(v_batch.msp_ids) AS m WHERE NOT onboarder.may_act_for(m) ORDER BY m LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'batch %: this login does not act for MSP %, one of the batch''s', p_batch, v_msp
              USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF v_batch.state <> 'held' THEN
        RAISE EXCEPTION 'batch % is % (by %), not held', p_batch, v_batch.state, v_batch.decided_by
              USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    RETURN v_batch;
END $$;

-- Approves a held batch and releases its jobs that still wait for approval (queued, run now; a job of it
-- cancelled meanwhile stays cancelled), an 'approved' event each. Refused (42501) when the login enqueued
-- the batch (four eyes: whatever other roles it has), or does not act for every MSP of the batch; 55000
-- when the batch is no longer held. Returns how many jobs were released.
CREATE OR REPLACE FUNCTION onboarder.approve_batch(p_batch bigint, p_actor text DEFAULT NULL) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_actor text := coalesce(p_actor, session_user);
    v_batch onboarder.batches := onboarder.require_batch(p_batch);
    v_released integer;
BEGIN
    IF v_batch.created_by = session_user THEN
        RAISE EXCEPTION 'batch %: % enqueued it, so another login must approve it', p_batch, session_user
              USING ERRCODE = 'insufficient_privilege',
                    HINT = 'A member of onboarder_approver who acts for its MSPs runs onboarder approve.';
    END IF;
    UPDATE onboarder.batches
       SET state = 'approved', decided_by = session_user, decided_actor = v_actor, decided_at = now()
     WHERE id = p_batch;
    WITH released AS (
        UPDATE onboarder.jobs j SET state = 'queued', wait_reason = NULL, run_at = now(), updated_at = now()
         WHERE j.batch_id = p_batch AND j.state = 'waiting' AND j.wait_reason = 'approval'
        RETURNING j.id
    ), logged AS (
        INSERT INTO onboarder.events (job_id, kind, actor, detail)
        SELECT r.id, 'approved', v_actor, jsonb_build_object('batch', p_batch, 'enqueued_by', v_batch.created_by)
          FROM released r
    )
    SELECT count(*) INTO v_released FROM released;
    PERFORM pg_notify('onboarder_jobs', '');
    RETURN v_released;
END $$;

-- Cancels a held batch and its jobs that still wait for approval (a 'cancelled' event each, with the
-- batch). Anyone who may see the batch and acts for all its MSPs (operators, approvers), the login that
-- enqueued it included: cancelling only takes work away. 55000 when the batch is not held. Returns how
-- many jobs were cancelled.
CREATE OR REPLACE FUNCTION onboarder.cancel_batch(p_batch bigint, p_actor text DEFAULT NULL) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_actor text := coalesce(p_actor, session_user);
    v_batch onboarder.batches := onboarder.require_batch(p_batch);
    v_cancelled integer;
BEGIN
    UPDATE onboarder.batches
       SET state = 'cancelled', decided_by = session_user, decided_actor = v_actor, decided_at = now()
     WHERE id = p_batch;
    WITH cancelled AS (
        UPDATE onboarder.jobs j
           SET state = 'cancelled', wait_reason = NULL, finished_at = now(), updated_at = now()
         WHERE j.batch_id = p_batch AND j.state = 'waiting' AND j.wait_reason = 'approval'
        RETURNING j.id
    ), logged AS (
        INSERT INTO onboarder.events (job_id, kind, actor, detail)
        SELECT c.id, 'cancelled', v_actor, jsonb_build_object('batch', p_batch) FROM cancelled c
    )
    SELECT count(*) INTO v_cancelled FROM cancelled;
    RETURN v_cancelled;
END $$;

-- Every batch the viewer may see (row-level security: a batch is seen by whoever acts for one of its
-- MSPs), held first, with its jobs counted by state. The plan is in onboarder.batches (batch show).
CREATE OR REPLACE VIEW dashboard.batches WITH (security_invoker = true) AS
SELECT b.id AS batch, b.state, b.reason, b.msp_ids AS msps, b.jobs,
       count(j.id) FILTER (WHERE j.state = 'waiting' AND j.wait_reason = 'approval') AS awaiting_approval,
       count(j.id) FILTER (WHERE j.state = 'queued') AS queued,
       count(j.id) FILTER (WHERE j.state = 'running') AS running,
       count(j.id) FILTER (WHERE j.state = 'waiting' AND j.wait_reason IS DISTINCT FROM 'approval') AS waiting,
       count(j.id) FILTER (WHERE j.state = 'needs_attention') AS needs_attention,
       count(j.id) FILTER (WHERE j.state IN ('succeeded', 'succeeded_with_warnings')) AS succeeded,
       count(j.id) FILTER (WHERE j.state = 'failed') AS failed,
       count(j.id) FILTER (WHERE j.state = 'cancelled') AS cancelled,
       b.created_by, b.created_actor, b.created_at, b.decided_by, b.decided_actor, b.decided_at
  FROM onboarder.batches b LEFT JOIN onboarder.jobs j ON j.batch_id = b.id
 GROUP BY b.id
 ORDER BY b.state <> 'held', b.id DESC;


REVOKE ALL ON FUNCTION onboarder.require_batch(bigint), onboarder.approve_batch(bigint, text),
                       onboarder.cancel_batch(bigint, text)
  FROM PUBLIC, onboarder_worker, onboarder_enqueuer, onboarder_operator, onboarder_approver;
-- Approvers approve; approvers and operators cancel.
GRANT EXECUTE ON FUNCTION onboarder.approve_batch(bigint, text) TO onboarder_approver;
GRANT EXECUTE ON FUNCTION onboarder.cancel_batch(bigint, text) TO onboarder_approver, onboarder_operator;
-- Row-level security on batches (and on the jobs and customers an approver reads, 0016) calls the
-- policies' helpers as the querying role.
GRANT EXECUTE ON FUNCTION onboarder.sees_all_msps(), onboarder.my_msps() TO onboarder_approver;

REVOKE ALL ON dashboard.batches FROM PUBLIC, onboarder_worker, onboarder_enqueuer, onboarder_operator, onboarder_approver;
GRANT SELECT ON dashboard.batches TO onboarder_operator, onboarder_approver, onboarder_worker;
