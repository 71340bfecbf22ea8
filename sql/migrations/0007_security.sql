-- Trust boundaries in SQL. Onboarder's database holds the credentials of every customer of every MSP,
-- and three kinds of staff log in to it: workers (act for every MSP), enqueuers and operators (each held
-- to the MSPs its login is mapped to in onboarder.operator_msps). What this file fixes:
--
-- * Functions resolved names through the caller's search_path: an operator who created a temp view
--   pg_temp.pg_roles (listing itself as a worker) and put pg_temp first read every MSP's rows through the
--   row-level-security helpers. Every function now pins `search_path = pg_catalog, pg_temp` (pg_catalog
--   first: built-ins cannot be shadowed; pg_temp last: it is never searched for functions or operators
--   and comes after everything for relations) and names every relation with its schema.
-- * 0006's CREATE OR REPLACE of enqueue_many dropped the SECURITY DEFINER and pinned search_path 0004 had
--   given it (CREATE OR REPLACE resets every attribute it does not restate), so enqueuers could not
--   enqueue; as 0004 designed it, it would have enqueued for any MSP, any kind, any payload, and it wrote
--   a temp table the caller could pre-create in its own session, with a trigger: the caller's code with
--   the owner's rights. Rewritten: no temp table, every row checked against who is acting.
-- * Functions were EXECUTE-able by PUBLIC (PostgreSQL's default). Now only the roles listed at the end.
--
-- Who is acting: inside a SECURITY DEFINER function current_user is the owner, so the decision is made on
-- session_user, the login (only a superuser can change it). The owner of the tables (and its members) and
-- members of onboarder_worker act for every MSP; any other login for the MSPs mapped to it, or to a role it
-- is a member of, in onboarder.operator_msps. (A connection pooler that logs every user in as one role
-- makes them one identity to these checks.) Row-level security, which runs as the querying role, keeps
-- deciding on current_user (sees_all_msps, my_msps).
--
-- Every definition below restates its SECURITY DEFINER and SET clauses; a later CREATE OR REPLACE must
-- too (Tests/QueueTests/FunctionSecurityTests.swift compares every function with a declared table).

-- MARK: roles

DO $$
BEGIN
    IF (SELECT count(*) FROM pg_catalog.pg_roles
         WHERE rolname IN ('onboarder_worker', 'onboarder_enqueuer', 'onboarder_operator')) < 3 THEN
        RAISE EXCEPTION 'the roles onboarder_worker, onboarder_enqueuer and onboarder_operator are missing'
            USING HINT = 'A superuser runs sql/bootstrap.sql once per cluster (psql -f sql/bootstrap.sql), then migrate again.';
    END IF;
END $$;

-- MARK: tables

COMMENT ON TABLE onboarder.operator_msps IS
    'Staff logins → MSPs: which MSPs an operator or enqueuer login (or a role it is a member of) acts for.';

ALTER TABLE onboarder.msps ADD COLUMN allowed_pbx_hosts text[]
    -- Lower-case host names or *.suffix; no NULL entries. '{}' allows no host at all.
    CONSTRAINT msps_allowed_pbx_hosts CHECK (
        allowed_pbx_hosts IS NULL
        OR (pg_catalog.array_position(allowed_pbx_hosts, NULL) IS NULL
            AND pg_catalog.array_to_string(allowed_pbx_hosts, ',')
                ~ '^((\*\.)?[a-z0-9_-]+(\.[a-z0-9_-]+)*(,(\*\.)?[a-z0-9_-]+(\.[a-z0-9_-]+)*)*)?$'));
COMMENT ON COLUMN onboarder.msps.allowed_pbx_hosts IS
    'Hosts this MSP''s PBX URLs may name (the worker sends PBX secrets there): exact names or *.suffix (any name ending in .suffix). NULL: any host.';

-- Who wrote each event. db_user is the login (session_user): set by the database, and the workers may not
-- name it (their INSERT privilege leaves it out). actor is who the client says acted (`--actor`, by
-- default the OS user): a claim, kept apart from the login. Events from before this migration have no
-- login recorded: they read '(before 0007)' (a default stored once, without rewriting the table).
ALTER TABLE onboarder.events ADD COLUMN db_user text NOT NULL DEFAULT '(before 0007)';
ALTER TABLE onboarder.events ALTER COLUMN db_user SET DEFAULT session_user;
ALTER TABLE onboarder.events ADD COLUMN actor text;
COMMENT ON COLUMN onboarder.events.db_user IS 'The database login that wrote the event (session_user); cannot be spoofed.';
COMMENT ON COLUMN onboarder.events.actor IS 'Who the client says acted (onboarder --actor, default the OS user): a claim.';

-- MARK: who is acting

-- True when the session's login acts for every MSP: the tables' owner (or a member of it; a superuser is
-- a member of every role) or a member of onboarder_worker.
CREATE FUNCTION onboarder.acts_for_every_msp() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.pg_has_role(session_user, c.relowner, 'MEMBER')
           OR EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
                       WHERE r.rolname = 'onboarder_worker' AND pg_catalog.pg_has_role(session_user, r.oid, 'MEMBER'))
      FROM pg_catalog.pg_class c
     WHERE c.oid = 'onboarder.jobs'::pg_catalog.regclass
$$;

-- The MSPs the session's login acts for: every MSP for the owner and workers, else those mapped to it
-- (or to a role it is a member of).
CREATE FUNCTION onboarder.acting_msps() RETURNS SETOF text
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT m.id FROM onboarder.msps m WHERE onboarder.acts_for_every_msp()
    UNION
    SELECT o.msp_id FROM onboarder.operator_msps o JOIN pg_catalog.pg_roles r ON r.rolname = o.role_name
     WHERE pg_catalog.pg_has_role(session_user, r.oid, 'MEMBER')
$$;

-- Whether the session's login may act for p_msp. For the owner and workers also an MSP that does not
-- exist yet (enqueue creates it); for anyone else only a mapped, hence existing, MSP.
CREATE FUNCTION onboarder.may_act_for(p_msp text) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT p_msp IS NOT NULL
           AND (onboarder.acts_for_every_msp()
                OR EXISTS (SELECT 1 FROM onboarder.operator_msps o JOIN pg_catalog.pg_roles r ON r.rolname = o.role_name
                            WHERE o.msp_id = p_msp AND pg_catalog.pg_has_role(session_user, r.oid, 'MEMBER')))
$$;

-- MARK: row-level security

-- The policies' helpers run as the querying role (current_user), as 0004 wrote them, but can no longer
-- be pointed at the caller's objects.
CREATE OR REPLACE FUNCTION onboarder.sees_all_msps() RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
                    WHERE r.rolname = 'onboarder_worker' AND pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER'))
$$;

CREATE OR REPLACE FUNCTION onboarder.my_msps() RETURNS SETOF text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT o.msp_id FROM onboarder.operator_msps o JOIN pg_catalog.pg_roles r ON r.rolname = o.role_name
     WHERE pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER')
$$;

-- (SELECT f()) is an initplan: evaluated once per statement, not once per row; my_msps() in IN (SELECT …)
-- is a hashed subplan, also built once. The tables reached through a job or tenant skip that lookup for
-- workers.
DROP POLICY msp_rows ON onboarder.msps;
CREATE POLICY msp_rows ON onboarder.msps
    USING ((SELECT onboarder.sees_all_msps()) OR id IN (SELECT onboarder.my_msps()));
DROP POLICY msp_rows ON onboarder.tenants;
CREATE POLICY msp_rows ON onboarder.tenants
    USING ((SELECT onboarder.sees_all_msps()) OR msp_id IN (SELECT onboarder.my_msps()));
DROP POLICY msp_rows ON onboarder.jobs;
CREATE POLICY msp_rows ON onboarder.jobs
    USING ((SELECT onboarder.sees_all_msps()) OR msp_id IN (SELECT onboarder.my_msps()));
DROP POLICY msp_rows ON onboarder.job_steps;
CREATE POLICY msp_rows ON onboarder.job_steps
    USING ((SELECT onboarder.sees_all_msps()) OR EXISTS (SELECT 1 FROM onboarder.jobs j WHERE j.id = job_id));
DROP POLICY msp_rows ON onboarder.events;
CREATE POLICY msp_rows ON onboarder.events
    USING ((SELECT onboarder.sees_all_msps()) OR EXISTS (SELECT 1 FROM onboarder.jobs j WHERE j.id = job_id));
DROP POLICY msp_rows ON onboarder.integrations;
CREATE POLICY msp_rows ON onboarder.integrations
    USING ((SELECT onboarder.sees_all_msps()) OR EXISTS (SELECT 1 FROM onboarder.tenants t WHERE t.id = tenant_id));
DROP POLICY msp_rows ON onboarder.credentials;
CREATE POLICY msp_rows ON onboarder.credentials
    USING ((SELECT onboarder.sees_all_msps()) OR EXISTS (SELECT 1 FROM onboarder.tenants t WHERE t.id = tenant_id));
DROP POLICY msp_rows ON onboarder.scripts;
CREATE POLICY msp_rows ON onboarder.scripts
    USING ((SELECT onboarder.sees_all_msps()) OR EXISTS (SELECT 1 FROM onboarder.tenants t WHERE t.id = tenant_id));
DROP POLICY own_rows ON onboarder.operator_msps;
CREATE POLICY own_rows ON onboarder.operator_msps
    USING ((SELECT onboarder.sees_all_msps())
           OR EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
                       WHERE r.rolname = role_name AND pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER')));

-- MARK: events are append-only

-- Nobody updates an event; only the tables' owner deletes them (retention). Not SECURITY DEFINER: it must
-- see the role that runs the statement. A trigger, not only privileges: privileges can be granted back by
-- mistake, and a superuser who means to bypass it has to say so (SET ROLE, or disable it).
CREATE OR REPLACE FUNCTION onboarder.events_append_only() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'UPDATE' OR current_user IS DISTINCT FROM (SELECT r.rolname FROM pg_catalog.pg_class c
                                                            JOIN pg_catalog.pg_roles r ON r.oid = c.relowner
                                                           WHERE c.oid = TG_RELID) THEN
        RAISE EXCEPTION 'onboarder.events is append-only (% by %)', TG_OP, current_user
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Only the tables'' owner deletes events (retention); nobody updates them.';
    END IF;
    RETURN OLD;  -- NULL for TRUNCATE, whose statement trigger's result is not used
END $$;

DROP TRIGGER events_append_only ON onboarder.events;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON onboarder.events
    FOR EACH ROW EXECUTE FUNCTION onboarder.events_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON onboarder.events
    FOR EACH STATEMENT EXECUTE FUNCTION onboarder.events_append_only();
COMMENT ON TABLE onboarder.events IS
    'Append-only history of every job: nobody updates an event; only the tables'' owner deletes them (retention).';

-- MARK: what an enqueue may say

-- Whether a PBX host is one of an MSP's allowed hosts (see msps.allowed_pbx_hosts); NULL list: any host.
CREATE FUNCTION onboarder.pbx_host_allowed(p_host text, p_allowed text[]) RETURNS boolean
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
CREATE FUNCTION onboarder.secret_reference_problem(p_reference text) RETURNS text
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
CREATE FUNCTION onboarder.onboarding_payload_problem(
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

-- MARK: enqueue

DROP FUNCTION onboarder.enqueue(text, text, text, jsonb, integer, timestamptz, text, text);
DROP FUNCTION onboarder.enqueue_many(text[], text[], text[], jsonb[], integer[], timestamptz[], text[], text[]);

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
--   * the 'enqueued' events record the actor (p_actor, default the login).
-- SECURITY DEFINER: enqueuers have no privileges on the tables. Rows are held in arrays and CTEs: a temp
-- table would be one the caller can create first in its session (with a trigger).
-- The customer an onboard row names, as the enqueue file's rules have it: its Entra tenant id (a lower-case
-- GUID, not the nil one) or one of its domains (lower-case, two labels or more, at most 253 characters).
-- The tenant key goes into Entra's token URL and every operator's view, so nothing else gets in.
CREATE FUNCTION onboarder.tenant_key_problem(p_key text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE
        WHEN p_key IS NULL OR p_key = '' THEN 'tenant: required'
        WHEN p_key = '00000000-0000-0000-0000-000000000000' THEN 'tenant: the nil GUID is no tenant'
        WHEN p_key ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN NULL
        WHEN length(p_key) > 253 THEN 'tenant: a domain has at most 253 characters'
        WHEN p_key ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$' THEN NULL
        ELSE 'tenant: a lower-case tenant id (GUID) or domain name'
    END
$$;

CREATE FUNCTION onboarder.enqueue_many(
    p_msps text[], p_tenant_keys text[], p_kinds text[], p_payloads jsonb[] DEFAULT NULL,
    p_priorities integer[] DEFAULT NULL, p_run_ats timestamptz[] DEFAULT NULL, p_idempotency_keys text[] DEFAULT NULL,
    p_subjects text[] DEFAULT NULL, p_actor text DEFAULT NULL
) RETURNS TABLE (ordinal integer, job_id bigint, created boolean, state text)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
-- Each call planned for its own arrays: unnest's row estimate comes from the array it is given (a
-- generic plan would guess 10 rows for a 5,000-row call).
SET plan_cache_mode = force_custom_plan
AS $$
#variable_conflict use_column
DECLARE
    v_every_msp boolean := onboarder.acts_for_every_msp();
    v_mine text[];
    v_actor text := coalesce(p_actor, session_user);
    v_tenants bigint[];
    v_bad record;
BEGIN
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

    -- Tenants that exist (usually all of them) are found by key, per row; only the others are inserted.
    v_tenants := ARRAY(
        SELECT (SELECT t.id FROM onboarder.tenants t WHERE t.msp_id = i.msp AND t.tenant_key = i.tenant_key)
          FROM unnest(p_msps, p_tenant_keys) WITH ORDINALITY AS i(msp, tenant_key, ord)
         ORDER BY i.ord);
    IF array_position(v_tenants, NULL) IS NOT NULL THEN
        IF v_every_msp THEN
            INSERT INTO onboarder.msps (id, display_name)
            SELECT DISTINCT i.msp, i.msp FROM unnest(p_msps, v_tenants) AS i(msp, tenant_id)
             WHERE i.tenant_id IS NULL ORDER BY 1
            ON CONFLICT (id) DO NOTHING;
        END IF;
        INSERT INTO onboarder.tenants (msp_id, tenant_key)
        SELECT DISTINCT i.msp, i.tenant_key FROM unnest(p_msps, p_tenant_keys, v_tenants) AS i(msp, tenant_key, tenant_id)
         WHERE i.tenant_id IS NULL ORDER BY 1, 2
        ON CONFLICT (msp_id, tenant_key) DO NOTHING;
        v_tenants := ARRAY(
            SELECT coalesce(i.tenant_id, (SELECT t.id FROM onboarder.tenants t
                                           WHERE t.msp_id = i.msp AND t.tenant_key = i.tenant_key))
              FROM unnest(p_msps, p_tenant_keys, v_tenants) WITH ORDINALITY AS i(msp, tenant_key, tenant_id, ord)
             ORDER BY i.ord);
    END IF;

    RETURN QUERY
    WITH input AS (
        SELECT i.ord::integer AS ordinal, i.msp AS msp_id, i.kind, coalesce(i.payload, '{}') AS payload,
               coalesce(i.priority, 0) AS priority, coalesce(i.run_at, now()) AS run_at, i.idem AS idempotency_key,
               coalesce(i.subject, '') AS subject, i.tenant_id
          FROM unnest(p_msps, p_kinds, p_payloads, p_priorities, p_run_ats, p_idempotency_keys, p_subjects, v_tenants)
               WITH ORDINALITY AS i(msp, kind, payload, priority, run_at, idem, subject, tenant_id, ord)
    ), inserted AS (
        INSERT INTO onboarder.jobs AS j (kind, msp_id, tenant_id, subject, payload, priority, run_at, idempotency_key)
        SELECT i.kind, i.msp_id, i.tenant_id, i.subject, i.payload, i.priority, i.run_at, i.idempotency_key
          FROM input i ORDER BY i.ordinal
        ON CONFLICT DO NOTHING
        RETURNING j.id, j.tenant_id, j.kind, j.subject, j.idempotency_key, j.state
    ), events AS (
        INSERT INTO onboarder.events (job_id, kind, actor) SELECT n.id, 'enqueued', v_actor FROM inserted n
    ), matched AS (
        -- Equality joins only (hash joins and index lookups): a 100,000-row enqueue stays linear.
        SELECT i.ordinal, i.msp_id, i.tenant_id, i.kind, i.subject, i.idempotency_key,
               coalesce(by_key.id, by_tenant.id) AS job_id, coalesce(by_key.state, by_tenant.state) AS state
          FROM input i
          LEFT JOIN inserted by_key ON by_key.idempotency_key = i.idempotency_key
          LEFT JOIN inserted by_tenant
                 ON i.idempotency_key IS NULL
                AND by_tenant.tenant_id = i.tenant_id AND by_tenant.kind = i.kind AND by_tenant.subject = i.subject
    )
    SELECT r.ordinal, r.job_id, r.inserted AND row_number() OVER (PARTITION BY r.job_id ORDER BY r.ordinal) = 1,
           r.state
      FROM (
        SELECT m.ordinal, m.job_id, true AS inserted, m.state FROM matched m WHERE m.job_id IS NOT NULL
        UNION ALL
        -- Rows not inserted: the job that was there before (same key, or active for the tenant and kind).
        -- Never another MSP's job for a login held to its MSPs (the check above; this covers a job that
        -- took the key since).
        SELECT m.ordinal, coalesce(old_by_key.id, old_active.id), false, coalesce(old_by_key.state, old_active.state)
          FROM matched m
          LEFT JOIN onboarder.jobs old_by_key
                 ON old_by_key.idempotency_key = m.idempotency_key AND (v_every_msp OR old_by_key.msp_id = m.msp_id)
          LEFT JOIN onboarder.jobs old_active
                 ON old_active.tenant_id = m.tenant_id AND old_active.kind = m.kind AND old_active.subject = m.subject
                AND old_active.state IN ('queued', 'running', 'waiting', 'needs_attention')
         WHERE m.job_id IS NULL
      ) r
     ORDER BY r.ordinal;

    -- A bulk enqueue that grows the table a lot leaves the planner with stale (or, on a new install, no)
    -- statistics until autovacuum gets to it, and the claim's plan was measured ten times slower then.
    -- Refresh them here; small enqueues leave it to autovacuum.
    IF cardinality(p_msps) >= 1000 AND cardinality(p_msps) > 0.2 * greatest(
           (SELECT c.reltuples FROM pg_catalog.pg_class c WHERE c.oid = 'onboarder.jobs'::pg_catalog.regclass), 0) THEN
        ANALYZE onboarder.jobs;
        ANALYZE onboarder.tenants;
    END IF;
    PERFORM pg_notify('onboarder_jobs', '');
END $$;

-- One job, for any SQL client: SELECT * FROM onboarder.enqueue('acme', 'contoso.onmicrosoft.com', 'onboard', '{…}');
-- The checks are enqueue_many's (this runs as the caller and calls it).
CREATE FUNCTION onboarder.enqueue(
    p_msp text, p_tenant_key text, p_kind text, p_payload jsonb DEFAULT '{}', p_priority integer DEFAULT 0,
    p_run_at timestamptz DEFAULT now(), p_idempotency_key text DEFAULT NULL, p_subject text DEFAULT '',
    p_actor text DEFAULT NULL
) RETURNS TABLE (job_id bigint, created boolean, state text)
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT e.job_id, e.created, e.state
      FROM onboarder.enqueue_many(ARRAY[p_msp], ARRAY[p_tenant_key], ARRAY[p_kind], ARRAY[p_payload],
                                  ARRAY[p_priority], ARRAY[p_run_at], ARRAY[p_idempotency_key], ARRAY[p_subject],
                                  p_actor) e
$$;

-- MARK: operator actions (what `onboarder retry|resume|cancel|cert add|secret export` call)
--
-- SECURITY DEFINER, for operators (who may not write the tables) and workers. A job or customer that does
-- not exist and one of an MSP the login may not act for raise the same error (P0002, "no job N" / "no
-- customer N"), so ids of other MSPs' rows tell nothing. A job in a state the action does not apply to
-- gives NULL. Every action's event records the actor (p_actor, default the login) beside the login.

DROP FUNCTION onboarder.retry_job(bigint, text);
DROP FUNCTION onboarder.cancel_job(bigint, text);
DROP FUNCTION onboarder.wake_tenant(bigint, text);

-- Wakes the tenant's jobs that wait for operator input: they run now instead of at their next check.
-- The checks are its callers'; granted to nobody.
CREATE FUNCTION onboarder.wake_input_waiters(p_tenant bigint, p_why text, p_actor text) RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n integer;
BEGIN
    WITH woken AS (
        UPDATE onboarder.jobs SET run_at = now(), updated_at = now()
         WHERE tenant_id = p_tenant AND state = 'waiting' AND wait_reason = 'input'
        RETURNING id
    ), logged AS (
        INSERT INTO onboarder.events (job_id, kind, actor, detail)
        SELECT id, 'woken', p_actor, jsonb_build_object('why', p_why) FROM woken
    )
    SELECT count(*) INTO n FROM woken;
    IF n > 0 THEN PERFORM pg_notify('onboarder_jobs', ''); END IF;
    RETURN n;
END $$;

-- The job / customer an operator action names, if the login may act for its MSP. A missing id and another
-- MSP's id raise the same P0002, so an operator learns nothing of other MSPs' ids. Called only by the
-- actions below (which run with the owner's rights), never granted.
CREATE FUNCTION onboarder.require_job(p_job bigint) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM onboarder.jobs j WHERE j.id = p_job AND onboarder.may_act_for(j.msp_id)) THEN
        RAISE EXCEPTION 'no job %', p_job USING ERRCODE = 'no_data_found';
    END IF;
END $$;

CREATE FUNCTION onboarder.require_tenant(p_tenant bigint) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM onboarder.tenants t WHERE t.id = p_tenant AND onboarder.may_act_for(t.msp_id)) THEN
        RAISE EXCEPTION 'no customer %', p_tenant USING ERRCODE = 'no_data_found';
    END IF;
END $$;

-- Puts a job that stopped (needs_attention, failed, cancelled) or waits back in the queue now. Steps
-- already done stay done; the failure counts of the others start again. NULL when the job is running or
-- succeeded, or another job of its tenant, kind and subject is active (a NOTICE says so).
CREATE FUNCTION onboarder.retry_job(p_job bigint, p_actor text DEFAULT NULL) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    result text;
BEGIN
    PERFORM onboarder.require_job(p_job);
    UPDATE onboarder.jobs j
       SET state = 'queued', wait_reason = NULL, run_at = now(), attention = NULL, finished_at = NULL,
           updated_at = now()
     WHERE j.id = p_job AND j.state IN ('needs_attention', 'failed', 'cancelled', 'waiting')
       AND NOT EXISTS (SELECT 1 FROM onboarder.jobs o
                        WHERE o.tenant_id = j.tenant_id AND o.kind = j.kind AND o.subject = j.subject AND o.id <> j.id
                          AND o.state IN ('queued', 'running', 'waiting', 'needs_attention'))
    RETURNING j.state INTO result;
    IF result IS NULL THEN
        RAISE NOTICE 'job % is not stopped or waiting, or its tenant has another active job of its kind', p_job;
        RETURN NULL;
    END IF;
    UPDATE onboarder.job_steps SET attempts = 0, state = 'pending' WHERE job_id = p_job AND state <> 'done';
    INSERT INTO onboarder.events (job_id, kind, actor) VALUES (p_job, 'retried', coalesce(p_actor, session_user));
    PERFORM pg_notify('onboarder_jobs', '');
    RETURN result;
END $$;

-- Runs a job that waits (for any reason: input, a retry's backoff, throttling) or needs attention now,
-- keeping its steps' counts (retry_job starts them again). NULL for a job in any other state.
CREATE FUNCTION onboarder.resume_job(p_job bigint, p_actor text DEFAULT NULL) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    result text;
BEGIN
    PERFORM onboarder.require_job(p_job);
    UPDATE onboarder.jobs j
       SET state = 'queued', wait_reason = NULL, run_at = now(), attention = NULL, updated_at = now()
     WHERE j.id = p_job AND j.state IN ('waiting', 'needs_attention')
    RETURNING j.state INTO result;
    IF result IS NULL THEN
        RETURN NULL;
    END IF;
    INSERT INTO onboarder.events (job_id, kind, actor) VALUES (p_job, 'resumed', coalesce(p_actor, session_user));
    PERFORM pg_notify('onboarder_jobs', '');
    RETURN result;
END $$;

-- Cancels a job that is not running; a running job is left to finish its step (cancel it again after).
CREATE FUNCTION onboarder.cancel_job(p_job bigint, p_actor text DEFAULT NULL) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    result text;
BEGIN
    PERFORM onboarder.require_job(p_job);
    UPDATE onboarder.jobs j
       SET state = 'cancelled', wait_reason = NULL, attention = NULL, finished_at = now(), updated_at = now()
     WHERE j.id = p_job AND j.state IN ('queued', 'waiting', 'needs_attention')
    RETURNING j.state INTO result;
    IF result IS NOT NULL THEN
        INSERT INTO onboarder.events (job_id, kind, actor) VALUES (p_job, 'cancelled', coalesce(p_actor, session_user));
    END IF;
    RETURN result;
END $$;

-- Wakes the tenant's jobs that wait for operator input (a DNS record was published by hand, say).
-- Returns how many.
CREATE FUNCTION onboarder.wake_tenant(p_tenant bigint, p_why text, p_actor text DEFAULT NULL) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM onboarder.require_tenant(p_tenant);
    RETURN onboarder.wake_input_waiters(p_tenant, p_why, coalesce(p_actor, session_user));
END $$;

-- Records the PBX's certificate for a customer (`onboarder cert add`: the CLI parsed it and computed the
-- SHA-1 thumbprint) and wakes the jobs waiting for it. recorded = false when that certificate was
-- recorded before (the jobs are woken all the same). Operators may not write credentials otherwise.
CREATE FUNCTION onboarder.supply_certificate(
    p_tenant bigint, p_thumbprint text, p_certificate_pem text, p_display_name text, p_expires_at timestamptz,
    p_actor text DEFAULT NULL
) RETURNS TABLE (recorded boolean, woken integer)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_actor text := coalesce(p_actor, session_user);
    v_thumbprint text := upper(p_thumbprint);
    v_recorded boolean;
    v_job bigint;
BEGIN
    PERFORM onboarder.require_tenant(p_tenant);
    IF v_thumbprint IS NULL OR v_thumbprint !~ '^[0-9A-F]{40}$' THEN
        RAISE EXCEPTION 'thumbprint: a SHA-1 thumbprint is 40 hexadecimal digits' USING ERRCODE = 'invalid_parameter_value';
    ELSIF p_certificate_pem IS NULL OR octet_length(p_certificate_pem) > 16384
          OR p_certificate_pem !~ '^\s*(-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----\s*)+$' THEN
        RAISE EXCEPTION 'certificate_pem: one or more PEM certificates (-----BEGIN CERTIFICATE-----), at most 16 KiB, nothing else'
              USING ERRCODE = 'invalid_parameter_value';
    ELSIF p_display_name IS NULL OR p_display_name = '' OR length(p_display_name) > 256
          OR p_display_name ~ '[\x01-\x1f\x7f]' THEN
        RAISE EXCEPTION 'display_name: 1 to 256 characters, no control characters' USING ERRCODE = 'invalid_parameter_value';
    ELSIF p_expires_at IS NOT NULL AND p_expires_at <= now() THEN
        RAISE EXCEPTION 'expires_at: the certificate has expired' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    WITH added AS (
        INSERT INTO onboarder.credentials (tenant_id, kind, source, state, thumbprint, display_name, certificate_pem,
                                           expires_at)
        VALUES (p_tenant, 'certificate', 'pbx', 'supplied', v_thumbprint, p_display_name, p_certificate_pem, p_expires_at)
        ON CONFLICT (tenant_id, thumbprint) WHERE kind = 'certificate' DO NOTHING
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM added) INTO v_recorded;
    SELECT max(j.id) INTO v_job FROM onboarder.jobs j WHERE j.tenant_id = p_tenant;
    INSERT INTO onboarder.events (job_id, kind, actor, detail)
    VALUES (v_job, 'certificate_supplied', v_actor,
            jsonb_build_object('tenant_id', p_tenant, 'thumbprint', v_thumbprint, 'recorded', v_recorded));
    RETURN QUERY SELECT v_recorded, onboarder.wake_input_waiters(p_tenant, 'certificate supplied', v_actor);
END $$;

-- Records that a client secret was handed to an operator (`onboarder secret export`, after it opened the
-- secret on a worker host: only workers hold the key, so only workers call this): exported_at, an event
-- with the key id (never the value) and who, and wakes the rotation waiting for the hand-over. Returns
-- the credential's job.
CREATE FUNCTION onboarder.record_secret_export(p_credential bigint, p_actor text) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_actor text := coalesce(p_actor, session_user);
    v_tenant bigint;
    v_msp text;
    v_job bigint;
    v_key uuid;
BEGIN
    SELECT c.tenant_id, t.msp_id, c.job_id, c.key_id INTO v_tenant, v_msp, v_job, v_key
      FROM onboarder.credentials c JOIN onboarder.tenants t ON t.id = c.tenant_id
     WHERE c.id = p_credential AND c.kind = 'password';
    IF NOT FOUND OR NOT onboarder.may_act_for(v_msp) THEN
        RAISE EXCEPTION 'no client secret %', p_credential USING ERRCODE = 'no_data_found';
    END IF;
    UPDATE onboarder.credentials SET exported_at = now(), updated_at = now() WHERE id = p_credential;
    INSERT INTO onboarder.events (job_id, kind, actor, detail)
    VALUES (v_job, 'secret_exported', v_actor, jsonb_build_object('key_id', v_key, 'credential_id', p_credential));
    PERFORM onboarder.wake_input_waiters(v_tenant, 'secret exported', v_actor);
    RETURN v_job;
END $$;

-- MARK: the queue's functions (0002, 0006): bodies unchanged, every name in them already qualified

ALTER FUNCTION onboarder.claim(text, integer, text[]) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION onboarder.finish(text, jsonb) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION onboarder.heartbeat(text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION onboarder.reap(interval) SET search_path = pg_catalog, pg_temp;

-- MARK: privileges

-- Nothing for anyone by default, then each role what it uses.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA onboarder, dashboard
    FROM PUBLIC, onboarder_worker, onboarder_enqueuer, onboarder_operator;
-- Functions this role creates later start without PUBLIC's EXECUTE too. Not per schema: PostgreSQL adds
-- per-schema defaults to the global ones and cannot take a global grant back per schema.
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;

-- Everyone who logs in: who am I acting for, and the row-level-security helpers the policies call.
GRANT EXECUTE ON FUNCTION onboarder.sees_all_msps(), onboarder.my_msps(), onboarder.acts_for_every_msp(),
                          onboarder.acting_msps(), onboarder.may_act_for(text)
   TO onboarder_worker, onboarder_enqueuer, onboarder_operator;
-- Enqueuers and workers: enqueue, and the checks it makes (for a dry run).
GRANT EXECUTE ON FUNCTION
      onboarder.enqueue_many(text[], text[], text[], jsonb[], integer[], timestamptz[], text[], text[], text),
      onboarder.enqueue(text, text, text, jsonb, integer, timestamptz, text, text, text),
      onboarder.onboarding_payload_problem(jsonb, text[], text[]), onboarder.pbx_host_allowed(text, text[]),
      onboarder.secret_reference_problem(text), onboarder.tenant_key_problem(text)
   TO onboarder_worker, onboarder_enqueuer;
-- Operators and workers: the operator actions.
GRANT EXECUTE ON FUNCTION
      onboarder.retry_job(bigint, text), onboarder.resume_job(bigint, text), onboarder.cancel_job(bigint, text),
      onboarder.wake_tenant(bigint, text, text),
      onboarder.supply_certificate(bigint, text, text, text, timestamptz, text)
   TO onboarder_worker, onboarder_operator;
-- Workers: the queue, and the secret hand-over (only they hold the key).
GRANT EXECUTE ON FUNCTION
      onboarder.claim(text, integer, text[]), onboarder.finish(text, jsonb), onboarder.heartbeat(text),
      onboarder.reap(interval), onboarder.record_secret_export(bigint, text)
   TO onboarder_worker;

-- Workers append events and read them; they may not rewrite history, nor write the login or time an
-- event records (db_user, at: the database's).
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON onboarder.events FROM onboarder_worker;
GRANT INSERT (job_id, kind, step, worker_id, detail, actor) ON onboarder.events TO onboarder_worker;
-- Who may act for which MSP, where each MSP's PBX secrets may go, its limits, and the migration ledger are
-- the owner's to set: a worker login (a leaked database password, without the key file) must not map a
-- staff login to other MSPs or widen an MSP's allowed PBX hosts. Workers only read them; MSPs first
-- mentioned by an enqueue are created by enqueue_many, with its owner's rights.
REVOKE INSERT, UPDATE, DELETE, TRUNCATE
    ON onboarder.operator_msps, onboarder.msps, onboarder.queue_limits, onboarder.schema_migrations
  FROM onboarder_worker;
-- Every claim locks the queue_limits row (SELECT … FOR UPDATE, which needs UPDATE on some column): the
-- worker may "update" the constant key column, never the limit.
GRANT UPDATE (singleton) ON onboarder.queue_limits TO onboarder_worker;
