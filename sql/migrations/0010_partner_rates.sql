-- Writes per second per partner app, across every worker process (issue 21). Microsoft Graph counts a
-- partner app's identity writes across all the tenants it writes in (35,000 per 5 minutes per app, besides
-- 3,000 per 150 s per app and tenant and 18,000 per 5 minutes per tenant: "Identity and access service
-- limits" in Microsoft Graph's service-specific throttling limits, revision of 2025-01-14). Every worker host shares this database, so the limit is
-- a token bucket here, one row per partner app, taken from by onboarder.take_partner_writes
-- (sql/functions/70_partner_rates.sql) in small batches.
--
-- Workers never write the table: the function (SECURITY DEFINER) does. Workers and operators read it, an
-- operator only the apps its MSPs use (row-level security below), through dashboard.partner_rates.

CREATE TABLE onboarder.partner_rates (
    -- The partner app's application (client) id, lower-case: one bucket per app, whichever MSPs use it.
    client_id text PRIMARY KEY CONSTRAINT partner_rates_client_id CHECK (client_id <> '' AND client_id = lower(client_id)),
    -- Whether it is the configuration's partner app (partner.client_id), which every MSP without an app
    -- of its own (msps.partner_client_id NULL) uses.
    is_default boolean NOT NULL DEFAULT false,
    -- partner.writes_per_second as the workers last gave it (NULL: none).
    configured_per_second real,
    -- The limit the bucket last enforced: the lowest of the configured one and of every MSP's that uses
    -- the app (NULL: none, nothing is counted).
    writes_per_second real CONSTRAINT partner_rates_positive CHECK (writes_per_second > 0),
    -- Most permits the bucket holds: a second's worth of writes, at least one.
    burst real CONSTRAINT partner_rates_burst CHECK (burst >= 1),
    tokens double precision NOT NULL DEFAULT 0,
    refilled_at timestamptz NOT NULL DEFAULT now(),
    granted_total bigint NOT NULL DEFAULT 0,
    -- Takes that granted nothing: a worker then waited.
    waits_total bigint NOT NULL DEFAULT 0,
    -- The last minute, one slot per second (slot = epoch second mod 60): the second a slot holds, the
    -- permits granted and the takes that waited in it. In the row, so a take stays one row update.
    second_at bigint[] NOT NULL DEFAULT array_fill(0::bigint, ARRAY[60]),
    second_granted integer[] NOT NULL DEFAULT array_fill(0, ARRAY[60]),
    second_waits integer[] NOT NULL DEFAULT array_fill(0, ARRAY[60]),
    updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE onboarder.partner_rates IS
    'A token bucket per partner app (client id): its writes per second across every worker, taken by onboarder.take_partner_writes.';

ALTER TABLE onboarder.partner_rates ENABLE ROW LEVEL SECURITY;
-- Workers see every app; an operator the apps of its MSPs: an MSP's own app, or the configuration's for an
-- MSP without one (the subqueries run under the operator's own row-level security on msps).
CREATE POLICY msp_rows ON onboarder.partner_rates
    USING ((SELECT onboarder.sees_all_msps())
           OR client_id IN (SELECT m.partner_client_id::text FROM onboarder.msps m WHERE m.partner_client_id IS NOT NULL)
           OR (is_default AND EXISTS (SELECT 1 FROM onboarder.msps m WHERE m.partner_client_id IS NULL)));

REVOKE ALL ON onboarder.partner_rates FROM PUBLIC, onboarder_worker, onboarder_enqueuer, onboarder_operator;
GRANT SELECT ON onboarder.partner_rates TO onboarder_worker, onboarder_operator;
