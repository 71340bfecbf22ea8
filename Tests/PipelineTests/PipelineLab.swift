import Crypto
import Foundation
import Graph
import HTTP
import Pipeline
import Postgres
import Queue
import Simulator
import Synchronization
import TestSupport
import Testing

/// The simulator (in this process, over real loopback HTTP), a migrated scratch database, an encryption
/// key file, and `onboarder worker` processes configured against both.
final class PipelineLab: @unchecked Sendable {
    let simulator: Simulator
    let base: String
    let databaseName: String
    /// The owner's URL: the lab sets up and inspects through it (`pool`).
    let databaseURL: String
    let pool: PostgresPool
    /// Logins as a real installation gives them: the workers', and MSP msp1's operator and enqueuer.
    let workerURL: String
    let operatorURL: String
    let enqueuerURL: String
    /// A member of onboarder_approver for msp1 (another login than the enqueuer: it may approve its batches).
    let approverURL: String
    let directory: URL
    let keyFile: String
    let credentialsFile: String
    let journal: String
    let http = HTTPClient()
    var workerLogs: [String] = []
    /// What `waitFor` has the PBX's technician do for jobs waiting at the hand-over (parts can be switched off).
    var technician = Technician.everything
    /// The (job, step) pairs the technician has played, so each wait is played once.
    var playedHandovers = Set<String>()
    /// The secret last entered in each customer's PBX (by domain): `secretInPBX`.
    let pastedSecrets = Mutex<[String: String]>([:])
    static let sbcParent = "sbc.msp.example"

    init(_ label: String, world: WorldDescription) async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "pipeline-\(label)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        journal = directory.appendingPathComponent("journal.jsonl").path
        simulator = try Simulator(world: World(world), journal: journal)
        base = try simulator.start()
        let (configuration, name) = try await TestDatabase.makeMigratedScratchDatabase(label)
        databaseName = name
        databaseURL = configuration.connectionString!
        pool = PostgresPool(configuration: configuration, maxConnections: 4)
        workerURL = try await TestDatabase.login(.worker, database: name, owner: configuration).connectionString!
        operatorURL = try await TestDatabase.login(.operator, msps: ["msp1"], database: name, owner: configuration)
            .connectionString!
        enqueuerURL = try await TestDatabase.login(.enqueuer, msps: ["msp1"], database: name, owner: configuration)
            .connectionString!
        approverURL = try await TestDatabase.login(.approver, msps: ["msp1"], database: name, owner: configuration)
            .connectionString!
        keyFile = directory.appendingPathComponent("keys").path
        let key = Data(try SecureRandom.bytes(32)).base64EncodedString()
        FileManager.default.createFile(
            atPath: keyFile, contents: Data("k1 \(key)\n".utf8), attributes: [.posixPermissions: 0o600])
        // The PBXs' API secrets in a folder of their own: the only folder enqueue rows may name
        // (secrets.reference_dirs), apart from the key file beside it.
        let secretsFolder = directory.appendingPathComponent("pbx-secrets")
        try FileManager.default.createDirectory(at: secretsFolder, withIntermediateDirectories: true)
        credentialsFile = secretsFolder.appendingPathComponent("pbx.json").path
        let pbxes = Dictionary(
            uniqueKeysWithValues: simulator.world.pbxes.values.map { ($0.name, ["client_secret": $0.clientSecret]) })
        FileManager.default.createFile(
            atPath: credentialsFile, contents: try JSONSerialization.data(withJSONObject: ["pbx": pbxes]))
    }

    /// A world of named customers: `(domain, consent, sku)`, users alice, bob, carol (alice licensed,
    /// carol without a usage location) unless given.
    static func world(
        _ tenants: [(String, WorldDescription.Consent, WorldDescription.Sku)], days: [String: Int] = [:],
        forbidPasswords: Set<String> = []
    ) -> WorldDescription {
        WorldDescription(
            seed: 11,
            tenants: tenants.map { domain, consent, sku in
                WorldDescription.Tenant(
                    domain: domain, consent: consent, sku: sku, maxPasswordLifetimeDays: days[domain],
                    users: ["alice", "bob", "carol"], forbidPasswords: forbidPasswords.contains(domain) ? true : nil)
            })
    }

    var vault: SecretVault { get throws { try SecretVault.load(file: keyFile, inline: "") } }

    func tenant(_ domain: String) -> SimTenant { simulator.world.tenant(domain)! }

    func pbxName(_ domain: String) -> String {
        simulator.world.pbxes.values.first { $0.tenantID == tenant(domain).id }!.name
    }

    /// Enqueues an onboarding of `domain` through the SQL function any client can call.
    @discardableResult
    func enqueue(_ domain: String, path: String, users: [String]? = nil, pbxSecret: String? = nil) async throws -> Int64
    {
        let pbx = pbxName(domain)
        var payload = OnboardingPayload(
            path: path, displayName: domain, pbxURL: "\(base)/pbx/\(pbx)", pbxClientID: "onboarder",
            pbxSecret: pbxSecret ?? "json:\(credentialsFile)#pbx.\(pbx).client_secret")
        payload.users = users
        let json = try PostgresJSON(encoding: payload)
        return try await pool.query(
            "SELECT job_id FROM onboarder.enqueue('msp1', \(tenant(domain).id.uuidString.lowercased()), 'onboard', \(json))"
        ).single().decode(Int64.self, column: "job_id")
    }

    func environment(_ extra: [String: String] = [:]) -> [String: String] {
        var environment = [
            "ONBOARDER_DATABASE_URL": workerURL,
            "ONBOARDER_WORKER_POLL_INTERVAL_MS": "200",
            "ONBOARDER_WORKER_HEARTBEAT_INTERVAL_MS": "200",
            "ONBOARDER_WORKER_LEASE_SECONDS": "2",
            "ONBOARDER_WORKER_REAP_INTERVAL_SECONDS": "1",
            "ONBOARDER_WORKER_SHUTDOWN_DEADLINE_SECONDS": "5",
            "ONBOARDER_RETRY_BASE_DELAY_MS": "100",
            "ONBOARDER_RETRY_MAX_DELAY_SECONDS": "1",
            "ONBOARDER_RETRY_MAX_ATTEMPTS": "40",
            "ONBOARDER_LOG_FORMAT": "json",
            "ONBOARDER_LOG_LEVEL": "debug",
            "ONBOARDER_MICROSOFT_LOGIN_BASE_URL": base,
            "ONBOARDER_MICROSOFT_GRAPH_BASE_URL": "\(base)/v1.0",
            "ONBOARDER_PARTNER_CLIENT_ID": simulator.world.partnerApp.appID.uuidString.lowercased(),
            "ONBOARDER_PARTNER_CLIENT_SECRET": simulator.world.partnerSecret,
            "ONBOARDER_SECRETS_KEY_FILE": keyFile,
            "ONBOARDER_ONBOARDING_SBC_PARENT_DOMAIN": Self.sbcParent,
            "ONBOARDER_DNS_PROVIDER": "cloudflare",
            "ONBOARDER_DNS_BASE_URL": "\(base)/client/v4",
            "ONBOARDER_DNS_API_TOKEN": "dns-test-token",
            "ONBOARDER_SECRETS_REFERENCE_DIRS": directory.appendingPathComponent("pbx-secrets").path,
            "ONBOARDER_PBX_ALLOW_LOOPBACK_HTTP": "true",
        ]
        environment.merge(extra) { $1 }
        return environment
    }

    func startWorker(_ id: String, concurrency: Int = 8, _ extra: [String: String] = [:]) throws -> ChildProcess {
        let log = directory.appendingPathComponent("worker-\(id).log").path
        workerLogs.append(log)
        return try ChildProcess(
            [
                builtProductsDirectory.appendingPathComponent("onboarder").path, "worker", "--id", id,
                "--concurrency", String(concurrency),
            ], environment: environment(extra), logPath: log)
    }

    /// Runs `onboarder ARGS` against this lab's database and configuration, logged in as the role the
    /// README gives whoever runs that command: MSP staff enqueue and operate, the deployment's service
    /// login rotates, exports and re-keys. A grant missing from that role fails the test.
    func onboarder(_ arguments: [String], as login: StaffRole? = nil) async throws -> (status: Int32, output: String) {
        let role = login ?? Self.role(of: arguments.first ?? "")
        let url =
            switch role {
            case .worker: workerURL
            case .operator: operatorURL
            case .enqueuer: enqueuerURL
            case .approver: approverURL
            }
        let result = try await runCommand(
            [builtProductsDirectory.appendingPathComponent("onboarder").path] + arguments,
            environment: environment(["ONBOARDER_DATABASE_URL": url]))
        return (result.status, result.output)
    }

    /// Which login runs a command (README, "Roles and isolation").
    static func role(of command: String) -> StaffRole {
        switch command {
        case "enqueue": .enqueuer
        case "status", "show", "scripts", "retry", "resume", "cancel", "cert", "handover": .operator
        // The customer's lifecycle: operators offboard, audit and handle batches; approvers approve.
        case "offboard", "audit", "batch": .operator
        case "approve": .approver
        default: .worker  // worker, rotate-secrets, secret, keys
        }
    }

    func state(_ job: Int64) async throws -> (state: String, error: String?, attention: String?) {
        let row = try await pool.query(
            "SELECT state, last_error, attention FROM onboarder.jobs WHERE id = \(job)"
        ).single()
        return try row.decode((String, String?, String?).self)
    }

    /// Polls until every job is in one of `states`, failing after `seconds` (a bound, not a measurement);
    /// meanwhile `technician` (the lab's, unless given) does the PBX's part for jobs waiting at the hand-over.
    func waitFor(
        _ jobs: [Int64],
        in states: Set<String> = ["succeeded", "succeeded_with_warnings", "needs_attention", "failed"],
        seconds: Double = 90, technician: Technician? = nil
    ) async throws {
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        while ContinuousClock.now < deadline {
            let rows = try await pool.query("SELECT state FROM onboarder.jobs WHERE id = ANY(\(jobs))")
            if try rows.allSatisfy({ states.contains(try $0[0].decode(String.self)) }) && rows.count == jobs.count {
                return
            }
            try await playTechnician(technician ?? self.technician)
            try await Task.sleep(for: .milliseconds(200))
        }
        Issue.record("timed out after \(seconds) s waiting for \(states.sorted()):\(try await report(jobs))")
        throw CancellationError()
    }

    /// What a timed-out wait says: each job's state, step, wait and last error; each worker's state and
    /// heartbeat; the last lines of each worker's log (a worker that stopped says why there).
    func report(_ jobs: [Int64]) async throws -> String {
        var report = ""
        for row in try await pool.query(
            """
            SELECT id, state, current_step, wait_reason, round(extract(epoch FROM run_at - now()))::bigint,
                   attempts, last_error
              FROM onboarder.jobs WHERE id = ANY(\(jobs)) ORDER BY id
            """)
        {
            let (id, state, step, wait, runIn, attempts, error) = try row.decode(
                (Int64, String, String?, String?, Int64, Int, String?).self)
            report +=
                "\n  job \(id): \(state) at \(step ?? "-") (wait \(wait ?? "-"), runs in \(runIn) s, attempt \(attempts)) \(error ?? "")"
        }
        let workers = try await pool.query(
            "SELECT id, state, extract(epoch FROM now() - heartbeat_at)::bigint FROM onboarder.workers ORDER BY id")
        for row in workers {
            let (id, state, age) = try row.decode((String, String, Int64).self)
            report += "\n  worker \(id): \(state), last heartbeat \(age) s ago"
        }
        for log in workerLogs {
            let lines = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").suffix(3)
            report += "\n  \((log as NSString).lastPathComponent):" + lines.map { "\n    \($0)" }.joined()
        }
        return report
    }

    /// The simulator's view of a tenant, read over HTTP like an operator would.
    func inspect(_ domain: String) async throws -> [String: Any] {
        let response = try await http.execute(HTTPRequest(url: "\(base)/_sim/tenants/\(domain)"))
        return try JSONSerialization.jsonObject(with: Data(response.body)) as! [String: Any]
    }

    func fix(_ domain: String, _ body: String) async throws {
        let response = try await http.execute(
            HTTPRequest(method: "PATCH", url: "\(base)/_sim/tenants/\(domain)", body: Array(body.utf8)))
        #expect(response.status == 200)
    }

    /// Asserts the end state of an onboarded tenant, in the simulator and in the database: exactly one app
    /// with the right redirect URI and permissions, one service principal, exactly the expected role
    /// assignments and grant, one password (the recorded one), the certificate, the PBX configured, and
    /// the path's follow-up done.
    func expectOnboarded(
        _ domain: String, path: String, users: [String]? = nil, sourceLocation: SourceLocation = #_sourceLocation
    )
        async throws
    {
        let state = try await inspect(domain)
        let tenantRow = try await pool.query(
            "SELECT id FROM onboarder.tenants WHERE tenant_key = \(tenant(domain).id.uuidString.lowercased())"
        ).single()
        let tenantID = try tenantRow[0].decode(Int64.self)
        let apps = state["applications"] as! [[String: Any]]
        #expect(apps.count == 1, "\(domain): \(apps.count) apps", sourceLocation: sourceLocation)
        guard let app = apps.first else { return }
        #expect(app["uniqueName"] as? String == "bvoip-msteams-integration", sourceLocation: sourceLocation)
        #expect(app["signInAudience"] as? String == "AzureADMyOrg", sourceLocation: sourceLocation)
        #expect(
            app["redirectUris"] as? [String] == ["\(base)/pbx/\(pbxName(domain))/api/microsoft365/callback"],
            sourceLocation: sourceLocation)
        let access =
            (app["requiredResourceAccess"] as? [[String: Any]])?.first?["resourceAccess"] as? [[String: Any]] ?? []
        let roleIDs = Set(
            [
                "User.Read.All", "User.ReadWrite.All", "Domain.ReadWrite.All", "Domain.Read.All", "Calendars.Read",
                "Mail.Send", "Contacts.Read",
            ].map { KnownGraphRoles.id($0) })
        #expect(
            Set(access.filter { $0["type"] as? String == "Role" }.compactMap { $0["id"] as? String }) == roleIDs,
            sourceLocation: sourceLocation)
        #expect(
            access.filter { $0["type"] as? String == "Scope" }.compactMap { $0["id"] as? String }
                == [KnownGraphRoles.userReadScope], sourceLocation: sourceLocation)
        let appID = app["appId"] as! String
        let principals = (state["servicePrincipals"] as! [[String: Any]]).filter { $0["appId"] as? String == appID }
        #expect(principals.count == 1, sourceLocation: sourceLocation)
        let principalID = principals.first?["id"] as? String
        let assignments = (state["appRoleAssignments"] as! [[String: Any]]).filter {
            $0["principalId"] as? String == principalID
        }
        #expect(
            assignments.count == roleIDs.count, "\(domain): \(assignments.count) role assignments",
            sourceLocation: sourceLocation)
        #expect(Set(assignments.compactMap { $0["appRoleId"] as? String }) == roleIDs, sourceLocation: sourceLocation)
        let grants = (state["oauth2PermissionGrants"] as! [[String: Any]]).filter {
            $0["clientId"] as? String == principalID
        }
        #expect(grants.count == 1 && grants.first?["scope"] as? String == "User.Read", sourceLocation: sourceLocation)
        // Exactly one password, and it is the one Onboarder recorded (sealed) for this tenant.
        let recorded = try await pool.query(
            """
            SELECT key_id::text FROM onboarder.credentials
             WHERE tenant_id = \(tenantID) AND kind = 'password' AND state = 'active'
            """
        ).map { try $0[0].decode(String.self) }
        #expect(
            app["passwordKeyIds"] as? [String] == recorded, "\(domain): passwords \(app["passwordKeyIds"] ?? "")",
            sourceLocation: sourceLocation)
        #expect(recorded.count == 1, sourceLocation: sourceLocation)
        let thumbprints = try await pool.query(
            """
            SELECT thumbprint FROM onboarder.credentials
             WHERE tenant_id = \(tenantID) AND kind = 'certificate' AND state = 'active'
            """
        ).map { try $0[0].decode(String.self) }
        #expect(app["certificateThumbprints"] as? [String] == thumbprints, sourceLocation: sourceLocation)
        #expect(thumbprints.count == 1, sourceLocation: sourceLocation)
        // The PBX itself holds what Onboarder recorded: the active secret, its own certificate, signed in.
        let held = try await pbxState(domain)
        #expect(
            (held["secret_key_id"] as? String)?.lowercased() == recorded.first?.lowercased(),
            "\(domain): the PBX holds secret \(held["secret_key_id"] ?? "none")", sourceLocation: sourceLocation)
        #expect(
            held["certificate_thumbprint"] as? String == thumbprints.first && held["signed_in"] as? Bool == true,
            "\(domain): the PBX's certificate or sign-in: \(held)", sourceLocation: sourceLocation)
        let pbx = state["pbx"] as! [String: Any]
        let m365 = pbx["microsoft365Integration"] as! [String: Any]
        #expect(
            m365["TenantId"] as? String == tenant(domain).id.uuidString.lowercased(), sourceLocation: sourceLocation)
        #expect(m365["ApplicationId"] as? String == appID, sourceLocation: sourceLocation)
        if path == "teams" {
            let fqdn = "\(domain.prefix { $0 != "." }).\(Self.sbcParent)"
            let domains = state["domains"] as! [[String: Any]]
            #expect(
                domains.first { $0["id"] as? String == fqdn }?["isVerified"] as? Bool == true,
                "\(fqdn) not verified", sourceLocation: sourceLocation)
            let activation = (state["users"] as! [[String: Any]]).filter {
                $0["userPrincipalName"] as? String == "teams-activation@\(fqdn)"
            }
            #expect(activation.count == 1, sourceLocation: sourceLocation)
            let licences = (activation.first?["skuIds"] as? [String]) ?? []
            #expect(licences.count == 1, "the activation user holds \(licences)", sourceLocation: sourceLocation)
            let teams = pbx["teamsIntegration"] as! [String: Any]
            #expect(
                teams["SbcFQDN"] as? String == fqdn && teams["Enabled"] as? Bool == true, sourceLocation: sourceLocation
            )
            let scripts = try await pool.query(
                "SELECT count(*) FROM onboarder.scripts WHERE tenant_id = \(tenantID)"
            ).single()[0].decode(Int.self)
            #expect(scripts == 2, sourceLocation: sourceLocation)
        } else {
            let selected = (m365["AdUsers"] as? [String: Any])?["SelectedUsers"] as? [String]
            #expect(
                selected == (users ?? ["alice@\(domain)"]), "\(domain): selected \(selected ?? [])",
                sourceLocation: sourceLocation)
        }
    }

    /// Every secret the run handled, in clear: the client secrets (opened from the database), the PBX
    /// secrets and the partner secret.
    func secretValues() async throws -> [String] {
        let vault = try self.vault
        var secrets = [simulator.world.partnerSecret] + simulator.world.pbxes.values.map(\.clientSecret)
        for row in try await pool.query(
            "SELECT tenant_id, kind, sealed FROM onboarder.credentials WHERE sealed IS NOT NULL")
        {
            let (tenant, kind, sealed) = try row.decode((Int64, String, String).self)
            secrets.append(try vault.open(sealed, context: SecretVault.context(kind: kind, tenantID: tenant)))
        }
        return secrets
    }

    /// Every row of every table of Onboarder's schema, as text.
    func databaseText() async throws -> String {
        let tables = try await pool.query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'onboarder' AND table_type = 'BASE TABLE'"
        ).map { try $0[0].decode(String.self) }
        var text = ""
        for table in tables {
            for row in try await pool.query(
                PostgresQuery(unsafeSQL: "SELECT to_jsonb(t)::text FROM onboarder.\(table) t"))
            {
                text += try row[0].decode(String.self) + "\n"
            }
        }
        return text
    }

    func close() async throws {
        http.shutdown()
        await simulator.stop()
        await pool.close()
        try await TestDatabase.dropScratchDatabase(databaseName)
    }
}

/// Published Graph permission ids (graph-permission-ids.json), for checking what the simulator holds.
enum KnownGraphRoles {
    static func id(_ name: String) -> String { Graph.KnownGraphPermissions.appRoles[name]! }
    static var userReadScope: String { Graph.KnownGraphPermissions.scopes["User.Read"]! }
}
