-- The database administrator's part, run once per PostgreSQL cluster by a superuser, before the first
-- `onboarder migrate` (running it again changes nothing):
--
--   psql -X -v ON_ERROR_STOP=1 -d postgres -f sql/bootstrap.sql
--   CREATE DATABASE onboarder OWNER onboarder_owner;
--
-- It creates the roles Onboarder's migrations grant to (roles belong to the cluster, not to a database):
--
--   onboarder_worker     group: the workers; act for every MSP
--   onboarder_enqueuer   group: MSP staff who enqueue onboardings for their MSPs
--   onboarder_operator   group: MSP staff who watch and act on their MSPs' jobs
--   onboarder_approver   group: MSP staff who approve large enqueues (`onboarder approve`) of their MSPs;
--                        never the login that enqueued the batch
--   onboarder_owner      login: owns the database and its tables, runs `onboarder migrate`. Not a superuser
--                        and without CREATEDB or CREATEROLE: in PostgreSQL 15 a CREATEROLE role may grant
--                        itself membership in any non-superuser role (pg_read_server_files,
--                        pg_execute_server_program, pg_write_server_files…), which is a superuser in all
--                        but name. Staff logins are therefore made by the administrator (below).
--   onboarder_svc        login: the workers' service account, a member of onboarder_worker
--
-- No passwords are set here: the administrator sets them (ALTER ROLE … PASSWORD) or uses another
-- authentication method in pg_hba.conf. Staff logins, then their MSPs (after the migrations):
--
--   CREATE ROLE alice_at_acme LOGIN IN ROLE onboarder_operator;      -- or onboarder_enqueuer, onboarder_approver
--   INSERT INTO onboarder.operator_msps (role_name, msp_id) VALUES ('alice_at_acme', 'acme');  -- as the owner

DO $$
DECLARE
    role text;
BEGIN
    -- Another session (a second test process, a second host's deploy) may be creating the same roles at
    -- this moment: the loser of that race gets duplicate_object or unique_violation and moves on.
    FOREACH role IN ARRAY ARRAY['onboarder_worker', 'onboarder_enqueuer', 'onboarder_operator', 'onboarder_approver'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = role) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', role);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;
            END;
        END IF;
    END LOOP;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'onboarder_owner') THEN
        BEGIN
            CREATE ROLE onboarder_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'onboarder_svc') THEN
        BEGIN
            CREATE ROLE onboarder_svc LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
    END IF;
    IF NOT pg_catalog.pg_has_role('onboarder_svc', 'onboarder_worker', 'MEMBER') THEN
        BEGIN
            GRANT onboarder_worker TO onboarder_svc;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
    END IF;
END $$;
