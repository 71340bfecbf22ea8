-- One customer, one Entra tenant (issue 21). A customer was whatever key it was enqueued under: the same
-- Entra tenant enqueued by a domain and by its tenant id (or by two MSPs) became two tenants rows, whose
-- jobs ran at once in the same directory (and the second's orphan sweep took the first's PBX secret).
--
-- tenants.entra_tenant_id is the customer's identity once known: a tenant key that is a GUID is its own
-- id; a domain's is what `onboarder enqueue` resolved it to (Entra's OpenID discovery) or what the worker
-- found at resolve-tenant (GET /organization), which records it on the row (or stops, naming the row that
-- holds it). Unique across ALL MSPs, not per MSP: two MSPs must never share a customer silently (the
-- second is refused, naming the first). NULL until known (a domain enqueued straight through SQL).
--
-- The unique index is also what serialises two enqueues of one customer under different keys at once:
-- the second's insert waits for the first's transaction, then finds its row (sql/functions/20_enqueue.sql).
--
-- Workers read and write the column (their table grant of 0004 covers new columns); operators read it
-- through the row-level security tenants already has; enqueuers have no table privileges (enqueue_many
-- runs as the owner).

ALTER TABLE onboarder.tenants ADD COLUMN entra_tenant_id uuid;
COMMENT ON COLUMN onboarder.tenants.entra_tenant_id IS
    'The customer''s Entra tenant id once known (its GUID key, or resolved); unique across every MSP.';

-- Backfill: what onboarding learnt (integrations.entra_tenant_id, recorded at resolve-tenant), else the
-- key itself when it is a GUID. An install that ran the bug may hold the same tenant under several rows
-- (and MSPs): the OLDEST row (lowest id) keeps the id; the others stay NULL. Nothing of theirs is deleted
-- or moved (their jobs, credentials and integration records stay theirs, for an operator to read): a
-- new enqueue of that tenant, under any key, goes to the oldest row (or is refused when another MSP's),
-- and a job of another row that has not passed resolve-tenant yet stops there (needs attention), naming
-- the row that holds the id. Their rows are listed by the query in README "Enqueueing" (duplicates).
WITH known AS (
    SELECT t.id, coalesce(i.entra_tenant_id,
                          CASE WHEN t.tenant_key ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                               THEN t.tenant_key::uuid END) AS entra_tenant_id
      FROM onboarder.tenants t
      LEFT JOIN onboarder.integrations i ON i.tenant_id = t.id
), oldest AS (
    SELECT DISTINCT ON (k.entra_tenant_id) k.id, k.entra_tenant_id
      FROM known k
     WHERE k.entra_tenant_id IS NOT NULL AND k.entra_tenant_id <> '00000000-0000-0000-0000-000000000000'
     ORDER BY k.entra_tenant_id, k.id
)
UPDATE onboarder.tenants t SET entra_tenant_id = o.entra_tenant_id
  FROM oldest o
 WHERE o.id = t.id;

CREATE UNIQUE INDEX tenants_entra_tenant_id ON onboarder.tenants (entra_tenant_id)
    WHERE entra_tenant_id IS NOT NULL;
