-- Writes per second per partner app, across every worker process: a token bucket per app in
-- onboarder.partner_rates (migration 0010). A worker takes permits in small batches (all the writes its
-- jobs are waiting to send, and a few more), so it is one statement per batch, not per write; a take that
-- gets nothing says how long until the next permit. Sources/Pipeline/PartnerWriteGate.swift is the caller.

-- The bucket's arithmetic, pure: `p_tokens` held `p_elapsed` seconds ago, refilled at `p_rate` a second up
-- to `p_burst`; up to `p_wanted` whole permits are taken. Returns how many were granted, the tokens left,
-- and the seconds until the next whole permit (0 when one is there now). A negative elapsed time (clocks
-- of two sessions read in the other order) refills nothing. The 1e-9 forgives the rounding of elapsed ×
-- rate (0.1 s at 10/s is one permit, not 0.9999999999999999). PL/pgSQL, not SQL: its expressions are
-- planned once per session, where an SQL function called from PL/pgSQL is planned at every call (a take
-- cost 0.3 ms more that way, measured with pgbench on the 2-core machine).
CREATE OR REPLACE FUNCTION onboarder.partner_bucket(
    p_tokens double precision, p_elapsed double precision, p_rate double precision, p_burst double precision,
    p_wanted integer, OUT granted integer, OUT tokens double precision, OUT wait_seconds double precision)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_held double precision := least(p_burst, greatest(p_tokens, 0) + greatest(p_elapsed, 0) * p_rate);
BEGIN
    granted := least(greatest(p_wanted, 0), floor(v_held + 1e-9)::integer);
    tokens := greatest(v_held - granted, 0);
    wait_seconds := CASE WHEN tokens + 1e-9 >= 1 THEN 0 ELSE (1 - tokens) / p_rate END;
END $$;

-- Takes up to p_wanted permits to write with partner app p_client_id. The app's limit is the lowest given
-- for it: p_configured (partner.writes_per_second; 0 or NULL: none) and msps.writes_per_second of every MSP
-- that uses the app (its own, or the configuration's when p_is_default and the MSP names none). No limit:
-- everything is granted and nothing counted (writes_per_second NULL tells the worker to stop asking for a
-- while). Else the bucket holds a second's worth of writes (at least one) and starts full.
--
-- Returns the permits granted (0 to p_wanted), the limit and burst applied, the seconds until the next
-- permit, and the database's time of the take (`at`), so that callers and tests measure time on one clock.
-- p_now replaces the clock (tests); a worker that lied with it could gain one burst at most, since the
-- bucket never holds more than a burst.
CREATE OR REPLACE FUNCTION onboarder.take_partner_writes(
    p_client_id text, p_wanted integer, p_configured real, p_is_default boolean,
    p_now timestamp with time zone DEFAULT NULL)
RETURNS TABLE (granted integer, writes_per_second real, burst real, wait_seconds double precision,
               at timestamp with time zone)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_client text := pg_catalog.lower(p_client_id);
    v_limit real;
    v_burst real;
    v_now timestamptz;
    v_second bigint;
    v_slot integer;
    v_tokens double precision;
    v_refilled timestamptz;
    v_slot_second bigint;
    b record;
BEGIN
    IF v_client IS NULL OR v_client = '' THEN
        RAISE EXCEPTION 'take_partner_writes: no partner app (client id) named' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_wanted IS NULL OR p_wanted < 1 OR p_wanted > 10000 THEN
        RAISE EXCEPTION 'take_partner_writes: % permits asked for; between 1 and 10000', p_wanted
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT min(s.l) INTO v_limit FROM (
        SELECT CASE WHEN p_configured > 0 THEN p_configured END AS l
        UNION ALL
        SELECT m.writes_per_second FROM onboarder.msps m
         WHERE m.writes_per_second > 0
           AND (m.partner_client_id::text = v_client OR (p_is_default AND m.partner_client_id IS NULL))) s;

    IF v_limit IS NULL THEN
        -- Shown as "no limit" on the dashboard; the row keeps its totals.
        UPDATE onboarder.partner_rates pr
           SET writes_per_second = NULL, burst = NULL, configured_per_second = NULL, is_default = p_is_default,
               updated_at = pg_catalog.clock_timestamp()
         WHERE pr.client_id = v_client AND pr.writes_per_second IS NOT NULL;
        RETURN QUERY SELECT p_wanted, NULL::real, NULL::real, 0::double precision,
                            coalesce(p_now, pg_catalog.clock_timestamp());
        RETURN;
    END IF;
    v_burst := greatest(1, ceil(v_limit));

    -- The row lock serialises the takes of one app across every worker until commit.
    SELECT pr.tokens, pr.refilled_at INTO v_tokens, v_refilled
      FROM onboarder.partner_rates pr WHERE pr.client_id = v_client FOR UPDATE;
    IF NOT FOUND THEN  -- the app's first take: a full bucket
        INSERT INTO onboarder.partner_rates AS pr (client_id, tokens, refilled_at)
        VALUES (v_client, v_burst, coalesce(p_now, pg_catalog.clock_timestamp()))
        ON CONFLICT ON CONSTRAINT partner_rates_pkey DO NOTHING;
        SELECT pr.tokens, pr.refilled_at INTO v_tokens, v_refilled
          FROM onboarder.partner_rates pr WHERE pr.client_id = v_client FOR UPDATE;
    END IF;
    -- Read after the lock: a take that waited for another's sees the time after it, not before.
    v_now := coalesce(p_now, pg_catalog.clock_timestamp());
    b := onboarder.partner_bucket(v_tokens, extract(epoch FROM v_now - v_refilled)::double precision,
                                  v_limit, v_burst, p_wanted);
    v_second := floor(extract(epoch FROM v_now))::bigint;
    v_slot := (v_second % 60)::integer + 1;
    -- One statement: the bucket, the totals, and this second's slot of the last minute (a slot last
    -- written a minute or more ago starts again from zero).

    UPDATE onboarder.partner_rates pr
       SET is_default = p_is_default,
           configured_per_second = CASE WHEN p_configured > 0 THEN p_configured END,
           writes_per_second = v_limit, burst = v_burst,
           tokens = b.tokens, refilled_at = greatest(v_refilled, v_now),
           granted_total = pr.granted_total + b.granted,
           waits_total = pr.waits_total + CASE WHEN b.granted = 0 THEN 1 ELSE 0 END,
           second_at[v_slot] = v_second,
           second_granted[v_slot] = CASE WHEN pr.second_at[v_slot] = v_second THEN pr.second_granted[v_slot] ELSE 0 END
                                    + b.granted,
           second_waits[v_slot] = CASE WHEN pr.second_at[v_slot] = v_second THEN pr.second_waits[v_slot] ELSE 0 END
                                  + CASE WHEN b.granted = 0 THEN 1 ELSE 0 END,
           updated_at = v_now
     WHERE pr.client_id = v_client;
    RETURN QUERY SELECT b.granted, v_limit, v_burst, b.wait_seconds, v_now;
END $$;

-- Per partner app: its limit, the MSPs using it (those this login sees), the writes granted in the last
-- minute and in the last five whole seconds (per second), how often a worker had to wait. security_invoker:
-- an operator sees only the apps of its MSPs (the table's row-level security).
CREATE OR REPLACE VIEW dashboard.partner_rates WITH (security_invoker = true) AS
SELECT pr.client_id AS partner_app,
       pr.writes_per_second AS limit_per_second,
       pr.burst,
       ARRAY(SELECT m.id FROM onboarder.msps m
              WHERE m.partner_client_id::text = pr.client_id OR (pr.is_default AND m.partner_client_id IS NULL)
              ORDER BY m.id) AS msps,
       w.granted_last_minute,
       round(w.granted_last_minute / 60.0, 1) AS per_second_last_minute,
       round(w.granted_last_5s / 5.0, 1) AS per_second_now,
       w.waits_last_minute,
       pr.granted_total,
       pr.waits_total,
       pr.updated_at AS last_take
  FROM onboarder.partner_rates pr
 CROSS JOIN LATERAL (
        SELECT coalesce(sum(s.granted) FILTER (WHERE s.second > n.second - 60), 0) AS granted_last_minute,
               coalesce(sum(s.granted) FILTER (WHERE s.second BETWEEN n.second - 5 AND n.second - 1), 0)
                   AS granted_last_5s,
               coalesce(sum(s.waits) FILTER (WHERE s.second > n.second - 60), 0) AS waits_last_minute
          FROM (SELECT floor(extract(epoch FROM now()))::bigint AS second) n,
               unnest(pr.second_at, pr.second_granted, pr.second_waits) AS s(second, granted, waits)) w;


REVOKE ALL ON FUNCTION onboarder.partner_bucket(double precision, double precision, double precision,
                                                double precision, integer),
                       onboarder.take_partner_writes(text, integer, real, boolean, timestamp with time zone)
  FROM PUBLIC, onboarder_worker, onboarder_enqueuer, onboarder_operator;
GRANT EXECUTE ON FUNCTION onboarder.take_partner_writes(text, integer, real, boolean, timestamp with time zone)
   TO onboarder_worker;
REVOKE ALL ON dashboard.partner_rates FROM PUBLIC, onboarder_worker, onboarder_enqueuer, onboarder_operator;
GRANT SELECT ON dashboard.partner_rates TO onboarder_worker, onboarder_operator;
