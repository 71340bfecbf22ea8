import Foundation
import Postgres

/// What an offboarding's survey read in the customer's tenant, its DNS and its PBX, before anything is removed:
/// checkpointed as the `offboard-survey` step's output (in the facts), so every later step — after a crash too
/// — removes what was seen then, and a dry run prints it (`OffboardPlan`).
public struct OffboardSurvey: Codable, Sendable, Equatable {
    /// A password or certificate on the app, and whether Onboarder recorded it.
    public struct Credential: Codable, Sendable, Equatable {
        /// The password's key id, or the certificate's SHA-1 thumbprint.
        public var identifier: String
        public var displayName: String?
        public var recorded: Bool

        public init(identifier: String, displayName: String? = nil, recorded: Bool) {
            self.identifier = identifier
            self.displayName = displayName
            self.recorded = recorded
        }
    }

    /// An application registration found by the recorded object id or by Onboarder's unique name.
    public struct App: Codable, Sendable, Equatable {
        public var objectID: String
        public var appID: String
        public var displayName: String?
        /// The app the customer's integration recorded (another one with the unique name is listed too).
        public var recorded: Bool
        public var passwords: [Credential] = []
        public var certificates: [Credential] = []
        public var servicePrincipalID: String?
        /// The application roles granted to its service principal (their ids) and the delegated scopes.
        public var appRoleIDs: [String] = []
        public var delegatedScopes: [String] = []

        public init(objectID: String, appID: String, displayName: String?, recorded: Bool) {
            self.objectID = objectID
            self.appID = appID
            self.displayName = displayName
            self.recorded = recorded
        }
    }

    public struct User: Codable, Sendable, Equatable {
        public var id: String
        public var userPrincipalName: String

        public init(id: String, userPrincipalName: String) {
            self.id = id
            self.userPrincipalName = userPrincipalName
        }
    }

    /// The PBX's Microsoft 365 page (`Microsoft365Integration`) and Teams page (`Microsoft365TeamsIntegration`).
    public struct PBX: Codable, Sendable, Equatable {
        public var tenantID: String
        public var applicationID: String
        public var selectedUsers: [String]
        public var teamsEnabled: Bool
        public var sbcFQDN: String?

        public init(
            tenantID: String, applicationID: String, selectedUsers: [String], teamsEnabled: Bool, sbcFQDN: String?
        ) {
            self.tenantID = tenantID
            self.applicationID = applicationID
            self.selectedUsers = selectedUsers
            self.teamsEnabled = teamsEnabled
            self.sbcFQDN = sbcFQDN
        }
    }

    /// The SBC domain's verification TXT records, as the DNS provider lists them; `manual` when an operator
    /// publishes records (nothing to read through an API: the operator is told what to remove).
    public struct DNS: Codable, Sendable, Equatable {
        public var name: String
        public var zone: String
        public var manual: Bool
        public var values: [String]

        public init(name: String, zone: String, manual: Bool, values: [String]) {
            self.name = name
            self.zone = zone
            self.manual = manual
            self.values = values
        }
    }

    public var path: String
    public var keepDomain: Bool
    /// The customer's Entra tenant id, as recorded: a PBX whose integration names another tenant serves that
    /// one now, and is left alone (`OffboardPlan.servesCustomer`). nil in a survey checkpointed before it was kept.
    public var customerTenantID: String?
    /// A dry run: the survey is all the job does, and what it cannot read is reported, not stopped on.
    public var dryRun: Bool = false
    public var apps: [App] = []
    public var pbx: PBX?
    public var sbcDomain: String?
    /// The SBC domain as Entra has it (nil: not in the tenant).
    public var domainInTenant: Bool = false
    public var activationUser: User?
    public var dns: DNS?
    /// What could not be read (and so is not in the plan), in words.
    public var unread: [String] = []

    public init(path: String, keepDomain: Bool, dryRun: Bool = false) {
        self.path = path
        self.keepDomain = keepDomain
        self.dryRun = dryRun
    }
}

/// The integration an offboarding starts from, and its last step's records.
public enum Offboarding {
    /// What onboarding recorded of a customer: the offboarding's first facts.
    public struct Integration: Sendable {
        public var entraTenantID: String?
        public var appObjectID: String?
        public var appID: String?
        public var sbcFQDN: String?
        public var defaultDomain: String?
        public var path: String?
        public var offboardedAt: Date?
    }

    public static func integration(tenant: Int64, on executor: some PostgresExecutor) async throws -> Integration? {
        let rows = try await executor.query(
            """
            SELECT entra_tenant_id::text, app_object_id::text, app_id::text, sbc_fqdn, default_domain, path, offboarded_at
              FROM onboarder.integrations WHERE tenant_id = \(tenant)
            """)
        guard let row = rows.first else { return nil }
        let (tenantID, object, app, fqdn, defaultDomain, path, offboarded) = try row.decode(
            (String?, String?, String?, String?, String?, String?, Date?).self)
        return Integration(
            entraTenantID: tenantID, appObjectID: object, appID: app, sbcFQDN: fqdn, defaultDomain: defaultDomain,
            path: path, offboardedAt: offboarded)
    }

    /// The key ids (lowercased) and thumbprints of every credential Onboarder recorded for the customer, in
    /// any state: what the survey marks "recorded".
    public static func recordedCredentials(tenant: Int64, on executor: some PostgresExecutor) async throws -> Set<
        String
    > {
        let rows = try await executor.query(
            """
            SELECT coalesce(lower(key_id::text), thumbprint) FROM onboarder.credentials
             WHERE tenant_id = \(tenant) AND coalesce(key_id::text, thumbprint) IS NOT NULL
            """)
        return Set(try rows.map { try $0[0].decode(String.self) })
    }

    /// Every credential of the customer removed with its sealed value destroyed, the integration marked
    /// offboarded by `job` (`onboarder.record_offboarded`), and an event per credential; in the caller's
    /// transaction, with the step's checkpoint.
    public static func recordOffboarded(tenant: Int64, job: Int64, step: String, on executor: some PostgresExecutor)
        async throws -> Int
    {
        let rows = try await executor.query(
            "SELECT kind, identifier, previous_state FROM onboarder.record_offboarded(\(tenant), \(job))")
        for row in rows {
            let (kind, identifier, previous) = try row.decode((String, String?, String).self)
            try await OnboardingStore.event(
                job: job, kind: "credential_destroyed", step: step,
                detail: ["kind": kind, "identifier": identifier ?? "", "previous_state": previous], on: executor)
        }
        return rows.count
    }

    /// The survey a job checkpointed (`offboard-survey`), and the job's state: what `offboard --dry-run` prints.
    public static func survey(job: Int64, on executor: some PostgresExecutor) async throws -> (
        state: String, attention: String?, survey: OffboardSurvey?
    ) {
        let row = try await executor.query(
            """
            SELECT j.state, coalesce(j.attention, j.last_error),
                   (SELECT s.output::text FROM onboarder.job_steps s
                     WHERE s.job_id = j.id AND s.step = 'offboard-survey' AND s.state = 'done')
              FROM onboarder.jobs j WHERE j.id = \(job)
            """
        ).single()
        let (state, attention, output) = try row.decode((String, String?, String?).self)
        let facts = try output.map { try OnboardingStore.decoder.decode(OnboardingFacts.self, from: Data($0.utf8)) }
        return (state, attention, facts?.offboardSurvey)
    }
}

extension Offboarding {
    /// One customer an `enqueue_offboard` call took: its job, and whether the call created it (false: the
    /// offboarding of that kind already active for the customer).
    public struct Enqueued: Sendable, Equatable {
        public var ordinal: Int
        public var jobID: Int64
        public var tenantKey: String
        public var created: Bool
    }

    /// `onboarder.enqueue_offboard` for `keys` (customers of `msp`, or of any MSP the login acts for). A
    /// refused row raises (`row N: field: why`) and the call enqueues nothing.
    public static func enqueue(
        msp: String?, keys: [String], keepDomain: [Bool], dryRun: Bool, actor: String,
        on executor: some PostgresExecutor
    ) async throws -> [Enqueued] {
        try await executor.query(
            """
            SELECT ordinal, job_id, tenant_key, created
              FROM onboarder.enqueue_offboard(\(msp), \(keys), \(keepDomain), \(dryRun), \(actor))
            """
        ).map { row in
            let (ordinal, job, key, created) = try row.decode((Int, Int64, String, Bool).self)
            return Enqueued(ordinal: ordinal, jobID: job, tenantKey: key, created: created)
        }
    }
}
