-- Foundation: the schemas the later migrations fill.
--
--   onboarder   tables the workers own: tenants, jobs, steps, events, encrypted secrets (and the
--               migration ledger onboarder.schema_migrations, which `onboarder migrate` creates itself
--               because it must exist before this file can be recorded)
--   dashboard   views for operators (psql, Grafana, Metabase), held to each MSP's rows by row-level security
--
-- Migration files must not contain BEGIN/COMMIT: `onboarder migrate` runs each in its own transaction.

CREATE SCHEMA IF NOT EXISTS onboarder;
CREATE SCHEMA IF NOT EXISTS dashboard;

COMMENT ON SCHEMA onboarder IS 'Onboarder''s own tables: written by workers and the onboarder CLI only.';
COMMENT ON SCHEMA dashboard IS 'Read-only views for operators; query these, not the onboarder schema.';
COMMENT ON TABLE onboarder.schema_migrations IS 'One row per applied sql/migrations file, with its SHA-256 checksum.';
