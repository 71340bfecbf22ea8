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

-- The rows (ordinal, from 1) whose Entra tenant id is already another MSP's customer, with that MSP: so
-- `onboarder enqueue` reports them with their file and line before writing (and --skip-invalid can leave
-- them out). enqueue_many refuses the same rows (23505) whatever a caller checked first; this tells an
-- enqueuer nothing enqueue_many's refusal would not. Rows of MSPs the login does not act for are left out.
CREATE OR REPLACE FUNCTION onboarder.customers_of_other_msps(p_msps text[], p_entra_tenant_ids uuid[])
RETURNS TABLE (ordinal integer, msp text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT i.ord::integer, t.msp_id
      FROM unnest(p_msps, p_entra_tenant_ids) WITH ORDINALITY AS i(msp, entra, ord)
      JOIN onboarder.tenants t ON t.entra_tenant_id = i.entra
     WHERE t.msp_id <> i.msp
       AND (onboarder.acts_for_every_msp() OR i.msp IN (SELECT onboarder.acting_msps()))
     ORDER BY 1
$$;

REVOKE ALL ON FUNCTION onboarder.msp_clouds(text[]), onboarder.customers_of_other_msps(text[], uuid[])
  FROM PUBLIC, onboarder_worker, onboarder_enqueuer, onboarder_operator;
GRANT EXECUTE ON FUNCTION onboarder.msp_clouds(text[]), onboarder.customers_of_other_msps(text[], uuid[])
   TO onboarder_worker, onboarder_enqueuer;
