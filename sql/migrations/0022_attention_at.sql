-- When a job entered needs_attention or failed, for the views that list them (dashboard.needs_attention's
-- `since`, dashboard.recent_failures' 24 hours) and their index, which was on updated_at. Any index naming a
-- column makes every update that changes it a non-HOT update (a new entry in each of the table's indexes):
-- with updated_at indexed, each of a running job's checkpoints (current_step, updated_at: about a dozen an
-- onboarding) wrote the primary key, jobs_one_active_per_tenant, jobs_running and jobs_by_tenant again. Set by
-- finish(), the only statement that moves a job into those states.
ALTER TABLE onboarder.jobs ADD COLUMN attention_at timestamptz;
COMMENT ON COLUMN onboarder.jobs.attention_at IS
    'When the job entered needs_attention or failed (finish()); NULL in other states.';
UPDATE onboarder.jobs SET attention_at = updated_at WHERE state IN ('needs_attention', 'failed');
-- A job put in those states by hand without it would be missing from the views: refused, like the others.
ALTER TABLE onboarder.jobs ADD CONSTRAINT jobs_attention_timed
    CHECK (state NOT IN ('needs_attention', 'failed') OR attention_at IS NOT NULL);
CREATE INDEX jobs_attention_at ON onboarder.jobs (attention_at) WHERE state IN ('needs_attention', 'failed');
DROP INDEX onboarder.jobs_attention;
