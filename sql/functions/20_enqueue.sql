-- Enqueue, and the checks it makes on what an enqueue may say (the CLI's dry run calls the checks too).

-- Whether a PBX host is one of an MSP's allowed hosts (see msps.allowed_pbx_hosts); NULL list: any host.
CREATE OR REPLACE FUNCTION onboarder.pbx_host_allowed(p_host text, p_allowed text[]) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT p_allowed IS NULL OR EXISTS (
        SELECT 1 FROM pg_catalog.unnest(p_allowed) AS a(pattern)
         WHERE CASE WHEN pg_catalog.left(a.pattern, 2) = '*.'
                    THEN pg_catalog.right(pg_catalog.lower(p_host), pg_catalog.length(a.pattern) - 1)
                         = pg_catalog.lower(pg_catalog.substr(a.pattern, 2))
                    ELSE pg_catalog.lower(p_host) = pg_catalog.lower(a.pattern)
               END)
$$;

-- Why a secret reference (a payload's pbx_secret, tenant_client_secret) is refused, or NULL. The same
-- syntax Sources/Pipeline/SecretReference.swift parses; what a deployment allows beyond it (directories,
-- variable prefixes) is the worker's to check. Never echoes the reference: a secret pasted where its
-- reference belongs must not reach a log.
CREATE OR REPLACE FUNCTION onboarder.secret_reference_problem(p_reference text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rest text;
    parts text[];
BEGIN
    IF p_reference IS NULL OR p_reference = '' THEN
        RETURN 'required';
    ELSIF octet_length(p_reference) > 4096 THEN
        RETURN 'a secret reference has at most 4096 bytes';
    ELSIF p_reference ~ '[\x01-\x1f\x7f]' THEN
        RETURN 'a secret reference cannot contain control characters';
    END IF;
    CASE
    WHEN left(p_reference, 4) = 'env:' THEN
        rest := substr(p_reference, 5);
        IF rest = '' THEN
            RETURN 'an empty secret reference: env: needs a variable name';
        -- (Not {0,127}: PostgreSQL's regular expressions expand a bounded repeat, 6 µs a call.)
        ELSIF rest !~ '^[A-Za-z_][A-Za-z0-9_]*$' OR length(rest) > 128 THEN
            RETURN 'env: needs a variable name (letters, digits, _; not starting with a digit)';
        -- The deployment's own variables (its database, the partner app, the key), as
        -- SecretReferencePolicy.isDeploymentVariable lists them.
        ELSIF upper(rest) ^@ ANY (ARRAY['ONBOARDER_', 'AZURE_', 'PG', 'SSL', 'CURL_', 'LD_'])
              OR upper(rest) IN ('HOME', 'PATH', 'USER', 'LOGNAME', 'SHELL', 'HTTPS_PROXY', 'HTTP_PROXY',
                                 'ALL_PROXY', 'NO_PROXY') THEN
            RETURN format('env:%s names one of the deployment''s own variables, which enqueue input may not read', rest);
        END IF;
    WHEN left(p_reference, 5) = 'file:' THEN
        rest := substr(p_reference, 6);
        IF rest = '' THEN
            RETURN 'an empty secret reference: file: needs a path';
        ELSIF rest ~ '(^|/)\.\.(/|$)' THEN
            RETURN 'file: a path cannot contain ''..''';
        END IF;
    WHEN left(p_reference, 5) = 'json:' THEN
        parts := regexp_match(substr(p_reference, 6), '^([^#]*)#(.*)$');
        IF substr(p_reference, 6) = '' THEN
            RETURN 'an empty secret reference: json: needs PATH#member';
        ELSIF parts IS NULL THEN
            RETURN 'json: needs PATH#member (a # before the member)';
        ELSIF parts[1] = '' THEN
            RETURN 'json: needs a path before the #';
        ELSIF parts[1] ~ '(^|/)\.\.(/|$)' THEN
            RETURN 'json: a path cannot contain ''..''';
        ELSIF parts[2] !~ '^[^.]+(\.[^.]+)*$' THEN
            RETURN 'json: the member after # is a dotted path of names (pbx.acme.secret)';
        END IF;
    WHEN left(p_reference, 7) = 'sealed:' THEN
        IF p_reference !~ '^sealed:og1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$' THEN
            RETURN 'sealed: needs the og1.… value `onboarder secret seal` printed';
        END IF;
    ELSE
        RETURN 'a secret reference (env:NAME, file:PATH, json:PATH#member, sealed:…), not the secret itself';
    END CASE;
    RETURN NULL;
END $$;

-- Why an onboarding payload (an `onboard` job's, or a rotation's, which is the onboarding payload plus
-- its credential_id) is refused, as "field: reason"; NULL when it is fine. The rules of the CLI's enqueue
-- file (Sources/Pipeline/EnqueueFile.swift, the README's enqueue table), so a row that reaches the
-- database another way is held to them too:
--   only the keys below (and p_extra_keys, whose values the caller checks); every value a string (users:
--   an array of strings), JSON null meaning absent; path, pbx_url, pbx_client_id and pbx_secret required;
--   no control character (U+0001–U+001F, U+007F; jsonb cannot hold U+0000) in any string; lengths as
--   below; pbx_url https://host[:port][/path] without user:password@, query or fragment, http only on
--   loopback, its host one of p_allowed_pbx_hosts when that is not NULL; redirect_uri Entra's rules;
--   secret references as secret_reference_problem says.
CREATE OR REPLACE FUNCTION onboarder.onboarding_payload_problem(
    p_payload jsonb, p_allowed_pbx_hosts text[], p_extra_keys text[] DEFAULT '{}'
) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    known CONSTANT text[] := ARRAY['path', 'display_name', 'pbx_url', 'pbx_client_id', 'pbx_secret', 'redirect_uri',
                                   'sbc_domain', 'users', 'tenant_client_id', 'tenant_client_secret'];
    -- A DNS name (or one label); IPv4 addresses pass as one.
    dns CONSTANT text := '^[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?)*$';
    extra text[] := coalesce(p_extra_keys, '{}');
    key text;
    value text;
    scheme text;
    rest text;       -- after scheme://
    authority text;  -- up to the first / ? #
    host text;
    port text;
    users jsonb;
    problem text;
BEGIN
    IF p_payload IS NULL OR jsonb_typeof(p_payload) <> 'object' THEN
        RETURN 'payload: must be a JSON object';
    END IF;
    -- Cheap checks over the whole object first; the slow search for the key to name only on failure.
    IF p_payload - known - extra <> '{}' THEN
        SELECT k INTO key FROM jsonb_object_keys(p_payload - known - extra) AS k ORDER BY k LIMIT 1;
        RETURN format('%s: unknown key; the keys are %s', left(regexp_replace(key, '[^ -~]', '?', 'g'), 64),
                      array_to_string(known, ', '));
    END IF;
    IF jsonb_path_exists(p_payload - 'users' - extra, 'strict $.* ? (@.type() != "string" && @.type() != "null")') THEN
        SELECT k INTO key FROM jsonb_each(p_payload - 'users' - extra) AS e(k, v)
         WHERE jsonb_typeof(e.v) NOT IN ('string', 'null') ORDER BY k LIMIT 1;
        RETURN key || ': must be a string';
    END IF;
    users := nullif(p_payload -> 'users', 'null'::jsonb);
    IF users IS NOT NULL AND (jsonb_typeof(users) <> 'array'
                              OR jsonb_path_exists(users, 'strict $[*] ? (@.type() != "string")')) THEN
        RETURN 'users: must be an array of strings';
    END IF;
    -- A control character in any string (or key): jsonb's text form writes each as an escape (\n, \u0001…;
    -- DEL as itself), so the test is one for an escape that is not part of an escaped backslash. Half the
    -- cost of a jsonpath like_regex over every string.
    IF p_payload::text ~ '(^|[^\\])(\\\\)*\\[bfnrtu]|\x7f' THEN
        SELECT k INTO key FROM jsonb_each(p_payload) AS e(k, v)
         WHERE jsonb_build_object(e.k, e.v)::text ~ '(^|[^\\])(\\\\)*\\[bfnrtu]|\x7f' ORDER BY k LIMIT 1;
        RETURN key || ': cannot contain control characters';
    END IF;

    IF coalesce(p_payload ->> 'path', '') = '' OR coalesce(p_payload ->> 'pbx_url', '') = ''
       OR coalesce(p_payload ->> 'pbx_client_id', '') = '' OR coalesce(p_payload ->> 'pbx_secret', '') = '' THEN
        FOREACH key IN ARRAY ARRAY['path', 'pbx_url', 'pbx_client_id', 'pbx_secret'] LOOP
            IF coalesce(p_payload ->> key, '') = '' THEN
                RETURN key || ': required';
            END IF;
        END LOOP;
    END IF;
    IF p_payload ->> 'path' NOT IN ('teams', 'm365') THEN
        RETURN 'path: must be teams or m365';
    END IF;
    IF length(p_payload ->> 'display_name') > 256 THEN
        RETURN 'display_name: at most 256 characters';
    ELSIF length(p_payload ->> 'pbx_client_id') > 256 THEN
        RETURN 'pbx_client_id: at most 256 characters';
    ELSIF length(p_payload ->> 'tenant_client_id') > 256 THEN
        RETURN 'tenant_client_id: at most 256 characters';
    END IF;

    -- pbx_url: where the worker sends the PBX's secret.
    value := p_payload ->> 'pbx_url';
    IF octet_length(value) > 2048 THEN
        RETURN 'pbx_url: a PBX URL has at most 2048 bytes';
    ELSIF value ~ '\s' THEN
        RETURN 'pbx_url: a PBX URL cannot contain spaces';
    END IF;
    -- Taken apart with string functions: a regular expression with captures costs 4 µs a call, and
    -- 100,000 rows are checked per bulk enqueue.
    IF value !~ '^[A-Za-z][A-Za-z0-9+.-]*://' THEN
        RETURN 'pbx_url: not a URL with a host';
    END IF;
    scheme := lower(split_part(value, '://', 1));
    rest := substr(value, length(scheme) + 4);
    authority := split_part(split_part(split_part(rest, '/', 1), '?', 1), '#', 1);
    IF strpos(authority, '@') > 0 THEN
        RETURN 'pbx_url: a PBX URL cannot carry a user name or password (user:password@)';
    ELSIF strpos(rest, '?') > 0 OR strpos(rest, '#') > 0 THEN
        RETURN 'pbx_url: a PBX URL is a base URL, without query or fragment';
    END IF;
    IF left(authority, 1) = '[' THEN
        host := split_part(authority, ']', 1) || ']';
        IF host !~ '^\[[0-9A-Fa-f:.]+\]$' THEN
            RETURN 'pbx_url: not a URL with a host';
        END IF;
    ELSE
        host := split_part(authority, ':', 1);
        IF host !~ dns THEN
            RETURN 'pbx_url: not a URL with a host';
        END IF;
    END IF;
    port := substr(authority, length(host) + 1);
    IF port <> '' AND (port !~ '^:[0-9]+$' OR length(port) > 6 OR substr(port, 2)::integer NOT BETWEEN 1 AND 65535) THEN
        RETURN 'pbx_url: the port is not between 1 and 65535';
    ELSIF NOT (scheme = 'https' OR (scheme = 'http' AND lower(host) IN ('localhost', '127.0.0.1', '[::1]'))) THEN
        RETURN 'pbx_url: a PBX URL must be https (http only on loopback)';
    ELSIF p_allowed_pbx_hosts IS NOT NULL AND NOT onboarder.pbx_host_allowed(host, p_allowed_pbx_hosts) THEN
        RETURN format('pbx_url: the host %s is not one of this MSP''s allowed PBX hosts', lower(host));
    END IF;

    -- redirect_uri: Entra's rules for a Web redirect URI (a query is fine).
    value := nullif(p_payload ->> 'redirect_uri', '');
    IF value IS NOT NULL THEN
        IF length(value) > 256 THEN
            RETURN 'redirect_uri: a redirect URI has at most 256 characters';
        ELSIF strpos(value, '*') > 0 THEN
            RETURN 'redirect_uri: a redirect URI cannot contain a wildcard (*)';
        ELSIF value !~ '^[A-Za-z][A-Za-z0-9+.-]*://' OR value ~ '\s' THEN
            RETURN 'redirect_uri: not a URL with a host';
        ELSIF strpos(value, '#') > 0 THEN
            RETURN 'redirect_uri: a redirect URI cannot contain a fragment (#…)';
        END IF;
        scheme := lower(split_part(value, '://', 1));
        authority := split_part(split_part(substr(value, length(scheme) + 4), '/', 1), '?', 1);
        host := CASE WHEN left(authority, 1) = '[' THEN split_part(authority, ']', 1) || ']'
                     ELSE split_part(authority, ':', 1) END;
        port := substr(authority, length(host) + 1);
        IF NOT (host ~ dns OR host ~ '^\[[0-9A-Fa-f:.]+\]$') OR (port <> '' AND port !~ '^:[0-9]+$') THEN
            RETURN 'redirect_uri: not a URL with a host';
        ELSIF NOT (scheme = 'https' OR (scheme = 'http' AND lower(host) IN ('localhost', '127.0.0.1', '[::1]'))) THEN
            RETURN 'redirect_uri: a Web redirect URI must be https (http only for localhost)';
        END IF;
    END IF;

    value := nullif(p_payload ->> 'sbc_domain', '');
    IF length(value) > 253 THEN
        RETURN 'sbc_domain: at most 253 characters';
    ELSIF value !~ dns THEN
        RETURN 'sbc_domain: not a domain name or a DNS label';
    END IF;

    problem := onboarder.secret_reference_problem(p_payload ->> 'pbx_secret');
    IF problem IS NOT NULL THEN
        RETURN 'pbx_secret: ' || problem;
    END IF;
    IF p_payload ? 'tenant_client_secret' AND jsonb_typeof(p_payload -> 'tenant_client_secret') = 'string' THEN
        problem := onboarder.secret_reference_problem(p_payload ->> 'tenant_client_secret');
        IF problem IS NOT NULL THEN
            RETURN 'tenant_client_secret: ' || problem;
        END IF;
    END IF;

    IF users IS NOT NULL THEN
        IF jsonb_array_length(users) > 10000 THEN
            RETURN 'users: at most 10,000 users';
        ELSIF EXISTS (SELECT 1 FROM jsonb_array_elements_text(users) AS u WHERE u = '' OR length(u) > 113) THEN
            RETURN 'users: a user principal name has 1 to 113 characters';
        END IF;
    END IF;
    RETURN NULL;
END $$;

-- The customer an onboard row names, as the enqueue file's rules have it: its Entra tenant id (a lower-case
-- GUID, not the nil one) or one of its domains (lower-case, two labels or more, at most 253 characters).
-- The tenant key goes into Entra's token URL and every operator's view, so nothing else gets in.
CREATE OR REPLACE FUNCTION onboarder.tenant_key_problem(p_key text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE
        WHEN p_key IS NULL OR p_key = '' THEN 'tenant: required'
        WHEN p_key = '00000000-0000-0000-0000-000000000000' THEN 'tenant: the nil GUID is no tenant'
        WHEN p_key ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN NULL
        WHEN length(p_key) > 253 THEN 'tenant: a domain has at most 253 characters'
        -- Labels of 1 to 63 characters, the length checked apart: a bounded repeat ({0,61}) is expanded by
        -- PostgreSQL's regular expressions (7 µs a key against 0.3), and a bulk enqueue checks 100,000 keys.
        WHEN p_key ~ '^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$'
             AND NOT (length(p_key) > 63 AND p_key ~ '[^.]{64}') THEN NULL
        ELSE 'tenant: a lower-case tenant id (GUID) or domain name'
    END
$$;

-- Enqueues many jobs in one statement, for the MSPs the session's login acts for. Contract as in 0002:
-- results in ordinal order, a tenant's active job of the kind (and subject) or a job with the same
-- idempotency key reported with created = false, tenants created on first mention, one NOTIFY per call.
-- All or nothing: a refused row raises and nothing is written.
--   * every row's MSP must be one the login acts for (42501); only the owner and workers create MSPs on
--     first mention, for anyone else an unknown MSP is refused the same way;
--   * a login that does not act for every MSP enqueues `onboard` jobs only (42501), and never learns of
--     another MSP's job through an idempotency key (23505, without the job);
--   * `onboard` and rotation payloads must pass onboarding_payload_problem, with the MSP's allowed PBX
--     hosts (22023, "row N: field: reason");
--   * one customer, one Entra tenant (0011): an `onboard` row's tenant id is its key when that is a GUID,
--     else p_entra_tenant_ids[N] when the caller resolved its domain (`onboarder enqueue` does, through
--     Entra's OpenID discovery; NULL: unresolved, the worker claims the id at resolve-tenant). A row whose
--     tenant id is already a customer row of its MSP, under any key, goes to that row, so the customer's
--     active onboarding is reported (created = false; existing_key says the row's key) instead of a
--     second one. A tenant id that is another MSP's customer refuses the whole call: 23505
--     (unique_violation) "row N: tenant: KEY is already a customer of MSP OTHER". A given id that
--     contradicts a GUID key, or is given for another kind of job: 22023;
--   * two calls that enqueue one customer under different keys at once are serialised by the unique index
--     on tenants.entra_tenant_id: the second waits for the first's transaction, then takes its row (and
--     reports its job, or is refused when it is another MSP's);
--   * the 'enqueued' events record the actor (p_actor, default the login);
--   * approval (0013, 84_approval.sql): when the call creates more `onboard` jobs than
--     queue_limits.approval_threshold (NULL: never), or p_hold names a reason ('gdap': enqueue --from-gdap;
--     'threshold': the caller counted a whole file over the threshold), its onboard jobs are held: one
--     onboarder.batches row (the MSPs, the reason, p_plan or a plan of the rows, created_by the login) and
--     the jobs waiting for 'approval' at run_at 'infinity', which no claim reaches, with a 'held' event
--     each; approve_batch by another login releases them. The count is per call (per transaction, for the
--     calls that follow a held one: a later call of the same login in the same transaction joins its
--     batch, so one enqueue of many statements is one batch). p_hold can add a hold, never remove one.
-- Results: existing_key is set on the rows that did not create a job (created = false): the tenant key
-- of the customer row whose job is reported (another key when the customer was enqueued under it);
-- batch_id is the held batch of the job reported, if any.
-- SECURITY DEFINER: enqueuers have no privileges on the tables. Rows are held in arrays and CTEs: a temp
-- table would be one the caller can create first in its session (with a trigger).
DROP FUNCTION IF EXISTS onboarder.enqueue(text, text, text, jsonb, integer, timestamptz, text, text, text);
DROP FUNCTION IF EXISTS
    onboarder.enqueue_many(text[], text[], text[], jsonb[], integer[], timestamptz[], text[], text[], text);
-- Before approval (issue 22) the result had no batch_id and there was no p_hold / p_plan.
DROP FUNCTION IF EXISTS onboarder.enqueue(text, text, text, jsonb, integer, timestamptz, text, text, text, uuid);
DROP FUNCTION IF EXISTS
    onboarder.enqueue_many(text[], text[], text[], jsonb[], integer[], timestamptz[], text[], text[], text, uuid[]);
CREATE OR REPLACE FUNCTION onboarder.enqueue_many(
    p_msps text[], p_tenant_keys text[], p_kinds text[], p_payloads jsonb[] DEFAULT NULL,
    p_priorities integer[] DEFAULT NULL, p_run_ats timestamptz[] DEFAULT NULL, p_idempotency_keys text[] DEFAULT NULL,
    p_subjects text[] DEFAULT NULL, p_actor text DEFAULT NULL, p_entra_tenant_ids uuid[] DEFAULT NULL,
    p_hold text DEFAULT NULL, p_plan jsonb DEFAULT NULL
) RETURNS TABLE (ordinal integer, job_id bigint, created boolean, state text, existing_key text, batch_id bigint)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
-- Each call planned for its own arrays: unnest's row estimate comes from the array it is given (a
-- generic plan would guess 10 rows for a 5,000-row call).
SET plan_cache_mode = force_custom_plan
-- No JIT: the insert's estimated cost passes jit_optimize_above_cost at a few thousand rows, and compiling
-- it took 1.9 s of every 5,000-row call (37 s of a 100,000-row enqueue) to save milliseconds.
SET jit = off
-- A large call's sorts in memory: with the default 4 MB those of a 50,000-row call went to disk.
SET work_mem = '64MB'
AS $$
#variable_conflict use_column
DECLARE
    v_every_msp boolean := onboarder.acts_for_every_msp();
    v_mine text[];
    v_actor text := coalesce(p_actor, session_user);
    v_tenants bigint[];
    v_ids uuid[];
    v_raced boolean := false;   -- rows must be looked up again: tenants were claimed or inserted
    v_claimed bigint;
    v_bad record;
    v_threshold integer;
    v_creates integer;
    v_reason text;
    v_batch bigint;
    v_plan jsonb;
    v_jobs bigint[];
    v_created bigint[];
    v_new_tenants bigint[];    -- the customers this call inserted: ids, MSPs, keys, tenant ids
    v_new_msps text[];
    v_new_keys text[];
    v_new_ids uuid[];
    v_plan_mode text;
BEGIN
    -- A call of a few rows (an onboarding, a rotation the scheduler enqueues) may use the plans kept from the
    -- session's earlier calls: planning its dozen statements afresh was most of a one-row call (0.9 of 1.2 ms,
    -- and every enqueue-to-start wait pays it). A larger call plans each statement for its own arrays, as the
    -- SET above says; the function's SET restores the setting on the way out.
    IF cardinality(p_msps) <= 100 THEN
        PERFORM set_config('plan_cache_mode', 'force_generic_plan', true);
    END IF;
    v_plan_mode := current_setting('plan_cache_mode');
    IF p_hold IS NOT NULL AND p_hold NOT IN ('gdap', 'threshold') THEN
        RAISE EXCEPTION 'p_hold: gdap, threshold or NULL, not %', left(p_hold, 63) USING ERRCODE = 'invalid_parameter_value';
    ELSIF p_plan IS NOT NULL AND (jsonb_typeof(p_plan) <> 'object' OR jsonb_typeof(p_plan -> 'customers') <> 'array') THEN
        RAISE EXCEPTION 'p_plan: a JSON object with a customers array' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT v_every_msp THEN
        v_mine := ARRAY(SELECT onboarder.acting_msps());
        SELECT i.ord, i.msp, i.kind INTO v_bad
          FROM unnest(p_msps, p_kinds) WITH ORDINALITY AS i(msp, kind, ord)
         WHERE i.msp IS NULL OR NOT i.msp = ANY (v_mine) OR i.kind IS DISTINCT FROM 'onboard'
         ORDER BY i.ord LIMIT 1;
        IF FOUND THEN
            IF v_bad.msp IS NULL OR NOT v_bad.msp = ANY (v_mine) THEN
                RAISE EXCEPTION 'row %: msp: % is not an MSP this login may enqueue for', v_bad.ord,
                                coalesce(left(v_bad.msp, 63), '(none)')
                      USING ERRCODE = 'insufficient_privilege';
            END IF;
            RAISE EXCEPTION 'row %: kind: this login may enqueue onboard jobs only, not %', v_bad.ord,
                            coalesce(left(v_bad.kind, 63), '(none)')
                  USING ERRCODE = 'insufficient_privilege';
        END IF;
        SELECT k.ord INTO v_bad
          FROM unnest(p_msps, p_idempotency_keys) WITH ORDINALITY AS k(msp, key, ord)
          JOIN onboarder.jobs j ON j.idempotency_key = k.key
         WHERE j.msp_id <> k.msp
         ORDER BY k.ord LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'row %: idempotency_key: already used', v_bad.ord USING ERRCODE = 'unique_violation';
        END IF;
    END IF;

    SELECT i.ord, p.problem INTO v_bad
      FROM unnest(p_msps, p_kinds, p_payloads) WITH ORDINALITY AS i(msp, kind, payload, ord)
      LEFT JOIN onboarder.msps m ON m.id = i.msp
     CROSS JOIN LATERAL (
           SELECT CASE
                  WHEN i.kind = 'onboard' THEN
                      onboarder.onboarding_payload_problem(coalesce(i.payload, '{}'), m.allowed_pbx_hosts)
                  WHEN jsonb_typeof(i.payload -> 'credential_id') IS DISTINCT FROM 'number' THEN
                      'credential_id: required, a number'
                  ELSE onboarder.onboarding_payload_problem(i.payload, m.allowed_pbx_hosts, '{credential_id}')
                  END AS problem) p
     WHERE i.kind IN ('onboard', 'rotate-secret', 'rotate-certificate') AND p.problem IS NOT NULL
     ORDER BY i.ord LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'row %: %', v_bad.ord, v_bad.problem USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT i.ord, onboarder.tenant_key_problem(i.tenant_key) AS problem INTO v_bad
      FROM unnest(p_tenant_keys, p_kinds) WITH ORDINALITY AS i(tenant_key, kind, ord)
     WHERE i.kind = 'onboard' AND onboarder.tenant_key_problem(i.tenant_key) IS NOT NULL
     ORDER BY i.ord LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'row %: %', v_bad.ord, v_bad.problem USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- Each onboard row's Entra tenant id: its GUID key, or the id its domain was resolved to. Other kinds
    -- (rotations) are about one customer row's credential: found by key only, never moved to another row.
    IF p_entra_tenant_ids IS NOT NULL THEN
        SELECT i.ord, i.tenant_key, i.kind, i.entra INTO v_bad
          FROM unnest(p_tenant_keys, p_kinds, p_entra_tenant_ids) WITH ORDINALITY AS i(tenant_key, kind, entra, ord)
         WHERE i.entra IS NOT NULL
           AND (i.kind IS DISTINCT FROM 'onboard' OR i.entra = '00000000-0000-0000-0000-000000000000'
                OR CASE WHEN i.tenant_key ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                        THEN i.tenant_key::uuid <> i.entra ELSE false END)
         ORDER BY i.ord LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'row %: tenant: % cannot be given the tenant id %', v_bad.ord, left(v_bad.tenant_key, 253),
                            v_bad.entra
                  USING ERRCODE = 'invalid_parameter_value',
                        DETAIL = 'Only onboard rows take a resolved tenant id, and a tenant id key is its own.';
        END IF;
    END IF;
    v_ids := ARRAY(
        SELECT CASE WHEN i.kind = 'onboard' THEN
                   coalesce(i.entra,
                            CASE WHEN i.tenant_key ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                                 THEN i.tenant_key::uuid END)
               END
          FROM unnest(p_tenant_keys, p_kinds, p_entra_tenant_ids) WITH ORDINALITY AS i(tenant_key, kind, entra, ord)
         ORDER BY i.ord);

    -- Tenants that exist (usually all of them) are found per row: by tenant id first (the customer under
    -- any key), else by key; only the others are inserted.
    v_tenants := ARRAY(
        SELECT coalesce((SELECT t.id FROM onboarder.tenants t WHERE t.entra_tenant_id = i.entra),
                        (SELECT t.id FROM onboarder.tenants t WHERE t.msp_id = i.msp AND t.tenant_key = i.tenant_key))
          FROM unnest(p_msps, p_tenant_keys, v_ids) WITH ORDINALITY AS i(msp, tenant_key, entra, ord)
         ORDER BY i.ord);
    -- Rows found by key that have no tenant id yet take theirs now (the call's first row per id). One
    -- that another call claimed meanwhile under another key fails the unique index after waiting for it:
    -- then none of these is claimed here (their workers claim them at resolve-tenant), and every row is
    -- looked up again below, finding the other call's row.
    IF array_remove(v_ids, NULL) <> '{}' THEN
        BEGIN
            UPDATE onboarder.tenants t SET entra_tenant_id = c.entra
              FROM (SELECT DISTINCT ON (i.entra) i.tenant_id, i.entra
                      FROM unnest(v_tenants, v_ids) WITH ORDINALITY AS i(tenant_id, entra, ord)
                     WHERE i.entra IS NOT NULL AND i.tenant_id IS NOT NULL
                     ORDER BY i.entra, i.ord) c
             WHERE t.id = c.tenant_id AND t.entra_tenant_id IS NULL;
            -- A claimed row is the one every other row of its id goes to (a second key's row of the same
            -- MSP found by key must not get a job of its own).
            GET DIAGNOSTICS v_claimed = ROW_COUNT;
            v_raced := v_claimed > 0;
        EXCEPTION WHEN unique_violation THEN
            v_raced := true;
        END;
    END IF;

    IF array_position(v_tenants, NULL) IS NOT NULL THEN
        IF v_every_msp THEN
            INSERT INTO onboarder.msps (id, display_name)
            SELECT DISTINCT i.msp, i.msp FROM unnest(p_msps, v_tenants) AS i(msp, tenant_id)
             WHERE i.tenant_id IS NULL ORDER BY 1
            ON CONFLICT (id) DO NOTHING;
        END IF;
        -- One row per customer: per tenant id when known, else per MSP and key (the first row's key). Any
        -- conflict — the key, or the tenant id, taken by another call meanwhile — is left to the lookup.
        -- Planned generically, as the jobs' insert below says.
        PERFORM set_config('plan_cache_mode', 'force_generic_plan', true);
        WITH inserted AS (
            INSERT INTO onboarder.tenants AS t (msp_id, tenant_key, entra_tenant_id)
            SELECT DISTINCT ON (coalesce(i.entra::text, i.msp || '/' || i.tenant_key)) i.msp, i.tenant_key, i.entra
              FROM unnest(p_msps, p_tenant_keys, v_ids, v_tenants) WITH ORDINALITY AS i(msp, tenant_key, entra, tenant_id, ord)
             WHERE i.tenant_id IS NULL
             ORDER BY coalesce(i.entra::text, i.msp || '/' || i.tenant_key), i.ord
            ON CONFLICT DO NOTHING
            RETURNING t.id, t.msp_id, t.tenant_key, t.entra_tenant_id
        )
        SELECT array_agg(n.id), array_agg(n.msp_id), array_agg(n.tenant_key), array_agg(n.entra_tenant_id)
          INTO v_new_tenants, v_new_msps, v_new_keys, v_new_ids
          FROM inserted n;
        PERFORM set_config('plan_cache_mode', v_plan_mode, true);
        -- The rows without a customer take the one inserted for them (by tenant id when they have one, else
        -- by key: the lookup's order); a row left without (a conflict) has every row looked up again.
        v_tenants := ARRAY(
            SELECT coalesce(i.tenant_id, by_entra.id, by_key.id)
              FROM unnest(p_msps, p_tenant_keys, v_ids, v_tenants) WITH ORDINALITY AS i(msp, tenant_key, entra, tenant_id, ord)
              LEFT JOIN unnest(v_new_tenants, v_new_ids) AS by_entra(id, entra)
                     ON i.tenant_id IS NULL AND by_entra.entra = i.entra
              LEFT JOIN unnest(v_new_tenants, v_new_msps, v_new_keys) AS by_key(id, msp, tenant_key)
                     ON i.tenant_id IS NULL AND i.entra IS NULL AND by_key.msp = i.msp AND by_key.tenant_key = i.tenant_key
             ORDER BY i.ord);
        v_raced := v_raced OR array_position(v_tenants, NULL) IS NOT NULL;
    END IF;
    IF v_raced THEN
        v_tenants := ARRAY(
            SELECT coalesce(CASE WHEN i.entra IS NULL THEN i.tenant_id END,
                            (SELECT t.id FROM onboarder.tenants t WHERE t.entra_tenant_id = i.entra),
                            (SELECT t.id FROM onboarder.tenants t WHERE t.msp_id = i.msp AND t.tenant_key = i.tenant_key))
              FROM unnest(p_msps, p_tenant_keys, v_ids, v_tenants) WITH ORDINALITY AS i(msp, tenant_key, entra, tenant_id, ord)
             ORDER BY i.ord);
    END IF;
    -- Another MSP's customer, or a key whose row holds another tenant id than its row resolved to now
    -- (a domain that moved tenants): refused, and everything above is undone with the call.
    SELECT i.ord, i.tenant_key, i.entra, t.msp_id, t.entra_tenant_id INTO v_bad
      FROM unnest(p_msps, p_tenant_keys, v_ids, v_tenants) WITH ORDINALITY AS i(msp, tenant_key, entra, tenant_id, ord)
      JOIN onboarder.tenants t ON t.id = i.tenant_id
     WHERE i.entra IS NOT NULL AND (t.msp_id <> i.msp OR t.entra_tenant_id <> i.entra)
     ORDER BY i.ord LIMIT 1;
    IF FOUND THEN
        IF v_bad.entra_tenant_id = v_bad.entra THEN
            RAISE EXCEPTION 'row %: tenant: % is already a customer of MSP %', v_bad.ord, v_bad.tenant_key,
                            v_bad.msp_id
                  USING ERRCODE = 'unique_violation',
                        HINT = 'One Entra tenant is one MSP''s customer: the other MSP must give it up first.';
        END IF;
        RAISE EXCEPTION 'row %: tenant: % was enqueued before as tenant %, but is tenant % now', v_bad.ord,
                        v_bad.tenant_key, v_bad.entra_tenant_id, v_bad.entra
              USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- A customer being offboarded takes no new onboarding or rotation until its offboarding ends: the two
    -- would run one after the other (one running job per tenant) and the offboarding would undo the other.
    -- The lock first (ROW EXCLUSIVE: what the insert below takes anyway, so enqueues and workers never wait
    -- for it): it waits for an offboarding being enqueued (enqueue_offboard's SHARE ROW EXCLUSIVE), and the
    -- check, a later statement, then sees that offboarding; one enqueued after waits for this call's
    -- transaction and sees its jobs.
    LOCK TABLE onboarder.jobs IN ROW EXCLUSIVE MODE;
    SELECT i.ord, i.tenant_key, o.id AS job_id INTO v_bad
      FROM unnest(p_tenant_keys, p_kinds, v_tenants) WITH ORDINALITY AS i(tenant_key, kind, tenant_id, ord)
      JOIN onboarder.jobs o ON o.tenant_id = i.tenant_id AND o.kind = 'offboard' AND o.subject = ''
                           AND o.state IN ('queued', 'running', 'waiting', 'needs_attention')
     WHERE i.kind IN ('onboard', 'rotate-secret', 'rotate-certificate')
     ORDER BY i.ord LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'row %: tenant: % is being offboarded (job %): let it finish, or cancel it, then enqueue again',
                        v_bad.ord, left(v_bad.tenant_key, 253), v_bad.job_id
              USING ERRCODE = 'object_in_use';
    END IF;

    -- Approval. A batch this login opened earlier in this transaction (enqueue's later statements) is
    -- joined whatever this call's count; the setting only finds it, the checks decide (a caller can set
    -- the setting, but a batch of another login or transaction is never joined).
    IF 'onboard' = ANY (p_kinds) THEN
        SELECT b.id INTO v_batch FROM onboarder.batches b
         WHERE b.id = CASE WHEN current_setting('onboarder.batch', true) ~ '^[0-9]{1,18}$'
                           THEN current_setting('onboarder.batch', true)::bigint END
           AND b.state = 'held' AND b.created_by = session_user AND b.created_at = now();
        SELECT l.approval_threshold INTO v_threshold FROM onboarder.queue_limits l WHERE l.singleton;
        IF v_batch IS NOT NULL OR p_hold IS NOT NULL OR cardinality(p_msps) > v_threshold THEN
            -- The onboard jobs the insert below creates: one per customer that has no active onboarding
            -- and whose idempotency key is new (a concurrent enqueue of the same customers can only lower
            -- it, holding a batch that creates fewer).
            SELECT count(DISTINCT i.tenant_id) INTO v_creates
              FROM unnest(p_kinds, p_idempotency_keys, p_subjects, v_tenants) AS i(kind, idem, subject, tenant_id)
             WHERE i.kind = 'onboard'
               AND NOT EXISTS (SELECT 1 FROM onboarder.jobs o
                                WHERE o.tenant_id = i.tenant_id AND o.kind = 'onboard'
                                  AND o.subject = coalesce(i.subject, '')
                                  AND o.state IN ('queued', 'running', 'waiting', 'needs_attention'))
               AND (i.idem IS NULL OR NOT EXISTS (SELECT 1 FROM onboarder.jobs o WHERE o.idempotency_key = i.idem));
            v_plan := coalesce(p_plan, jsonb_build_object('customers', (
                SELECT coalesce(jsonb_agg(jsonb_build_object('msp', i.msp, 'tenant', i.tenant_key,
                                                             'path', i.payload ->> 'path') ORDER BY i.ord), '[]')
                  FROM unnest(p_msps, p_tenant_keys, p_kinds, p_payloads) WITH ORDINALITY AS i(msp, tenant_key, kind, payload, ord)
                 WHERE i.kind = 'onboard')));
            IF v_batch IS NOT NULL THEN
                UPDATE onboarder.batches b
                   SET msp_ids = ARRAY(SELECT DISTINCT m FROM unnest(b.msp_ids || p_msps) AS m ORDER BY 1),
                       plan = jsonb_set(b.plan, '{customers}', coalesce(b.plan -> 'customers', '[]') || (v_plan -> 'customers'))
                 WHERE b.id = v_batch
                RETURNING b.reason INTO v_reason;
            ELSIF v_creates > 0 THEN
                v_reason := coalesce(p_hold, CASE WHEN v_creates > v_threshold THEN 'threshold' END);
                IF v_reason IS NOT NULL THEN
                    INSERT INTO onboarder.batches (msp_ids, reason, plan, created_actor)
                    VALUES (ARRAY(SELECT DISTINCT i.msp FROM unnest(p_msps, p_kinds) AS i(msp, kind)
                                   WHERE i.kind = 'onboard' ORDER BY 1),
                            v_reason, v_plan, v_actor)
                    RETURNING id INTO v_batch;
                    PERFORM set_config('onboarder.batch', v_batch::text, true);
                END IF;
            END IF;
        END IF;
    END IF;

    -- Each row's job id, drawn before the insert: a row that creates its job answers with its own id, so
    -- nothing has to match the inserted jobs back to the rows (joins, sorts and a window over every row, in
    -- the version before). A skipped row's id is drawn and lost, as a default's would be: ON CONFLICT
    -- evaluates a row's defaults before it checks the row.
    v_jobs := ARRAY(SELECT nextval('onboarder.jobs_id_seq') FROM generate_series(1, cardinality(p_msps)));
    -- Planned generically whatever the call's size: its plan is a scan of the arrays, which no row count
    -- changes; and the foreign-key checks (each job's customer, as each new customer's MSP above) run on
    -- cached plans of their own, which plan_cache_mode governs too: under force_custom_plan every check is
    -- planned again for its row (BENCHMARKS.md, bulk enqueue: 3.4 times the checks' cost).
    PERFORM set_config('plan_cache_mode', 'force_generic_plan', true);
    WITH inserted AS (
        -- A held batch's onboard jobs wait for approval, where no claim reaches them. In the rows' order:
        -- of two rows for one job, the first creates it.
        INSERT INTO onboarder.jobs AS j (id, kind, msp_id, tenant_id, subject, payload, priority, run_at, idempotency_key,
                                         state, wait_reason, batch_id)
        OVERRIDING SYSTEM VALUE
        SELECT i.id, i.kind, i.msp, i.tenant_id, coalesce(i.subject, ''), coalesce(i.payload, '{}'), coalesce(i.priority, 0),
               CASE WHEN h.held THEN 'infinity' ELSE coalesce(i.run_at, now()) END, i.idem,
               CASE WHEN h.held THEN 'waiting' ELSE 'queued' END, CASE WHEN h.held THEN 'approval' END,
               CASE WHEN h.held THEN v_batch END
          FROM unnest(v_jobs, p_msps, p_kinds, p_payloads, p_priorities, p_run_ats, p_idempotency_keys, p_subjects,
                      v_tenants) WITH ORDINALITY AS i(id, msp, kind, payload, priority, run_at, idem, subject, tenant_id, ord)
         CROSS JOIN LATERAL (SELECT v_batch IS NOT NULL AND i.kind = 'onboard' AS held) h
         ORDER BY i.ord
        ON CONFLICT DO NOTHING
        RETURNING j.id, j.batch_id
    ), events AS (
        INSERT INTO onboarder.events (job_id, kind, actor, detail)
        SELECT n.id, 'enqueued', v_actor, NULL::jsonb FROM inserted n
        UNION ALL
        SELECT n.id, 'held', v_actor, jsonb_build_object('batch', n.batch_id, 'reason', v_reason)
          FROM inserted n WHERE n.batch_id IS NOT NULL
    )
    SELECT ARRAY(SELECT n.id FROM inserted n) INTO v_created;
    PERFORM set_config('plan_cache_mode', v_plan_mode, true);

    IF cardinality(v_created) = cardinality(p_msps) THEN
        -- Every row created its job: a bulk enqueue of new customers, a rotation, an onboarding.
        RETURN QUERY
        SELECT i.ord::integer, i.id, true, CASE WHEN v_batch IS NOT NULL AND i.kind = 'onboard' THEN 'waiting' ELSE 'queued' END,
               NULL::text, CASE WHEN v_batch IS NOT NULL AND i.kind = 'onboard' THEN v_batch END
          FROM unnest(v_jobs, p_kinds) WITH ORDINALITY AS i(id, kind, ord)
         ORDER BY i.ord;
    ELSE
        -- A row that created none reports the job that is there — this call's (an earlier row's), or one
        -- from before — by its key, else as the customer's active job of the kind; this statement sees the
        -- insert's jobs. Never another MSP's job for a login held to its MSPs (the check above; this
        -- covers a job that took the key since).
        RETURN QUERY
        SELECT i.ord::integer, coalesce(n.id, there.id), n.id IS NOT NULL,
               CASE WHEN n.id IS NOT NULL
                    THEN CASE WHEN v_batch IS NOT NULL AND i.kind = 'onboard' THEN 'waiting' ELSE 'queued' END
                    ELSE there.state END,
               CASE WHEN n.id IS NULL
                    THEN (SELECT t.tenant_key FROM onboarder.tenants t WHERE t.id = coalesce(there.tenant_id, i.tenant_id)) END,
               CASE WHEN n.id IS NOT NULL THEN CASE WHEN v_batch IS NOT NULL AND i.kind = 'onboard' THEN v_batch END
                    ELSE there.batch_id END
          FROM unnest(v_jobs, p_msps, p_kinds, p_idempotency_keys, p_subjects, v_tenants) WITH ORDINALITY
               AS i(id, msp, kind, idem, subject, tenant_id, ord)
          LEFT JOIN unnest(v_created) AS n(id) ON n.id = i.id
          -- Looked up by index, and only for the rows that created none.
          LEFT JOIN LATERAL (
              SELECT o.id, o.state, o.tenant_id, o.batch_id
                FROM (SELECT j.id, j.state, j.tenant_id, j.batch_id, 1 AS rank FROM onboarder.jobs j
                       WHERE j.idempotency_key = i.idem AND (v_every_msp OR j.msp_id = i.msp)
                      UNION ALL
                      SELECT j.id, j.state, j.tenant_id, j.batch_id, 2 FROM onboarder.jobs j
                       WHERE j.tenant_id = i.tenant_id AND j.kind = i.kind AND j.subject = coalesce(i.subject, '')
                         AND j.state IN ('queued', 'running', 'waiting', 'needs_attention')) o
               WHERE n.id IS NULL
               ORDER BY o.rank LIMIT 1) there ON true
         ORDER BY i.ord;
    END IF;

    -- A bulk enqueue that grows the table a lot leaves the planner with stale (or, on a new install, no)
    -- statistics until autovacuum gets to it, and the claim's plan was measured ten times slower then.
    -- Refresh them here; small enqueues leave it to autovacuum.
    IF v_batch IS NOT NULL THEN
        UPDATE onboarder.batches b SET jobs = (SELECT count(*) FROM onboarder.jobs j WHERE j.batch_id = b.id)
         WHERE b.id = v_batch;
    END IF;

    IF cardinality(p_msps) >= 1000 AND cardinality(p_msps) > 0.2 * greatest(
           (SELECT c.reltuples FROM pg_catalog.pg_class c WHERE c.oid = 'onboarder.jobs'::pg_catalog.regclass), 0) THEN
        ANALYZE onboarder.jobs;
        ANALYZE onboarder.tenants;
    END IF;
    PERFORM pg_notify('onboarder_jobs', '');
END $$;

-- One job, for any SQL client: SELECT * FROM onboarder.enqueue('acme', 'contoso.onmicrosoft.com', 'onboard', '{…}');
-- The checks are enqueue_many's (this runs as the caller and calls it); p_entra_tenant_id is the customer's
-- tenant id when the caller resolved its domain (see enqueue_many).
CREATE OR REPLACE FUNCTION onboarder.enqueue(
    p_msp text, p_tenant_key text, p_kind text, p_payload jsonb DEFAULT '{}', p_priority integer DEFAULT 0,
    p_run_at timestamptz DEFAULT now(), p_idempotency_key text DEFAULT NULL, p_subject text DEFAULT '',
    p_actor text DEFAULT NULL, p_entra_tenant_id uuid DEFAULT NULL
) RETURNS TABLE (job_id bigint, created boolean, state text, existing_key text, batch_id bigint)
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT e.job_id, e.created, e.state, e.existing_key, e.batch_id
      FROM onboarder.enqueue_many(ARRAY[p_msp], ARRAY[p_tenant_key], ARRAY[p_kind], ARRAY[p_payload],
                                  ARRAY[p_priority], ARRAY[p_run_at], ARRAY[p_idempotency_key], ARRAY[p_subject],
                                  p_actor, ARRAY[p_entra_tenant_id]) e
$$;


-- Enqueuers and workers: enqueue, and the checks it makes.
REVOKE ALL ON FUNCTION
      onboarder.enqueue_many(text[], text[], text[], jsonb[], integer[], timestamptz[], text[], text[], text, uuid[], text,
                             jsonb),
      onboarder.enqueue(text, text, text, jsonb, integer, timestamptz, text, text, text, uuid),
      onboarder.onboarding_payload_problem(jsonb, text[], text[]), onboarder.pbx_host_allowed(text, text[]),
      onboarder.secret_reference_problem(text), onboarder.tenant_key_problem(text)
  FROM PUBLIC, onboarder_worker, onboarder_enqueuer, onboarder_operator;
GRANT EXECUTE ON FUNCTION
      onboarder.enqueue_many(text[], text[], text[], jsonb[], integer[], timestamptz[], text[], text[], text, uuid[], text,
                             jsonb),
      onboarder.enqueue(text, text, text, jsonb, integer, timestamptz, text, text, text, uuid),
      onboarder.onboarding_payload_problem(jsonb, text[], text[]), onboarder.pbx_host_allowed(text, text[]),
      onboarder.secret_reference_problem(text), onboarder.tenant_key_problem(text)
   TO onboarder_worker, onboarder_enqueuer;
