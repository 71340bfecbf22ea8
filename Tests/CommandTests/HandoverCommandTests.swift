import Foundation
import Postgres
import Store
import TestSupport
import Testing

@testable import onboarder

@Suite("onboarder handover sheet / done, as built, under the real roles", .serialized)
struct HandoverCommandTests {
    /// The sheet as JSON: one object per waiting job.
    static func sheet(_ output: String) throws -> [[String: Any]] {
        try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [[String: Any]], "\(output)")
    }

    /// The `secret_exported` events: actor, login, key id and credential id (never a value).
    static func exports(_ lab: CommandLab) async throws -> [String] {
        try await lab.strings(
            """
            SELECT e.actor || ' ' || e.db_user || ' ' || (e.detail->>'key_id') FROM onboarder.events e
             WHERE e.kind = 'secret_exported' ORDER BY e.id
            """)
    }

    @Test func theSheetShowsEachSecretOnceRecordsEveryShowingAndAgainOnlyWhenAsked() async throws {
        let lab = try await CommandLab("sheet")
        let service = lab.workerURL.userName

        let first = try await lab.onboarder(
            ["handover", "sheet", "--format", "json", "--actor", "tech.lead"], as: .worker)
        #expect(first.status == 0, "\(first.output)")
        let rows = try Self.sheet(first.output)
        #expect(
            rows.map { $0["customer"] as? String } == ["a.example", "b.example", "c.example", "d.example", "z.example"])
        for row in rows { #expect(Set(row.keys) == Set(HandoverSheet.columns), "\(row)") }
        func field(_ customer: String, _ key: String) -> Any? {
            rows.first { $0["customer"] as? String == customer }?[key]
        }
        // The onboarding: the customer's current secret; the secret rotation: its new, pending one (not the
        // old); the certificate rotation: none (the PBX keeps its secret); shown before: not again.
        #expect(field("a.example", "secret") as? String == CommandLab.secrets["a"])
        #expect(field("a.example", "secret_key_id") as? String == CommandLab.keyID("a"))
        #expect(field("b.example", "secret") as? String == CommandLab.secrets["b-new"])
        #expect(field("b.example", "secret_key_id") as? String == CommandLab.keyID("b-new"))
        #expect(field("c.example", "secret") is NSNull && field("c.example", "secret_key_id") is NSNull)
        #expect(field("d.example", "secret") is NSNull)
        #expect(field("d.example", "secret_shown_before") as? Bool == true)
        #expect(field("a.example", "secret_shown_before") as? Bool == false)
        #expect(field("z.example", "secret") as? String == CommandLab.secrets["z"])
        #expect(field("a.example", "job_id") as? Int != nil)
        #expect(field("a.example", "tenant_id") as? String != nil && field("a.example", "application_id") is String)
        #expect(field("a.example", "pbx_url") as? String == "https://pbx.example/pbx/a")
        #expect(field("a.example", "certificate_needed") as? Bool == true)
        #expect(
            field("a.example", "step") as? String == "verify"
                && field("b.example", "kind") as? String == "rotate-secret")
        #expect((field("a.example", "todo") as? String)?.contains("onboarder handover done a.example") == true)
        #expect(field("a.example", "waiting_since") as? String != nil)

        // Every secret shown was recorded before the sheet was printed: who, which login, which key id.
        let recorded = try await Self.exports(lab)
        #expect(
            recorded == [
                "tech.lead \(service) \(CommandLab.keyID("a"))", "tech.lead \(service) \(CommandLab.keyID("b-new"))",
                "tech.lead \(service) \(CommandLab.keyID("z"))",
            ])
        // Never a value in the audit trail.
        let history = try await lab.strings(
            "SELECT coalesce(string_agg(format('%s', e), ' '), '') FROM onboarder.events e")
        for secret in CommandLab.secrets.values { #expect(!history[0].contains(secret), "\(secret) in the events") }
        // The rotation waiting for its hand-over was woken; the others too (the secret is with the technician).
        let due = try await lab.strings(
            """
            SELECT t.tenant_key FROM onboarder.jobs j JOIN onboarder.tenants t ON t.id = j.tenant_id
             WHERE j.run_at <= now() AND j.state = 'waiting' ORDER BY 1
            """)
        #expect(due == ["a.example", "b.example", "z.example"])

        // A second sheet shows none of them again and records nothing.
        let second = try Self.sheet(
            try await lab.onboarder(["handover", "sheet", "--format", "json"], as: .worker).output)
        #expect(second.allSatisfy { $0["secret"] is NSNull })
        #expect(
            second.map { $0["secret_shown_before"] as? Bool } == [true, true, false, true, true])
        #expect(try await Self.exports(lab).count == 3)

        // --again shows them (one MSP's here) and records each showing again. CSV: a header, RFC 4180.
        let again = try await lab.onboarder(
            ["handover", "sheet", "--again", "--msp", "msp1", "--format", "csv", "--actor", "tech.lead"], as: .worker)
        #expect(again.status == 0, "\(again.output)")
        let lines = again.output.components(separatedBy: "\r\n").filter { !$0.isEmpty }
        #expect(lines.first == HandoverSheet.columns.joined(separator: ","))
        let cells = lines.dropFirst().map(CertificateFolderPlan.csvFields)
        let secretColumn = HandoverSheet.columns.firstIndex(of: "secret")!
        #expect(cells.map { $0.count } == [14, 14, 14, 14])
        #expect(
            cells.map { $0[secretColumn] } == [
                CommandLab.secrets["a"]!, CommandLab.secrets["b-new"]!, "", CommandLab.secrets["d"]!,
            ])
        #expect(try await Self.exports(lab).count == 6)
        #expect(try await Self.exports(lab).last == "tech.lead \(service) \(CommandLab.keyID("d"))")

        // Text, for a terminal: what came from outside is escaped.
        try await lab.pool.query(
            """
            UPDATE onboarder.jobs SET last_error = \("verify: \u{1B}]0;owned\u{07}\u{1B}[2J TestSubscription failed")
             WHERE tenant_id = (SELECT id FROM onboarder.tenants WHERE tenant_key = 'a.example')
            """)
        let text = try await lab.onboarder(["handover", "sheet"], as: .worker)
        #expect(text.status == 0)
        #expect(text.output.contains("Hand-over sheet: 5 customer(s)"), "\(text.output)")
        #expect(text.output.contains("(shown before; --again)"))
        #expect(!text.output.contains("\u{1B}") && text.output.contains("\\u{1B}]0;owned"), "\(text.output)")
        #expect(try await Self.exports(lab).count == 6)

        // Nobody waiting: said so, exit 0.
        let empty = try await lab.onboarder(["handover", "sheet", "--msp", "nobody"], as: .worker)
        #expect(empty.status == 0 && empty.output.contains("No customer waits for its technician"), "\(empty.output)")
        let emptyJSON = try await lab.onboarder(
            ["handover", "sheet", "--msp", "nobody", "--format", "json"], as: .worker)
        // The array on standard output (empty), the words on standard error.
        #expect(emptyJSON.status == 0 && emptyJSON.output.contains("[]\n"), "\(emptyJSON.output)")
        #expect(emptyJSON.output.contains("no customer waits for its technician"))

        // An operator's login cannot read the sealed secrets: the sheet fails and records nothing.
        let refused = try await lab.onboarder(["handover", "sheet", "--again"], as: .operator)
        #expect(refused.status == 1 && refused.output.contains("permission denied"), "\(refused.output)")
        for secret in CommandLab.secrets.values { #expect(!refused.output.contains(secret)) }
        #expect(try await Self.exports(lab).count == 6)
        try await lab.close()
    }

    /// The sheet's secrets, read in one statement for every waiting job (`CredentialRecords.handedOver`): a
    /// secret rotation's new, pending secret; an onboarding's current one (the pending before the active);
    /// none for a certificate rotation.
    @Test func theSheetsSecretsAreEachJobsOwn() async throws {
        let lab = try await CommandLab("handedover")
        let waiting = try await Handover.waiting(msp: nil, on: lab.pool)
        let secrets = try await CredentialRecords.handedOver(for: waiting, on: lab.pool)
        let byCustomer = Dictionary(
            uniqueKeysWithValues: waiting.compactMap { job in secrets[job.jobID].map { (job.customer, $0.keyID) } })
        #expect(
            byCustomer == [
                "a.example": CommandLab.keyID("a"), "b.example": CommandLab.keyID("b-new"),
                "d.example": CommandLab.keyID("d"), "z.example": CommandLab.keyID("z"),
            ])
        #expect(waiting.map(\.customer).contains("c.example"), "the certificate rotation waits, with no secret")
        #expect(secrets.values.filter(\.exported).map(\.keyID) == [CommandLab.keyID("d")])
        #expect(try await CredentialRecords.handedOver(for: [], on: lab.pool).isEmpty)
        try await lab.close()
    }

    @Test func doneWakesTheCustomersWaitingJobsAndSaysWhenThereIsNone() async throws {
        let lab = try await CommandLab("done")
        let operatorLogin = lab.operatorURL.userName
        let done = try await lab.onboarder(["handover", "done", "b.example", "--actor", "tech.tom"], as: .operator)
        #expect(done.status == 0, "\(done.output)")
        #expect(done.output.contains("handover done for b.example: 1 waiting job(s) resumed"), "\(done.output)")
        let events = try await lab.strings(
            """
            SELECT t.tenant_key || ' ' || e.kind || ' ' || e.step || ' ' || e.actor || ' ' || e.db_user
              FROM onboarder.events e JOIN onboarder.jobs j ON j.id = e.job_id JOIN onboarder.tenants t ON t.id = j.tenant_id
             WHERE e.kind = 'handover_done'
            """)
        #expect(events == ["b.example handover_done rotate-handover tech.tom \(operatorLogin)"])
        let due = try await lab.strings(
            "SELECT t.tenant_key FROM onboarder.jobs j JOIN onboarder.tenants t ON t.id = j.tenant_id WHERE j.run_at <= now() AND j.state = 'waiting'"
        )
        #expect(due == ["b.example"])
        // Queued, not waiting: 4. Unknown, and another MSP's customer (the operator cannot see it): 3.
        let none = try await lab.onboarder(["handover", "done", "e.example"], as: .operator)
        #expect(none.status == 4 && none.output.contains("nothing of e.example waits"), "\(none.output)")
        for customer in ["nobody.example", "z.example"] {
            let unknown = try await lab.onboarder(["handover", "done", customer], as: .operator)
            #expect(unknown.status == 3 && unknown.output.contains("no customer \(customer)"), "\(unknown.output)")
        }
        #expect(
            try await lab.strings("SELECT count(*)::text FROM onboarder.events WHERE kind = 'handover_done'") == ["1"])
        try await lab.close()
    }

    /// Each customer gets its own line and exit status, and all of them are looked up in one statement and
    /// recorded in another (a technician's round names hundreds).
    @Test func doneTakesManyCustomersInOneCallEachOnItsOwn() async throws {
        let lab = try await CommandLab("done-many")
        try await TestDatabase.countFunctionCalls(database: lab.name)
        // a and c wait at their hand-over; nobody is unknown; e's job is queued, not waiting.
        let done = try await lab.onboarder(
            ["handover", "done", "a.example", "nobody.example", "e.example", "c.example"], as: .operator)
        #expect(done.status == 3, "\(done.output)")
        for line in [
            "handover done for a.example: 1 waiting job(s) resumed", "no customer nobody.example is known",
            "nothing of e.example waits", "handover done for c.example: 1 waiting job(s) resumed",
        ] {
            #expect(done.output.contains(line), "\(done.output)")
        }
        #expect(
            try await lab.strings(
                """
                SELECT t.tenant_key FROM onboarder.events e JOIN onboarder.jobs j ON j.id = e.job_id
                  JOIN onboarder.tenants t ON t.id = j.tenant_id WHERE e.kind = 'handover_done' ORDER BY 1
                """) == ["a.example", "c.example"])
        let functions = [
            "onboarder.customers_named_many", "onboarder.handover_done_many", "onboarder.customers_named",
            "onboarder.handover_done",
        ]
        #expect(
            try await TestDatabase.functionCalls(functions, on: lab.pool)
                == ["onboarder.customers_named_many": 1, "onboarder.handover_done_many": 1])
        // Without an unknown customer, nothing waiting is the worst: 4.
        let again = try await lab.onboarder(["handover", "done", "e.example", "d.example"], as: .operator)
        #expect(again.status == 4, "\(again.output)")
        #expect(again.output.contains("handover done for d.example: 1 waiting job(s) resumed"), "\(again.output)")
        try await lab.close()
    }
}
