import Foundation
import Postgres
import TestSupport
import Testing

/// Every function in schemas onboarder and dashboard, as `migrate` must leave it (the migrations, then the
/// live definitions in sql/functions): whether it runs with its owner's rights (SECURITY DEFINER), and
/// which roles may EXECUTE it (PUBLIC included; the owner always may). A `CREATE OR REPLACE FUNCTION` that forgets `SECURITY DEFINER` or `SET search_path` (as
/// 0006 did), a new function, or a new grant fails `FunctionSecurityTests` until this table says so.
enum DeclaredFunctions {
    static let worker = "onboarder_worker"
    static let enqueuer = "onboarder_enqueuer"
    static let `operator` = "onboarder_operator"
    static let approver = "onboarder_approver"
    static let staff: Set<String> = [worker, enqueuer, `operator`]

    static let table: [String: (definer: Bool, execute: Set<String>)] = [
        // Who is acting, and the row-level-security helpers the policies call.
        "onboarder.acts_for_every_msp()": (true, staff),
        "onboarder.acting_msps()": (true, staff),
        "onboarder.may_act_for(text)": (true, staff),
        // (Approvers too: row-level security calls them as the reader of batches, jobs and customers.)
        "onboarder.sees_all_msps()": (false, staff.union([approver])),
        "onboarder.my_msps()": (false, staff.union([approver])),
        // Enqueue, and the checks it makes.
        "onboarder.enqueue_many(text[],text[],text[],jsonb[],integer[],timestamp with time zone[],text[],text[],text,uuid[],text,jsonb)":
            (true, [worker, enqueuer]),
        "onboarder.enqueue(text,text,text,jsonb,integer,timestamp with time zone,text,text,text,uuid)":
            (false, [worker, enqueuer]),
        "onboarder.onboarding_payload_problem(jsonb,text[],text[])": (false, [worker, enqueuer]),
        "onboarder.secret_reference_problem(text)": (false, [worker, enqueuer]),
        "onboarder.pbx_host_allowed(text,text[])": (false, [worker, enqueuer]),
        "onboarder.tenant_key_problem(text)": (false, [worker, enqueuer]),
        // One customer, one tenant: the MSPs' clouds, for enqueue's tenant-id lookups.
        "onboarder.msp_clouds(text[])": (true, [worker, enqueuer]),
        "onboarder.customers_of_other_msps(text[],uuid[])": (true, [worker, enqueuer]),
        // Customers by any of their names, by index (Tenants.matching): those who may read customers. The
        // one-name form (for SQL users) calls the many-name one, which checks the login's MSPs.
        "onboarder.customers_named_many(text[],text)": (true, [worker, `operator`]),
        "onboarder.customers_named(text,text)": (false, [worker, `operator`]),
        "onboarder.guid_or_null(text)": (false, [worker, `operator`]),
        // Operator actions.
        "onboarder.retry_job(bigint,text)": (true, [worker, `operator`]),
        "onboarder.resume_job(bigint,text)": (true, [worker, `operator`]),
        "onboarder.cancel_job(bigint,text)": (true, [worker, `operator`]),
        "onboarder.wake_tenant(bigint,text,text)": (true, [worker, `operator`]),
        "onboarder.supply_certificate(bigint,text,text,text,timestamp with time zone,text)": (
            true, [worker, `operator`]
        ),
        "onboarder.supply_certificates(bigint[],text[],text[],text[],timestamp with time zone[],text)": (
            true, [worker, `operator`]
        ),
        "onboarder.handover_done_many(bigint[],text)": (true, [worker, `operator`]),
        // The hand-over's steps: called by dashboard.handover_waiting, which its readers read as themselves.
        "onboarder.handover_steps()": (false, [worker, `operator`]),
        // (The one-customer form, for SQL users, calls the many-customer one.)
        "onboarder.handover_done(bigint,text)": (false, [worker, `operator`]),
        // Approval of large enqueues (84_approval.sql): approvers approve; they and operators cancel.
        "onboarder.approve_batch(bigint,text)": (true, [approver]),
        "onboarder.cancel_batch(bigint,text)": (true, [approver, `operator`]),
        // Offboarding (80_offboard.sql): operators enqueue it for their MSPs' customers; the worker's last step.
        "onboarder.enqueue_offboard(text,text[],boolean[],boolean,text)": (true, [worker, `operator`]),
        "onboarder.record_offboarded(bigint,bigint)": (false, [worker]),
        // Workers only.
        "onboarder.record_secret_exports(bigint[],text)": (true, [worker]),
        "onboarder.claim(text,integer,text[])": (false, [worker]),
        "onboarder.finish(text,jsonb)": (false, [worker]),
        "onboarder.heartbeat(text)": (false, [worker]),
        "onboarder.reap(interval,text)": (false, [worker]),
        // Writes per second per partner app (70_partner_rates.sql): the bucket is written only through it.
        "onboarder.take_partner_writes(text,integer,real,boolean,timestamp with time zone)": (true, [worker]),
        // The nightly drift audit (82_audit.sql): operators (`onboarder audit`) and workers; the scope helper
        // is called by enqueue_audits only.
        "onboarder.enqueue_audits(text,text,text)": (true, [worker, `operator`]),
        "onboarder.repair_drift(bigint[],text)": (true, [worker, `operator`]),
        "onboarder.audit_scope(text,text)": (false, []),
        "onboarder.drift_repairable(text)": (false, []),
        // Called only by other functions or as a trigger.
        "onboarder.wake_input_waiters(bigint[],text,text)": (false, []),
        "onboarder.require_job(bigint)": (false, []),
        "onboarder.require_tenant(bigint)": (false, []),
        "onboarder.require_batch(bigint)": (false, []),
        "onboarder.released_from_approval(text,bigint)": (false, []),
        "onboarder.events_append_only()": (false, []),
        "onboarder.partner_bucket(double precision,double precision,double precision,double precision,integer)": (
            false, []
        ),
    ]

    /// The one search_path every function pins: built-ins first (they cannot be shadowed), pg_temp last.
    static let searchPath = "search_path=pg_catalog, pg_temp"

    /// What differs between the database's functions and the table, one line per problem.
    static func audit(_ connection: PostgresConnection) async throws -> [String] {
        let rows = try await connection.query(
            """
            SELECT p.oid::regprocedure::text AS signature, p.prosecdef AS definer,
                   coalesce(p.proconfig, '{}') AS config, p.prosrc AS body,
                   ARRAY(SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee)::text END
                           FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) AS a
                          WHERE a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner) AS execute
              FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname IN ('onboarder', 'dashboard')
             ORDER BY 1
            """)
        let tables = try await connection.query(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'onboarder' AND c.relkind IN ('r', 'v', 'p')"
        ).map { try $0[0].decode(String.self) }
        var problems: [String] = []
        var seen: Set<String> = []
        for row in rows {
            let (signature, definer, config, body, execute) = try row.decode(
                (String, Bool, [String], String, [String]).self)
            seen.insert(signature)
            guard let declared = table[signature] else {
                problems.append("\(signature): not in DeclaredFunctions.table (declare who may execute it)")
                continue
            }
            if definer != declared.definer {
                problems.append("\(signature): SECURITY \(definer ? "DEFINER" : "INVOKER"), declared the other")
            }
            if !config.contains(searchPath) {
                problems.append("\(signature): no SET \(searchPath) (has \(config))")
            }
            if Set(execute) != declared.execute {
                problems.append("\(signature): EXECUTE for \(execute.sorted()), declared \(declared.execute.sorted())")
            }
            // A relation of the onboarder schema named without it would be looked up in pg_temp: the
            // caller's own table of that name.
            for name in tables {
                let unqualified = try Regex("(?i)\\b(from|join|into|update|table)\\s+(only\\s+)?\(name)\\b")
                if body.contains(unqualified) {
                    problems.append("\(signature): names \(name) without its schema (onboarder.\(name))")
                }
            }
        }
        for signature in table.keys where !seen.contains(signature) {
            problems.append("\(signature): declared, but not in the database")
        }
        return problems.sorted()
    }
}

@Suite("Every function's declared security")
struct FunctionSecurityTests {
    @Test func everyFunctionIsPinnedAndGrantedAsDeclared() async throws {
        let (owner, name) = try await TestDatabase.makeMigratedScratchDatabase("funcsec")
        let connection = try await PostgresConnection.connect(owner)
        let problems = try await DeclaredFunctions.audit(connection)
        #expect(problems == [], "\(problems.joined(separator: "\n"))")
        await connection.close()
        try await TestDatabase.dropScratchDatabase(name)
    }

    /// A later migration's new function starts without PUBLIC's EXECUTE (the owner's default privileges),
    /// and the audit names it until it is declared.
    @Test func aFunctionAddedLaterIsNotPublicAndIsCaught() async throws {
        let (owner, name) = try await TestDatabase.makeMigratedScratchDatabase("funclater")
        let connection = try await PostgresConnection.connect(owner)
        try await connection.executeScript(
            unsafeSQL: """
                CREATE FUNCTION onboarder.added_later() RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) FROM onboarder.jobs $$;
                """)
        let problems = try await DeclaredFunctions.audit(connection)
        #expect(problems == ["onboarder.added_later(): not in DeclaredFunctions.table (declare who may execute it)"])
        let publicGrants = try await connection.query(
            """
            SELECT count(*)::int FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) AS a
             WHERE p.oid = 'onboarder.added_later()'::regprocedure AND a.grantee = 0
            """
        ).single()[0].decode(Int.self)
        #expect(publicGrants == 0, "PUBLIC may execute a function added later")
        await connection.close()
        try await TestDatabase.dropScratchDatabase(name)
    }

    /// The audit's own checks, on a function that breaks each rule.
    @Test func theAuditNamesWhatIsWrong() async throws {
        let (owner, name) = try await TestDatabase.makeMigratedScratchDatabase("funcaudit")
        let connection = try await PostgresConnection.connect(owner)
        // As 0006 did to enqueue_many: CREATE OR REPLACE without restating the attributes.
        try await connection.executeScript(
            unsafeSQL: """
                SET check_function_bodies = off;
                CREATE OR REPLACE FUNCTION onboarder.may_act_for(p_msp text) RETURNS boolean LANGUAGE sql STABLE
                AS $$ SELECT EXISTS (SELECT 1 FROM operator_msps o WHERE o.msp_id = p_msp) $$;
                GRANT EXECUTE ON FUNCTION onboarder.pbx_host_allowed(text, text[]) TO PUBLIC;
                """)
        let problems = try await DeclaredFunctions.audit(connection)
        #expect(
            problems == [
                "onboarder.may_act_for(text): SECURITY INVOKER, declared the other",
                "onboarder.may_act_for(text): names operator_msps without its schema (onboarder.operator_msps)",
                "onboarder.may_act_for(text): no SET search_path=pg_catalog, pg_temp (has [])",
                "onboarder.pbx_host_allowed(text,text[]): EXECUTE for [\"PUBLIC\", \"onboarder_enqueuer\", \"onboarder_worker\"], declared [\"onboarder_enqueuer\", \"onboarder_worker\"]",
            ], "\(problems.joined(separator: "\n"))")
        await connection.close()
        try await TestDatabase.dropScratchDatabase(name)
    }
}
