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

-- p_text as a GUID (any case), or NULL when it is not one.
CREATE OR REPLACE FUNCTION onboarder.guid_or_null(p_text text) RETURNS uuid
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN lower(p_text) ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                THEN lower(p_text)::uuid END
$$;

-- The customers each of `p_names` may mean (Tenants.matching: `onboarder handover done`, `cert add --dir`, the
-- operator commands), one row per customer found with the name's ordinal (from 1): its tenant key as enqueued,
-- case-insensitively; its Entra tenant id (the row's, or the one onboarding recorded); its default domain. Only
-- p_msp's when given; only MSPs the login acts for, as the tables' row-level security shows an operator.
-- SECURITY DEFINER so that each name is found by its index (0018_customer_lookup.sql): under row-level
-- security lower() is not leakproof, so the planner must apply the policy first and read every customer
-- visible, per name. A technician's round names hundreds of customers: one call finds them all, the login's
-- MSPs looked up once (BENCHMARKS.md, "The technician's round in a few statements").
CREATE OR REPLACE FUNCTION onboarder.customers_named_many(p_names text[], p_msp text DEFAULT NULL)
RETURNS TABLE (ordinal integer, id bigint, msp_id text, tenant_key text)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    -- The login's MSPs once per call (may_act_for's answer, as acting_msps lists it), not once per row.
    v_every boolean := onboarder.acts_for_every_msp();
    v_mine text[] := CASE WHEN NOT v_every THEN ARRAY(SELECT onboarder.acting_msps()) END;
BEGIN
    RETURN QUERY
    SELECT n.ord::integer, t.id, t.msp_id, t.tenant_key
      FROM unnest(p_names) WITH ORDINALITY AS n(name, ord)
     CROSS JOIN LATERAL (SELECT lower(n.name) AS lowered, onboarder.guid_or_null(n.name) AS guid) g
     CROSS JOIN LATERAL (SELECT k.id FROM onboarder.tenants k WHERE lower(k.tenant_key) = g.lowered
                         UNION
                         SELECT e.id FROM onboarder.tenants e WHERE e.entra_tenant_id = g.guid
                         UNION
                         SELECT i.tenant_id FROM onboarder.integrations i WHERE i.entra_tenant_id = g.guid
                         UNION
                         SELECT d.tenant_id FROM onboarder.integrations d WHERE d.default_domain = g.lowered) f
      JOIN onboarder.tenants t ON t.id = f.id
     WHERE (p_msp IS NULL OR t.msp_id = p_msp)
       AND (v_every OR t.msp_id = ANY (v_mine))
     ORDER BY n.ord, t.id;
END $$;

-- One name's customers, as customers_named_many finds them: for SQL users (psql), one name at a time.
CREATE OR REPLACE FUNCTION onboarder.customers_named(p_name text, p_msp text DEFAULT NULL)
RETURNS TABLE (id bigint, msp_id text, tenant_key text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT c.id, c.msp_id, c.tenant_key FROM onboarder.customers_named_many(ARRAY[p_name], p_msp) c ORDER BY c.id
$$;

REVOKE ALL ON FUNCTION onboarder.guid_or_null(text), onboarder.customers_named(text, text),
                       onboarder.customers_named_many(text[], text)
  FROM PUBLIC, onboarder_worker, onboarder_enqueuer, onboarder_operator;
-- Those who may read customers: workers (the service login's commands) and operators.
GRANT EXECUTE ON FUNCTION onboarder.guid_or_null(text), onboarder.customers_named(text, text),
                          onboarder.customers_named_many(text[], text)
   TO onboarder_worker, onboarder_operator;
