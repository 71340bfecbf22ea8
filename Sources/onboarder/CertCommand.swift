import ArgumentParser
import Crypto
import Foundation
import OnboarderConfig
import Postgres
import Store

struct CertCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cert", abstract: "Certificates for customer apps.", subcommands: [Add.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Supply the PBX's downloaded certificate (PEM or DER) for a customer; its waiting job resumes.",
            usage: """
                onboarder cert add CUSTOMER FILE [--msp MSP]
                onboarder cert add --dir DIR [--msp MSP]
                """,
            discussion: """
                With --dir, every .pem, .cer or .crt file in DIR named after a customer (contoso.example.pem), \
                or listed in DIR/index.csv (a header line file,customer, then one line per file), is added: a \
                line per file, and a line naming each file or index line that could not be matched or read. \
                The certificates are recorded together, each on its own: exit 0 when every file was added, 2 \
                when any failed (the others are recorded all the same); a database error records none.
                """)

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The customer: tenant id (GUID) or domain, as enqueued.") var tenant: String?
        @Argument(help: "The certificate file (.cer / .pem / .crt).") var file: String?
        @Option(help: "The MSP, when several have this customer (with --dir: only its customers).") var msp: String?
        @Option(help: "A folder of certificates named after their customers (or listed in its index.csv).")
        var dir: String?

        func validate() throws {
            if dir != nil {
                guard tenant == nil && file == nil else {
                    throw ValidationError("with --dir, name no customer or file: the folder names them")
                }
            } else if tenant == nil || file == nil {
                throw ValidationError("name a customer and its certificate file, or --dir DIR")
            }
        }

        func run() async throws {
            try await reportingErrors {
                if let dir {
                    try await addFolder(dir)
                } else if let tenant, let file {
                    try await addFile(tenant: tenant, file: file)
                }
            }
        }

        func addFile(tenant name: String, file: String) async throws {
            let certificate: Certificate
            do {
                certificate = try PBXCertificateFile.load(file)
            } catch {
                throw CleanExit.message(error.description, code: error.unreadable ? ExitCode(2) : .failure)
            }
            try await withDatabase(global) { _, pool in
                let tenant = try await TenantSelector.parse([name] + (msp.map { ["--msp", $0] } ?? [])).resolve(pool)
                print(try await supply(certificate, to: tenant, on: pool))
            }
        }

        func addFolder(_ dir: String) async throws {
            let names: [String]
            do {
                names = try FileManager.default.contentsOfDirectory(atPath: dir)
            } catch {
                throw CleanExit.message(
                    "\(dir): cannot list the folder (\(error.localizedDescription))", code: ExitCode(2))
            }
            let folder = URL(fileURLWithPath: dir)
            var index: String?
            if names.contains(CertificateFolderPlan.indexName) {
                let path = folder.appendingPathComponent(CertificateFolderPlan.indexName).path
                guard let data = FileManager.default.contents(atPath: path), data.count <= PBXCertificateFile.maxBytes
                else {
                    throw CleanExit.message("\(CertificateFolderPlan.indexName): cannot read it", code: ExitCode(2))
                }
                index = String(decoding: data, as: UTF8.self)
            }
            let plan = CertificateFolderPlan.plan(fileNames: names, index: index)
            guard !plan.assignments.isEmpty || !plan.problems.isEmpty else {
                throw CleanExit.message(
                    "\(dir): no .pem, .cer or .crt file, and no \(CertificateFolderPlan.indexName)", code: ExitCode(2))
            }
            var failed = plan.problems
            try await withDatabase(global) { _, pool in
                // Every file's customer found in one statement, and every certificate recorded in one more (a
                // technician's round hands over hundreds).
                let matches = try await Tenants.matching(plan.assignments.map(\.customer), msp: msp, on: pool)
                var loaded: [(file: String, tenant: TenantRecord, certificate: OperatorActions.SuppliedCertificate)] =
                    []
                for (assignment, customers) in zip(plan.assignments, matches) {
                    let file = assignment.file
                    guard customers.count == 1 else {
                        failed.append(
                            customers.isEmpty
                                ? "\(file): no customer \(assignment.customer)\(msp.map { " of MSP \($0)" } ?? "") is known (name the file after the customer, or list it in \(CertificateFolderPlan.indexName))"
                                : "\(file): \(assignment.customer) is a customer of several MSPs; name one with --msp")
                        continue
                    }
                    do {
                        let certificate = try PBXCertificateFile.load(folder.appendingPathComponent(file).path)
                        loaded.append((file, customers[0], try supplied(certificate, to: customers[0])))
                    } catch let problem as PBXCertificateFile.Problem {
                        // The path was the folder's; the line names the file as the folder lists it.
                        failed.append(
                            problem.description.replacingOccurrences(
                                of: folder.appendingPathComponent(file).path, with: file))
                    }
                }
                let outcomes = try await OperatorActions.supplyCertificates(
                    loaded.map(\.certificate), actor: global.actingAs, on: pool)
                for (item, outcome) in zip(loaded, outcomes) {
                    switch outcome {
                    case .supplied(let recorded, let woken):
                        print(
                            "\(TerminalText.sanitized(item.file)): "
                                + Self.said(item.certificate, of: item.tenant, recorded: recorded, woken: woken))
                    case .refused(let reason):
                        failed.append("\(item.file): refused: \(reason)")
                    }
                }
            }
            guard failed.isEmpty else {
                throw CleanExit.message(
                    failed.map { "error: \($0)" }.joined(separator: "\n")
                        + "\ncert add --dir: \(failed.count) file(s) or index line(s) not added", code: ExitCode(2))
            }
        }

        /// Records `certificate` for `tenant` through the function operators may call: it checks the customer
        /// is one of this login's MSPs, records the certificate, wakes the waiting job and records who.
        func supply(_ certificate: Certificate, to tenant: TenantRecord, on pool: PostgresPool) async throws -> String {
            let record = try supplied(certificate, to: tenant)
            let (added, woken) = try await OperatorActions.supplyCertificate(
                tenant: tenant.id, thumbprint: record.thumbprint, pem: record.pem, displayName: record.displayName,
                expiresAt: record.expiresAt, actor: global.actingAs, on: pool)
            return Self.said(record, of: tenant, recorded: added, woken: woken)
        }

        /// What the database records of `certificate` for `tenant`: its SHA-1 thumbprint and a display name.
        func supplied(_ certificate: Certificate, to tenant: TenantRecord) throws -> OperatorActions.SuppliedCertificate
        {
            let thumbprint = try certificate.sha1Thumbprint.map { String(format: "%02X", $0) }.joined()
            return try OperatorActions.SuppliedCertificate(
                tenant: tenant.id, thumbprint: thumbprint, pem: certificate.pem,
                displayName: "PBX certificate \(certificate.commonName ?? thumbprint.prefix(8).description)",
                expiresAt: certificate.notAfter)
        }

        /// The line a supplied certificate gets.
        static func said(
            _ certificate: OperatorActions.SuppliedCertificate, of tenant: TenantRecord, recorded: Bool, woken: Int
        ) -> String {
            let key = TerminalText.sanitized(tenant.key)
            return recorded
                ? "certificate \(certificate.thumbprint) recorded for \(key); \(woken) waiting job(s) resumed"
                : "certificate \(certificate.thumbprint) was already recorded for \(key)"
        }
    }
}
