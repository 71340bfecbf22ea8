import Foundation
import Postgres

/// An operator's action on one job, as `onboarder retry|resume|cancel` call it.
public enum OperatorAction: String, Sendable, CaseIterable {
    /// Runs a stopped or waiting job again; its done steps stay done, the others' failure counts restart.
    case retry = "retry_job"
    /// Runs a waiting or stopped job now, keeping its counts.
    case resume = "resume_job"
    /// Cancels a job that is not running.
    case cancel = "cancel_job"
}

/// What became of an operator's action on a job.
public enum OperatorActionResult: Sendable, Equatable {
    /// Done: the job's state now.
    case done(state: String)
    /// The job is not in a state the action applies to (running or finished, say); nothing changed.
    case notApplicable
    /// No such job, or one of an MSP this login may not act for: the database answers both alike.
    case noSuchJob
}

/// The operator actions: the SECURITY DEFINER functions of `sql/functions/40_operator_actions.sql`, which
/// check that the login acts for the job's or customer's MSP and record `actor` in the event beside the
/// login. Each runs on the caller's executor, so it can join a transaction.
public enum OperatorActions {
    public static func perform(
        _ action: OperatorAction, job: Int64, actor: String?, on executor: some PostgresExecutor
    ) async throws -> OperatorActionResult {
        do {
            let state = try await executor.query(
                "SELECT onboarder.\(unsafeSQL: action.rawValue)(\(job), \(actor)) AS s"
            ).single().decode(String?.self, column: "s")
            return state.map { .done(state: $0) } ?? .notApplicable
        } catch let error as PostgresError where error.sqlState == "P0002" {
            return .noSuchJob
        }
    }

    /// Wakes the customer's jobs waiting for operator input (a DNS record was published by hand, say).
    /// Returns how many.
    public static func wake(
        tenant: Int64, why: String, actor: String?, on executor: some PostgresExecutor
    ) async throws -> Int {
        try await executor.query("SELECT onboarder.wake_tenant(\(tenant), \(why), \(actor)) AS n").single().decode(
            Int.self, column: "n")
    }

    /// A certificate for `supplyCertificates`.
    public struct SuppliedCertificate: Sendable {
        public let tenant: Int64
        public let thumbprint: String
        public let pem: String
        public let displayName: String
        public let expiresAt: Date

        public init(tenant: Int64, thumbprint: String, pem: String, displayName: String, expiresAt: Date) {
            (self.tenant, self.thumbprint, self.pem, self.displayName, self.expiresAt) =
                (tenant, thumbprint, pem, displayName, expiresAt)
        }
    }

    /// What `supplyCertificates` did with one certificate: recorded (false: recorded before) and the jobs it
    /// woke, or the database's refusal (a customer this login may not act for, a value out of bounds).
    public enum SupplyOutcome: Sendable, Equatable {
        case supplied(recorded: Bool, woken: Int)
        case refused(String)
    }

    /// Records many customers' PBX certificates in one call (`onboarder cert add --dir`), each on its own:
    /// one refused leaves the others recorded. Outcomes in the order of `certificates`.
    public static func supplyCertificates(
        _ certificates: [SuppliedCertificate], actor: String?, on executor: some PostgresExecutor
    ) async throws -> [SupplyOutcome] {
        guard !certificates.isEmpty else { return [] }
        let rows = try await executor.query(
            """
            SELECT ordinal, recorded, woken, refusal FROM onboarder.supply_certificates(
                \(certificates.map(\.tenant)), \(certificates.map(\.thumbprint)), \(certificates.map(\.pem)),
                \(certificates.map(\.displayName)), \(certificates.map(\.expiresAt))::timestamptz[], \(actor))
             ORDER BY ordinal
            """)
        return try rows.map { row in
            let (_, recorded, woken, refusal) = try row.decode((Int, Bool?, Int?, String?).self)
            if let refusal { return .refused(refusal) }
            return .supplied(recorded: recorded ?? false, woken: woken ?? 0)
        }
    }

    /// Records the PBX's certificate for a customer and wakes its job waiting for it. `recorded` is false
    /// when that certificate was recorded before; `woken` counts the jobs woken.
    public static func supplyCertificate(
        tenant: Int64, thumbprint: String, pem: String, displayName: String, expiresAt: Date, actor: String?,
        on executor: some PostgresExecutor
    ) async throws -> (recorded: Bool, woken: Int) {
        let row = try await executor.query(
            """
            SELECT recorded, woken FROM onboarder.supply_certificate(
                \(tenant), \(thumbprint), \(pem), \(displayName), \(expiresAt), \(actor))
            """
        ).single()
        return try row.decode((Bool, Int).self)
    }
}
