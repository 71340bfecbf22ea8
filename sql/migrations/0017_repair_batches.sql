-- `onboarder audit --repair` that would enqueue more onboardings than queue_limits.approval_threshold is
-- held like an enqueue of that size (onboarder.repair_drift, 82_audit.sql): a batch held for the reason
-- 'repair', its plan the customers and the findings each onboarding is to put right.
ALTER TABLE onboarder.batches DROP CONSTRAINT batches_reason;
ALTER TABLE onboarder.batches ADD CONSTRAINT batches_reason CHECK (reason IN ('threshold', 'gdap', 'repair'));
COMMENT ON COLUMN onboarder.batches.reason IS
    'Why it is held: threshold (more onboardings than approval_threshold), gdap (enqueue --from-gdap), repair (audit --repair of more drifted customers than approval_threshold).';
