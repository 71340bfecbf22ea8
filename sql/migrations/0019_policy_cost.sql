-- Row-level security's "sees every MSP" test written into each policy instead of a call of
-- onboarder.sees_all_msps(). A SQL function with a SET clause is never inlined: PostgreSQL parsed and planned
-- its statement again in every statement that touched one of these tables — for the worker, whose every
-- statement is under these policies, most of its statements' time (44.6 against 12.5 ms per customer in
-- scripts/bench e2e; issue 23, BENCHMARKS.md). A policy's expression is stored parsed, its function and operator
-- resolved when it was created, so nothing of the caller's search_path reaches it. Still an initplan
-- ((SELECT …)): evaluated once per statement. The rule is sees_all_msps()'s: the querying role (current_user) is
-- a member of onboarder_worker, a role every installation has (bootstrap.sql creates it); without it
-- pg_has_role raises an error and every statement under these policies fails: closed, not open.
ALTER POLICY msp_rows ON onboarder.msps
    USING ((SELECT pg_catalog.pg_has_role(current_user, 'onboarder_worker', 'MEMBER'))
           OR id IN (SELECT onboarder.my_msps()));
ALTER POLICY msp_rows ON onboarder.tenants
    USING ((SELECT pg_catalog.pg_has_role(current_user, 'onboarder_worker', 'MEMBER'))
           OR msp_id IN (SELECT onboarder.my_msps()));
ALTER POLICY msp_rows ON onboarder.jobs
    USING ((SELECT pg_catalog.pg_has_role(current_user, 'onboarder_worker', 'MEMBER'))
           OR msp_id IN (SELECT onboarder.my_msps()));
ALTER POLICY msp_rows ON onboarder.job_steps
    USING ((SELECT pg_catalog.pg_has_role(current_user, 'onboarder_worker', 'MEMBER'))
           OR EXISTS (SELECT 1 FROM onboarder.jobs j WHERE j.id = job_id));
ALTER POLICY msp_rows ON onboarder.events
    USING ((SELECT pg_catalog.pg_has_role(current_user, 'onboarder_worker', 'MEMBER'))
           OR EXISTS (SELECT 1 FROM onboarder.jobs j WHERE j.id = job_id));
ALTER POLICY msp_rows ON onboarder.integrations
    USING ((SELECT pg_catalog.pg_has_role(current_user, 'onboarder_worker', 'MEMBER'))
           OR EXISTS (SELECT 1 FROM onboarder.tenants t WHERE t.id = tenant_id));
ALTER POLICY msp_rows ON onboarder.credentials
    USING ((SELECT pg_catalog.pg_has_role(current_user, 'onboarder_worker', 'MEMBER'))
           OR EXISTS (SELECT 1 FROM onboarder.tenants t WHERE t.id = tenant_id));
ALTER POLICY msp_rows ON onboarder.scripts
    USING ((SELECT pg_catalog.pg_has_role(current_user, 'onboarder_worker', 'MEMBER'))
           OR EXISTS (SELECT 1 FROM onboarder.tenants t WHERE t.id = tenant_id));
ALTER POLICY own_rows ON onboarder.operator_msps
    USING ((SELECT pg_catalog.pg_has_role(current_user, 'onboarder_worker', 'MEMBER'))
           OR EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
                       WHERE r.rolname = role_name AND pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER')));
ALTER POLICY msp_rows ON onboarder.partner_rates
    USING ((SELECT pg_catalog.pg_has_role(current_user, 'onboarder_worker', 'MEMBER'))
           OR client_id IN (SELECT m.partner_client_id::text FROM onboarder.msps m WHERE m.partner_client_id IS NOT NULL)
           OR (is_default AND EXISTS (SELECT 1 FROM onboarder.msps m WHERE m.partner_client_id IS NULL)));
ALTER POLICY msp_rows ON onboarder.drift_findings
    USING ((SELECT pg_catalog.pg_has_role(current_user, 'onboarder_worker', 'MEMBER'))
           OR msp_id IN (SELECT onboarder.my_msps()));
ALTER POLICY msp_rows ON onboarder.batches
    USING ((SELECT pg_catalog.pg_has_role(current_user, 'onboarder_worker', 'MEMBER'))
           OR msp_ids && ARRAY(SELECT onboarder.my_msps()));
