-- The events the hand-over sheet (dashboard.handover_waiting) reads of each waiting job: when its wait began
-- (its `rescheduled` events, after its last `retried`) and its latest `handover_check`. events_by_job has every
-- event of a job (about 30 for an onboarding at the hand-over), and the view walked them three times per
-- waiting job, on every round of `onboarder handover sheet` and every refresh of the dashboard's panel
-- (`scripts/bench enqueue` times the view; BENCHMARKS.md). These three kinds are about two events an
-- onboarding; only they are indexed.
CREATE INDEX events_job_waits ON onboarder.events (job_id, kind, step, id)
 WHERE kind IN ('rescheduled', 'retried', 'handover_check');
