import ArgumentParser
import Foundation
import OnboarderConfig
import Pipeline
import Store

/// `onboarder enqueue --from-gdap`'s options.
struct GDAPEnqueueOptions: ParsableArguments {
    @Flag(help: "Enqueue the MSP's customers from its GDAP relationships (see the discussion).")
    var fromGDAP = false

    @Option(help: "With --from-gdap: the MSP whose customers are read.")
    var msp: String?

    @Option(help: "With --from-gdap: teams or m365.")
    var path = "teams"

    @Option(
        help:
            "With --from-gdap: only customers whose name or tenant id matches (a substring, or a glob with * ?); repeatable."
    )
    var filter: [String] = []

    @Option(help: "With --from-gdap: the PBX URL of every customer, a template ('https://{label}.pbx.example.com').")
    var pbxURL: String?

    @Option(help: "With --from-gdap: the PBX's XAPI client id, a template.")
    var pbxClientID: String?

    @Option(
        help: "With --from-gdap: where the PBX's XAPI secret is, a template ('file:/etc/onboarder/pbx/{msp}/{label}').")
    var pbxSecret: String?

    @Option(help: "With --from-gdap --path teams: the SBC domain, a template ('{label}').")
    var sbcDomain: String?

    @Option(
        help:
            "With --from-gdap: a CSV keyed by tenant_id with pbx_url, pbx_client_id, pbx_secret, sbc_domain, users, priority per customer (wins over the templates)."
    )
    var pbxTable: String?

    @Option(
        help:
            "With --from-gdap: a role definition id the relationship must hold (repeatable; replaces the default, Privileged Role Administrator)."
    )
    var requireRole: [String] = []
}

extension GDAPEnqueueOptions {
    /// The GDAP options given (without --from-gdap they would be silently ignored).
    var setOptions: [String] {
        var set: [String] = []
        if msp != nil { set.append("--msp") }
        if path != "teams" { set.append("--path") }
        if !filter.isEmpty { set.append("--filter") }
        if pbxURL != nil { set.append("--pbx-url") }
        if pbxClientID != nil { set.append("--pbx-client-id") }
        if pbxSecret != nil { set.append("--pbx-secret") }
        if sbcDomain != nil { set.append("--sbc-domain") }
        if pbxTable != nil { set.append("--pbx-table") }
        if !requireRole.isEmpty { set.append("--require-role") }
        return set
    }
}

extension EnqueueCommand {
    /// `--from-gdap`: read (or load) the MSP's GDAP lists, decide who qualifies (`GDAPSelection`), make their
    /// rows (`GDAPEnqueueRows`, through the enqueue file's checks), report the skipped, and enqueue as a
    /// file is enqueued.
    func runFromGDAP() async throws {
        let options = gdap
        guard let msp = options.msp, Validation.isMSPID(msp) else {
            throw CleanExit.message("--from-gdap needs --msp with the MSP's id", code: .validationFailure)
        }
        guard options.path == "teams" || options.path == "m365" else {
            throw CleanExit.message("--path: teams or m365, not \(options.path)", code: .validationFailure)
        }
        let templates = GDAPEnqueueRows.Templates(
            pbxURL: options.pbxURL, pbxClientID: options.pbxClientID, pbxSecret: options.pbxSecret,
            sbcDomain: options.sbcDomain)
        for (flag, template) in [
            ("--pbx-url", options.pbxURL), ("--pbx-client-id", options.pbxClientID),
            ("--pbx-secret", options.pbxSecret), ("--sbc-domain", options.sbcDomain),
        ] {
            if let template, let problem = GDAPEnqueueRows.templateProblem(template) {
                throw CleanExit.message("\(flag): \(problem)", code: .validationFailure)
            }
        }
        var requirements = GDAPSelection.defaultRequirements
        if !options.requireRole.isEmpty {
            guard let bad = options.requireRole.first(where: { UUID(uuidString: $0) == nil }) else {
                requirements = options.requireRole.map { GDAPSelection.Requirement(role: $0) }
                return try await fromGDAP(msp: msp, templates: templates, requirements: requirements)
            }
            throw CleanExit.message(
                "--require-role: \(bad) is not a role definition id (the role's template id, a GUID)",
                code: .validationFailure)
        }
        try await fromGDAP(msp: msp, templates: templates, requirements: requirements)
    }

    private func fromGDAP(
        msp: String, templates: GDAPEnqueueRows.Templates, requirements: [GDAPSelection.Requirement]
    ) async throws {
        let rules = try global.configuration().enqueueRules()
        var table: [String: [String: String]] = [:]
        if let path = gdap.pbxTable {
            let read = GDAPPBXTable.read(try Self.readInput(path, name: path), name: path)
            guard read.problems.isEmpty else {
                throw CleanExit.message(
                    "nothing enqueued: --pbx-table was rejected:\n" + read.problems.joined(separator: "\n"),
                    code: ExitCode(2))
            }
            table = read.rows
        }
        let now = Date()
        let snapshot: GDAPSnapshot
        if let file {
            let name = file == "-" ? "<stdin>" : file
            let data = try Self.readInput(file == "-" ? nil : file, name: name)
            do {
                snapshot = try JSONDecoder().decode(GDAPSnapshot.self, from: data)
            } catch {
                throw CleanExit.message(
                    "nothing enqueued: \(name) is not a snapshot from onboarder gdap export (\(error))",
                    code: ExitCode(2))
            }
            if let problem = snapshot.problem(msp: msp, now: now) {
                throw CleanExit.message("nothing enqueued: \(name): \(problem)", code: ExitCode(2))
            }
        } else {
            snapshot = try await GDAPReader.read(msp: msp, global: global)
        }
        let decisions = GDAPSelection.decide(
            customers: snapshot.customers, relationships: snapshot.relationships, filter: GDAPFilter(gdap.filter),
            requirements: requirements, now: now)
        let qualifying = decisions.compactMap { decision -> GDAPSelection.Customer? in
            if case .qualifies = decision.outcome { return decision.customer }
            return nil
        }
        let built = GDAPEnqueueRows.build(
            qualifying, msp: msp, path: gdap.path, templates: templates, table: table, rules: rules)
        func named(_ customer: GDAPSelection.Customer) -> String {
            customer.displayName.isEmpty ? customer.tenantID : "\(customer.displayName) (\(customer.tenantID))"
        }
        // Names come from the partner tenant (customers choose them): shown through the sanitiser.
        func say(_ line: String) { print(TerminalText.sanitized(line)) }
        var skipped = 0
        for decision in decisions {
            guard case .skipped(let reason) = decision.outcome else { continue }
            skipped += 1
            say("skipped: \(named(decision.customer)): \(reason)")
        }
        var problems = ""
        for problem in built.problems {
            problems += TerminalText.sanitized("rejected: \(named(problem.customer)): \(problem.reason)") + "\n"
        }
        FileHandle.standardError.write(Data(problems.utf8))
        let rejected = Set(built.problems.map(\.customer.tenantID)).count
        if rejected > 0 && !skipInvalid && !dryRun {
            throw CleanExit.message(
                "nothing enqueued: \(rejected) customer(s) rejected, \(built.rows.count) valid (fix the PBX fields, or --skip-invalid)",
                code: ExitCode(2))
        }
        if dryRun {
            for (customer, row) in built.rows { say("would enqueue: \(named(customer)) → \(row.payload.pbxURL)") }
            print(
                "dry run: \(built.rows.count) customer(s) would be enqueued, \(skipped) skipped, \(rejected) rejected; nothing written"
            )
            if rejected > 0 { throw ExitCode(2) }
            return
        }
        var othersSkipped = 0
        let outcome = try await withDatabase(global) { _, pool in
            // Another MSP's customers are named and left out here; enqueue_many would refuse the whole run.
            let others = try await CustomerIdentity.otherMSPs(
                msps: built.rows.map(\.row.msp), tenantIDs: built.rows.map(\.customer.tenantID), on: pool)
            for (index, other) in others.sorted(by: { $0.key < $1.key }) {
                say("skipped: \(named(built.rows[index].customer)): already a customer of MSP \(other)")
            }
            othersSkipped = others.count
            let rows = built.rows.enumerated().filter { others[$0.offset] == nil }.map(\.element.row)
            // Rows are keyed by tenant id (GDAP names customers by it): each is its own resolved id. A run
            // from GDAP is always held for approval: who qualifies is decided by relationships, not by a
            // file someone read.
            return try await enqueue(
                rows, tenantIDs: [:], name: "GDAP", configuration: try global.configuration(), hold: "gdap",
                pool: pool)
        }
        skipped += othersSkipped
        var summary = "\(outcome.created) enqueued"
        if !outcome.existing.isEmpty { summary += ", \(outcome.existing.count) already had an active onboarding" }
        summary += ", \(skipped) skipped"
        if rejected > 0 { summary += ", \(rejected) rejected" }
        for (line, job, state, _) in outcome.existing {
            say("\(named(qualifying[line - 1])): already active: job \(job) (\(state))")
        }
        print(summary)
        if rejected > 0 { throw ExitCode(2) }
        if outcome.batch != nil { throw ExitCode(Self.heldStatus) }
    }
}
