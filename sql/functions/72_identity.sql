-- One customer, one Entra tenant (issue 21; the table side is migration 0011, enqueue's in 20_enqueue.sql).

-- The cloud of each MSP the login acts for among p_msps (global, usgov, china): `onboarder enqueue` looks
-- a domain's tenant id up at its MSP's cloud's login host, and enqueuers may not read onboarder.msps.
-- MSPs the login does not act for, or that do not exist, are left out (enqueue_many refuses their rows).
-- SECURITY DEFINER: the one column an enqueuer needs, not the table.
CREATE OR REPLACE FUNCTION onboarder.msp_clouds(p_msps text[]) RETURNS TABLE (msp text, cloud text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT m.id, m.cloud FROM onboarder.msps m
     WHERE m.id = ANY (p_msps)
       AND (onboarder.acts_for_every_msp() OR m.id IN (SELECT onboarder.acting_msps()))
     ORDER BY m.id
$$;

REVOKE ALL ON FUNCTION onboarder.msp_clouds(text[]) FROM PUBLIC, onboarder_worker, onboarder_enqueuer, onboarder_operator;
GRANT EXECUTE ON FUNCTION onboarder.msp_clouds(text[]) TO onboarder_worker, onboarder_enqueuer;
