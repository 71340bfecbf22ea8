-- Waits the service asked for are not failures (scripts/chaos found a job failed after ten 429s and
-- replication 404s in a row at a 10% fault rate): a step's throttled (429 + Retry-After) and replication
-- retries count in `waits`, bounded separately (ten times retry.max_attempts), and `attempts` counts
-- only real failures (5xx, timeouts, lost connections).
ALTER TABLE onboarder.job_steps ADD COLUMN waits integer NOT NULL DEFAULT 0 CHECK (waits >= 0);
COMMENT ON COLUMN onboarder.job_steps.waits IS
    'Retries the service asked for (throttled, replication lag); not counted in attempts.';
