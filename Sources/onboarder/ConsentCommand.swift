import ArgumentParser
import Foundation
import OnboarderConfig
import Postgres
import Store

struct ConsentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consent",
        abstract: "Customers waiting for consent to their MSP's partner app.",
        subcommands: [Links.self])

    struct Links: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the admin-consent link of every customer waiting for its MSP's partner app.",
            discussion: """
                Run as an operator (MSP staff): each MSP sees its own customers. A job whose customer's tenant \
                has not consented to the partner app (or lacks some of its roles) waits at resolve-tenant and \
                looks again on its own; once the customer's administrator opens the link and consents, it goes \
                on — no retry. The CSV (RFC 4180) is for a mail merge; cells are neutralised against \
                spreadsheet formulas. An empty list says so and exits 0.
                """)

        @OptionGroup var global: GlobalOptions
        @Option(help: "Only this MSP's customers.") var msp: String?
        @Option(help: "text (a terminal) or csv (a spreadsheet, a mail merge).") var format: LinksFormat = .text

        func run() async throws {
            try await reportingErrors {
                try await withDatabase(global) { _, pool in
                    let rows = try await ConsentWaits.waiting(msp: msp, on: pool)
                    print(ConsentLinks.render(rows, format: format), terminator: "")
                    if rows.isEmpty && format != .text {
                        FileHandle.standardError.write(Data("no customer waits for consent\n".utf8))
                    }
                }
            }
        }
    }
}
