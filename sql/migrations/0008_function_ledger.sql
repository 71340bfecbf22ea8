-- The functions and views now have their live definitions in sql/functions, applied by `onboarder migrate`
-- after the migrations whenever a file changes, and recorded in onboarder.schema_functions (created by the
-- migrator, like schema_migrations). The migrations that first defined them stay as they are (applied
-- files never change); the files restate what they left, so nothing is dropped here.
--
-- The ledger is the owner's, like schema_migrations (0007): workers read it and write nothing. On a
-- database migrated from scratch it was created before 0004's grant of every table to the workers; on
-- one migrated before it existed, after: the same privileges either way from here on.

REVOKE ALL ON onboarder.schema_functions FROM PUBLIC, onboarder_worker, onboarder_enqueuer, onboarder_operator;
GRANT SELECT ON onboarder.schema_functions TO onboarder_worker;
COMMENT ON TABLE onboarder.schema_functions IS
    'One row per sql/functions file as last applied, with its SHA-256 checksum; a changed file is applied again.';
