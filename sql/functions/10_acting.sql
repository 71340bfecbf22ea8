-- Who is acting, and the row-level-security helpers the policies call (see sql/functions/README.md for
-- how these files are applied). Inside a SECURITY DEFINER function current_user is the owner, so "who is
-- acting" is decided on session_user, the login; row-level security runs as the querying role and keeps
-- deciding on current_user (sees_all_msps, my_msps).

-- True when the session's login acts for every MSP: the tables' owner (or a member of it; a superuser is
-- a member of every role) or a member of onboarder_worker.
-- PL/pgSQL, as the two below: a SQL function's statement is parsed and planned again at every call (0.5–2 ms
-- each, measured for issue 23, and operator commands call them per customer); PL/pgSQL keeps its plans for the
-- session. The statements are the same.
CREATE OR REPLACE FUNCTION onboarder.acts_for_every_msp() RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN (SELECT pg_catalog.pg_has_role(session_user, c.relowner, 'MEMBER')
                   OR EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
                               WHERE r.rolname = 'onboarder_worker'
                                 AND pg_catalog.pg_has_role(session_user, r.oid, 'MEMBER'))
              FROM pg_catalog.pg_class c
             WHERE c.oid = 'onboarder.jobs'::pg_catalog.regclass);
END $$;

-- The MSPs the session's login acts for: every MSP for the owner and workers, else those mapped to it
-- (or to a role it is a member of).
CREATE OR REPLACE FUNCTION onboarder.acting_msps() RETURNS SETOF text
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN QUERY
    SELECT m.id FROM onboarder.msps m WHERE onboarder.acts_for_every_msp()
    UNION
    SELECT o.msp_id FROM onboarder.operator_msps o JOIN pg_catalog.pg_roles r ON r.rolname = o.role_name
     WHERE pg_catalog.pg_has_role(session_user, r.oid, 'MEMBER');
END $$;

-- Whether the session's login may act for p_msp. For the owner and workers also an MSP that does not
-- exist yet (enqueue creates it); for anyone else only a mapped, hence existing, MSP.
CREATE OR REPLACE FUNCTION onboarder.may_act_for(p_msp text) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN p_msp IS NOT NULL
           AND (onboarder.acts_for_every_msp()
                OR EXISTS (SELECT 1 FROM onboarder.operator_msps o JOIN pg_catalog.pg_roles r ON r.rolname = o.role_name
                            WHERE o.msp_id = p_msp AND pg_catalog.pg_has_role(session_user, r.oid, 'MEMBER')));
END $$;

-- The policies' helpers run as the querying role (current_user), as 0004 wrote them, but can no longer
-- be pointed at the caller's objects. The policies test what sees_all_msps() says inline (0019: a SQL
-- function is parsed and planned again in every statement that calls it); it stays for SQL users, with the
-- same test (which raises, as the policies do, where the role onboarder_worker does not exist). my_msps()
-- is PL/pgSQL for the same reason: every operator's statement under the policies calls it, and PL/pgSQL
-- keeps its plan for the session (issue 23; BENCHMARKS.md, the operators' statement time).
CREATE OR REPLACE FUNCTION onboarder.sees_all_msps() RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.pg_has_role(current_user, 'onboarder_worker', 'MEMBER')
$$;

CREATE OR REPLACE FUNCTION onboarder.my_msps() RETURNS SETOF text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN QUERY
    SELECT o.msp_id FROM onboarder.operator_msps o JOIN pg_catalog.pg_roles r ON r.rolname = o.role_name
     WHERE pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER');
END $$;

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


-- Everyone who logs in: who am I acting for, and the helpers the policies call. The trigger function is
-- granted to nobody (triggers run without EXECUTE).
REVOKE ALL ON FUNCTION onboarder.acts_for_every_msp(), onboarder.acting_msps(), onboarder.may_act_for(text),
                       onboarder.sees_all_msps(), onboarder.my_msps(), onboarder.events_append_only()
  FROM PUBLIC, onboarder_worker, onboarder_enqueuer, onboarder_operator;
GRANT EXECUTE ON FUNCTION onboarder.sees_all_msps(), onboarder.my_msps(), onboarder.acts_for_every_msp(),
                          onboarder.acting_msps(), onboarder.may_act_for(text)
   TO onboarder_worker, onboarder_enqueuer, onboarder_operator;
