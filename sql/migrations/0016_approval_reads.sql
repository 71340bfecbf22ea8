-- Approvers (onboarder_approver, 0013) read what they approve: `onboarder batch list|show` and
-- dashboard.batches count a batch's jobs by state and name its customers. Only the columns that say where
-- a job is, never a payload (its secret references) nor a customer's credentials; row-level security
-- keeps them to their MSPs' rows, as it does for operators.
GRANT SELECT (id, kind, msp_id, tenant_id, state, wait_reason, batch_id, current_step, last_error, attention,
              created_at, updated_at, finished_at)
   ON onboarder.jobs TO onboarder_approver;
GRANT SELECT (id, msp_id, tenant_key) ON onboarder.tenants TO onboarder_approver;
-- Row-level security's my_msps() reads the login's own MSP mappings (its policy shows no one else's).
GRANT SELECT ON onboarder.operator_msps TO onboarder_approver;
