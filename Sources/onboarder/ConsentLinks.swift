import ArgumentParser
import Foundation
import OnboarderConfig
import Store

/// `consent links --format`.
enum LinksFormat: String, ExpressibleByArgument, CaseIterable {
    case text, csv
}

/// The admin-consent links of every customer waiting for its MSP's partner app, for the MSP to send out.
/// Pure: the command reads the rows, this renders them.
enum ConsentLinks {
    /// The CSV header.
    static let columns = [
        "msp", "customer", "tenant_id", "job_id", "waiting_since", "missing", "consent_url", "client_id",
    ]

    static func render(_ rows: [ConsentWaiting], format: LinksFormat) -> String {
        switch format {
        case .csv: csv(rows)
        case .text: text(rows)
        }
    }

    /// RFC 4180 as `handover sheet` writes it: a header row, CRLF line ends, fields quoted when they hold a
    /// comma, a quote or a line break. Every cell whose text came from outside (the MSP's and customer's
    /// keys, the ids and the link the worker recorded) is neutralised against spreadsheet formula injection.
    static func csv(_ rows: [ConsentWaiting]) -> String {
        var lines = [columns.map(HandoverSheet.csvField).joined(separator: ",")]
        for row in rows {
            let cells: [(String, outside: Bool)] = [
                (row.msp, true), (row.customer, true), (row.tenantID ?? "", true), (String(row.jobID), false),
                (HandoverSheet.time(row.waitingSince), false), (row.missing.joined(separator: " "), true),
                (row.consentURL ?? "", true), (row.clientID ?? "", true),
            ]
            lines.append(
                cells.map { HandoverSheet.csvField($0.outside ? HandoverSheet.neutralised($0.0) : $0.0) }.joined(
                    separator: ","))
        }
        return lines.joined(separator: "\r\n") + "\r\n"
    }

    /// For a terminal: one block per customer, outside text sanitized.
    static func text(_ rows: [ConsentWaiting]) -> String {
        guard !rows.isEmpty else { return "No customer waits for consent to its MSP's partner app.\n" }
        var out = "\(rows.count) customer(s) waiting for consent to their MSP's partner app, oldest first.\n"
        for row in rows {
            func clean(_ text: String?) -> String { TerminalText.sanitized(text ?? "(not known yet)") }
            let missing =
                row.servicePrincipal
                ? row.missing.joined(separator: ", ")
                : "everything (the partner app has no service principal there): \(row.missing.joined(separator: ", "))"
            out += """

                \(clean(row.customer))   (MSP \(clean(row.msp)); job \(row.jobID), waiting since \(HandoverSheet.time(row.waitingSince)), looked \(row.checks) time(s))
                  Directory id   \(clean(row.tenantID))
                  Missing        \(clean(missing))
                  Consent link   \(clean(row.consentURL))

                """
        }
        return out
    }
}
