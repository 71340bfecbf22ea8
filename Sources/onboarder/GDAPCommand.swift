import ArgumentParser
import Foundation
import Graph
import HTTP
import OnboarderConfig
import Pipeline
import Postgres

/// `onboarder gdap export --msp X`: the MSP's GDAP customers and relationships, read in its partner tenant
/// with its partner app, as a snapshot file for `onboarder enqueue --from-gdap FILE`. Run where the partner
/// app's credential can be used (the service login on a worker host); it writes nothing to the database,
/// and the snapshot holds no secret — so the MSP's enqueuer login, which cannot use the partner app,
/// decides and enqueues from it.
struct GDAPCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gdap", abstract: "An MSP's customers as its GDAP relationships list them.",
        subcommands: [Export.self])

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the MSP's GDAP customers and relationships (a snapshot for enqueue --from-gdap FILE).",
            discussion: """
                Reads GET /tenantRelationships/delegatedAdminCustomers and …/delegatedAdminRelationships \
                (every page) in the MSP's partner tenant with its partner app, which needs the application \
                permission DelegatedAdminRelationship.Read.All consented there. The snapshot names tenant ids, \
                names, statuses, end dates and role ids; no secret. enqueue --from-gdap uses it for a day.
                """)

        @OptionGroup var global: GlobalOptions

        @Option(help: "The MSP whose partner tenant is read.")
        var msp: String

        @Option(name: .shortAndLong, help: "Write the snapshot to this file (default: standard output).")
        var output: String?

        func run() async throws {
            try await reportingErrors {
                guard Validation.isMSPID(msp) else {
                    throw CleanExit.message("--msp: \(msp) is not an MSP id", code: .validationFailure)
                }
                let snapshot = try await GDAPReader.read(msp: msp, global: global)
                let data = try snapshot.encoded() + Data("\n".utf8)
                if let output {
                    guard
                        FileManager.default.createFile(
                            atPath: output, contents: data, attributes: [.posixPermissions: 0o640])
                    else { throw CleanExit.message("cannot write \(output)") }
                } else {
                    FileHandle.standardOutput.write(data)
                }
                FileHandle.standardError.write(
                    Data(
                        "\(snapshot.customers.count) customer(s), \(snapshot.relationships.count) relationship(s) in the partner tenant \(snapshot.partnerTenantID) of \(msp)\n"
                            .utf8))
            }
        }
    }
}

/// Reads an MSP's GDAP lists with its partner app (`PartnerApps`: its own app from `onboarder.msps` /
/// `msp_secrets`, opened with the key file, or the configuration's for an MSP that names none), in its home
/// tenant and its cloud: the one place `gdap export` and `enqueue --from-gdap` open a partner credential.
enum GDAPReader {
    static func read(msp: String, global: GlobalOptions) async throws -> GDAPSnapshot {
        try await withDatabase(global) { config, pool in
            let settings = try config.onboardingSettings()
            let app: PartnerApp
            do {
                app = try await PartnerApps(settings: settings, vault: try config.vault()).app(for: msp, on: pool)
            } catch let error as PartnerAppError {
                throw CleanExit.message("\(error)", code: .validationFailure)
            } catch let error as PostgresError where error.sqlState == "42501" {
                // An enqueuer or operator login: it may not read the MSPs' partner credentials, by design.
                throw CleanExit.message(
                    "this database login may not use \(msp)'s partner app (\(error)): run onboarder gdap export --msp "
                        + "\(msp) as the service login on a worker host, and give its file to enqueue --from-gdap FILE")
            }
            guard !app.homeTenantID.isEmpty else {
                throw CleanExit.message(
                    "MSP \(msp)'s partner app \(app.clientID) has no home tenant: set partner.tenant_id (the configuration's app) or onboarder msp set \(msp) --partner-tenant-id …",
                    code: .validationFailure)
            }
            let http = HTTPClient(configuration: config.httpConfiguration)
            defer { http.shutdown() }
            var graph = GraphClient(
                http: http, tokens: TokenClient(http: http, loginBaseURL: app.endpoints.loginBaseURL),
                baseURL: app.endpoints.graphBaseURL, tenant: app.homeTenantID, clientID: app.clientID,
                credential: app.credential)
            graph.scope = app.endpoints.graphScope
            do {
                return try await GDAPSnapshot.read(msp: msp, graph: graph)
            } catch let error as GraphError where error.status == 403 {
                throw CleanExit.message(
                    "the partner app \(app.clientID) of \(msp) may not read GDAP relationships in its tenant "
                        + "\(app.homeTenantID): grant it the application permission DelegatedAdminRelationship.Read.All "
                        + "with admin consent there (\(error))")
            } catch let error as GraphError {
                throw CleanExit.message("reading \(msp)'s GDAP relationships in \(app.homeTenantID) failed: \(error)")
            }
        }
    }
}
