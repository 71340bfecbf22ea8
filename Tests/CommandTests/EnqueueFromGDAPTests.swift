import Foundation
import Pipeline
import Postgres
import Simulator
import Store
import TestSupport
import Testing

/// `onboarder gdap export` (the service login, which may use the partner app) and `onboarder enqueue
/// --from-gdap` (the MSP's enqueuer login, which may not), as the built binary against the simulator and a
/// scratch database: only the qualifying customers are enqueued, every other one is named with its reason,
/// a dry run writes nothing, a second run reports the jobs that exist.
@Suite("onboarder enqueue --from-gdap", .serialized)
struct EnqueueFromGDAPTests {
    static let cloudApps = "158c047a-c907-4556-b7ef-446551a6b5f7"

    /// Eight customers of the default MSP, listed two to a page: three qualify.
    static func world() throws -> World {
        var description = WorldDescription(
            seed: 2101,
            tenants: [
                ("alpha", "Alpha Ltd", nil),
                ("bravo", "Bravo GmbH", WorldDescription.GDAP(status: "expired", end: "2026-06-01T00:00:00Z")),
                ("charlie", "Charlie Inc", WorldDescription.GDAP(roles: [cloudApps])),
                ("delta", "Delta SA", WorldDescription.GDAP(status: "terminated", end: "2026-05-01T00:00:00Z")),
                ("echo", "Echo BV", WorldDescription.GDAP(status: "none")),
                ("foxtrot", "Foxtrot AB", nil), ("golf", "Golf Oy", nil),
                ("hotel", "Hotel AS", WorldDescription.GDAP(end: "2025-11-30T00:00:00Z")),
            ].map { (label: String, name: String, gdap: WorldDescription.GDAP?) in
                var tenant = WorldDescription.Tenant(domain: "\(label).onmicrosoft.com", displayName: name)
                tenant.gdap = gdap
                return tenant
            })
        description.gdapPageSize = 2
        return try World(description)
    }

    struct Lab {
        let simulator: Simulator
        let base: String
        let owner: PostgresConfiguration
        let name: String
        let pool: PostgresPool
        let workerURL: String
        let enqueuerURL: String
        let directory: URL
        let keyFile: String

        static func start(_ label: String, world: World? = nil) async throws -> Lab {
            let simulator = try Simulator(world: world ?? EnqueueFromGDAPTests.world())
            let base = try simulator.start()
            let (owner, name) = try await TestDatabase.makeMigratedScratchDatabase(label)
            let worker = try await TestDatabase.login(.worker, database: name, owner: owner).connectionString!
            let enqueuer = try await TestDatabase.login(.enqueuer, msps: ["acme"], database: name, owner: owner)
                .connectionString!
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
                "gdap-\(label)-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let keyFile = directory.appendingPathComponent("keys").path
            let key = Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
            _ = FileManager.default.createFile(
                atPath: keyFile, contents: Data("k1 \(key)\n".utf8), attributes: [.posixPermissions: 0o600])
            return Lab(
                simulator: simulator, base: base, owner: owner, name: name,
                pool: PostgresPool(configuration: owner, maxConnections: 2), workerURL: worker, enqueuerURL: enqueuer,
                directory: directory, keyFile: keyFile)
        }

        func onboarder(_ arguments: [String], as login: StaffRole) async throws -> (status: Int32, output: String) {
            let world = simulator.world
            return try await runCommand(
                [builtProductsDirectory.appendingPathComponent("onboarder").path] + arguments,
                environment: [
                    "ONBOARDER_DATABASE_URL": login == .worker ? workerURL : enqueuerURL,
                    "ONBOARDER_SECRETS_KEY_FILE": keyFile, "ONBOARDER_LOG_LEVEL": "critical", "ONBOARDER_CONFIG": "",
                    "ONBOARDER_MICROSOFT_LOGIN_BASE_URL": base, "ONBOARDER_MICROSOFT_GRAPH_BASE_URL": "\(base)/v1.0",
                    "ONBOARDER_PARTNER_TENANT_ID": world.partnerTenant.id.uuidString.lowercased(),
                    "ONBOARDER_PARTNER_CLIENT_ID": world.partnerApp.appID.uuidString.lowercased(),
                    "ONBOARDER_PARTNER_CLIENT_SECRET": world.partnerSecret,
                ])
        }

        func tenantID(_ label: String) -> String {
            simulator.world.customers.first { $0.defaultDomain.hasPrefix(label + ".") }!.id.uuidString.lowercased()
        }

        func enqueuedTenants() async throws -> [String] {
            try await pool.query(
                "SELECT t.tenant_key FROM onboarder.jobs j JOIN onboarder.tenants t ON t.id = j.tenant_id ORDER BY 1"
            ).map { try $0[0].decode(String.self) }
        }

        func stop() async throws {
            await pool.close()
            await simulator.stop()
            try await TestDatabase.dropScratchDatabase(name)
            try? FileManager.default.removeItem(at: directory)
        }
    }

    static let templates = [
        "--pbx-url", "https://{label}.pbx.example.com", "--pbx-client-id", "onboarder", "--pbx-secret",
        "env:PBX_SECRET_{LABEL}",
    ]

    @Test func exportThenEnqueueOnlyTheQualifyingOnesNamingTheSkipped() async throws {
        let lab = try await Lab.start("gdap_e2e")
        let snapshot = lab.directory.appendingPathComponent("acme-gdap.json").path

        let export = try await lab.onboarder(["gdap", "export", "--msp", "acme", "-o", snapshot], as: .worker)
        #expect(export.status == 0, "\(export.output)")
        #expect(export.output.contains("7 relationship(s)"), "\(export.output)")
        // Two to a page: every page was read (6 customers in 3 pages, 7 relationships in 4).
        #expect(lab.simulator.requestCounts["GET tenantRelationships"] == 7)

        let arguments = ["enqueue", "--from-gdap", snapshot, "--msp", "acme"] + Self.templates
        let dry = try await lab.onboarder(arguments + ["--dry-run"], as: .enqueuer)
        #expect(dry.status == 0, "\(dry.output)")
        for label in ["alpha", "foxtrot", "golf"] {
            #expect(dry.output.contains("would enqueue: \(label.capitalized)"), "\(label): \(dry.output)")
        }
        let reasons = [
            "bravo": "GDAP relationship expired (ended 2026-06-01T00:00:00Z)",
            "charlie":
                "GDAP relationship lacks the role Privileged Role Administrator (e8611ab8-c189-46e8-94e1-60213ab1f814)",
            "delta": "no active GDAP relationship (terminated)",
            "hotel": "GDAP relationship expired (ended 2025-11-30T00:00:00Z)",
        ]
        for (label, reason) in reasons {
            #expect(dry.output.contains("skipped: \(label.capitalized)"), "\(label): \(dry.output)")
            #expect(dry.output.contains("(\(lab.tenantID(label))): \(reason)"), "\(label): \(dry.output)")
        }
        #expect(!dry.output.contains("Echo"), "no relationship at all: not the MSP's GDAP customer")
        #expect(dry.output.contains("dry run: 3 customer(s) would be enqueued, 4 skipped"), "\(dry.output)")
        #expect(try await lab.enqueuedTenants().isEmpty, "a dry run writes nothing")

        // A run from GDAP is always held for approval (exit 3), with its plan printed and stored.
        let first = try await lab.onboarder(arguments, as: .enqueuer)
        #expect(first.status == 3, "\(first.output)")
        #expect(first.output.contains("3 enqueued, 4 skipped"), "\(first.output)")
        #expect(try await lab.enqueuedTenants() == ["alpha", "foxtrot", "golf"].map(lab.tenantID).sorted())
        let batch = try await lab.pool.query(
            "SELECT id, reason, jsonb_array_length(plan -> 'customers') FROM onboarder.batches"
        ).single().decode((Int64, String, Int).self)
        #expect(batch.1 == "gdap" && batch.2 == 3)
        #expect(first.output.contains("plan: 3 customer(s) of MSP acme (3 teams)"), "\(first.output)")
        #expect(first.output.contains("redirect URI https://foxtrot-ab.pbx.example.com/api/microsoft365/callback"))
        #expect(first.output.contains("held as batch \(batch.0): 3 job(s) wait until onboarder approve \(batch.0)"))
        let held = try await lab.pool.query(
            "SELECT DISTINCT state || ' ' || wait_reason FROM onboarder.jobs WHERE batch_id = \(batch.0)"
        ).map { try $0[0].decode(String.self) }
        #expect(held == ["waiting approval"])
        let payload = try await lab.pool.query(
            """
            SELECT j.payload->>'pbx_url' FROM onboarder.jobs j JOIN onboarder.tenants t ON t.id = j.tenant_id
             WHERE t.tenant_key = \(lab.tenantID("foxtrot"))
            """
        ).single().decode(String.self)
        #expect(payload == "https://foxtrot-ab.pbx.example.com")

        let second = try await lab.onboarder(arguments, as: .enqueuer)
        #expect(second.status == 0, "\(second.output)")
        #expect(second.output.contains("0 enqueued, 3 already had an active onboarding, 4 skipped"), "\(second.output)")
        #expect(second.output.contains("Golf Oy (\(lab.tenantID("golf"))): already active: job"), "\(second.output)")
        #expect(try await lab.enqueuedTenants().count == 3)

        // The filter: only Alpha is looked at; the others are named as filtered out.
        let filtered = try await lab.onboarder(arguments + ["--dry-run", "--filter", "ALPH*"], as: .enqueuer)
        #expect(filtered.output.contains("dry run: 1 customer(s) would be enqueued, 6 skipped"), "\(filtered.output)")
        #expect(filtered.output.contains("skipped: Golf Oy (\(lab.tenantID("golf"))): filtered out"))
        try await lab.stop()
    }

    /// A GDAP customer that is already another MSP's (one customer, one tenant) is named and left out; the
    /// others are enqueued, instead of the database refusing the whole run.
    @Test func anotherMSPsCustomerIsNamedAndLeftOut() async throws {
        let lab = try await Lab.start("gdap_other")
        let snapshot = lab.directory.appendingPathComponent("acme-gdap.json").path
        let export = try await lab.onboarder(["gdap", "export", "--msp", "acme", "-o", snapshot], as: .worker)
        #expect(export.status == 0, "\(export.output)")
        let owner = try await PostgresConnection.connect(lab.owner)
        try await owner.query("INSERT INTO onboarder.msps (id, display_name) VALUES ('globex', 'Globex')")
        try await owner.query(
            """
            INSERT INTO onboarder.tenants (msp_id, tenant_key, entra_tenant_id)
            VALUES ('globex', 'foxtrot.example', \(lab.tenantID("foxtrot"))::uuid)
            """)
        await owner.close()
        let run = try await lab.onboarder(
            ["enqueue", "--from-gdap", snapshot, "--msp", "acme"] + Self.templates, as: .enqueuer)
        #expect(run.status == 3, "\(run.output)")
        #expect(
            run.output.contains("skipped: Foxtrot AB (\(lab.tenantID("foxtrot"))): already a customer of MSP globex"),
            "\(run.output)")
        #expect(run.output.contains("2 enqueued, 5 skipped"), "\(run.output)")
        #expect(try await lab.enqueuedTenants() == ["alpha", "golf"].map(lab.tenantID).sorted())
        try await lab.stop()
    }

    /// The enqueuer cannot use the partner app (it cannot read the MSPs' sealed credentials), so it reads no
    /// partner tenant itself; the service login can, live.
    @Test func onlyTheServiceLoginReadsThePartnerTenant() async throws {
        let lab = try await Lab.start("gdap_live")
        let live = ["enqueue", "--from-gdap", "--msp", "acme", "--dry-run"] + Self.templates
        let refused = try await lab.onboarder(live, as: .enqueuer)
        #expect(refused.status == 1, "\(refused.output)")
        #expect(
            refused.output.contains("run onboarder gdap export --msp acme as the service login"), "\(refused.output)")
        #expect(lab.simulator.requestCounts["GET tenantRelationships"] == nil)
        let worker = try await lab.onboarder(live, as: .worker)
        #expect(worker.status == 0, "\(worker.output)")
        #expect(worker.output.contains("dry run: 3 customer(s) would be enqueued, 4 skipped"), "\(worker.output)")
        try await lab.stop()
    }

    /// An MSP with a partner app of its own (`onboarder.msps` / `msp_secrets`, sealed under the key file):
    /// its own partner tenant is read with its own app, and lists its customers only.
    @Test func anMSPsOwnPartnerAppReadsItsOwnPartnerTenant() async throws {
        var description = WorldDescription(
            seed: 2102,
            tenants: [
                WorldDescription.Tenant(domain: "kilo.onmicrosoft.com", displayName: "Kilo"),
                WorldDescription.Tenant(domain: "lima.onmicrosoft.com", displayName: "Lima"),
                WorldDescription.Tenant(domain: "mike.onmicrosoft.com", displayName: "Mike"),
            ], partners: [WorldDescription.Partner(msp: "acme", displayName: "Acme IT")])
        description.tenants[1].partner = "acme"
        description.tenants[2].partner = "acme"
        description.tenants[2].gdap = WorldDescription.GDAP(status: "expired", end: "2026-02-01T00:00:00Z")
        let lab = try await Lab.start("gdap_own", world: World(description))
        let acme = try #require(lab.simulator.world.partner(msp: "acme"))
        let vault = try SecretVault.load(file: lab.keyFile, inline: "")
        let sealed = try vault.seal(
            acme.secret, context: MSPProfile.sealingContext(column: "partner_secret", msp: "acme"))
        try await lab.pool.query(
            """
            UPDATE onboarder.msps SET partner_tenant_id = \(acme.tenant.id.uuidString.lowercased())::uuid,
                   partner_client_id = \(acme.app.appID.uuidString.lowercased())::uuid WHERE id = 'acme'
            """)
        try await lab.pool.query(
            "INSERT INTO onboarder.msp_secrets (msp_id, partner_secret_sealed) VALUES ('acme', \(sealed))")

        let snapshot = lab.directory.appendingPathComponent("acme-gdap.json").path
        let export = try await lab.onboarder(["gdap", "export", "--msp", "acme", "-o", snapshot], as: .worker)
        #expect(export.status == 0, "\(export.output)")
        #expect(export.output.contains("in the partner tenant \(acme.tenant.id.uuidString.lowercased()) of acme"))
        let run = try await lab.onboarder(
            ["enqueue", "--from-gdap", snapshot, "--msp", "acme"] + Self.templates, as: .enqueuer)
        #expect(run.status == 3, "\(run.output)")
        #expect(run.output.contains("1 enqueued, 1 skipped"), "\(run.output)")
        #expect(run.output.contains("skipped: Mike (\(lab.tenantID("mike"))): GDAP relationship expired"))
        #expect(!run.output.contains("Kilo"), "the default MSP's customer is not in acme's partner tenant")
        #expect(try await lab.enqueuedTenants() == [lab.tenantID("lima")])
        try await lab.stop()
    }

    @Test func aPartnerAppWithoutThePermissionIsToldWhichOneItNeeds() async throws {
        let lab = try await Lab.start("gdap_403")
        lab.simulator.withWorld { world in world.partnerTenant.servicePrincipals[world.partnerApp.appID] = [] }
        let export = try await lab.onboarder(["gdap", "export", "--msp", "acme"], as: .worker)
        #expect(export.status == 1, "\(export.output)")
        #expect(export.output.contains("DelegatedAdminRelationship.Read.All"), "\(export.output)")
        try await lab.stop()
    }
}
