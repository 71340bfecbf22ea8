import ArgumentParser
import Foundation
import OnboarderConfig
import Store

/// `handover sheet --format`.
enum SheetFormat: String, ExpressibleByArgument, CaseIterable {
    case text, csv, json
}

/// One customer's line of the hand-over sheet: what the technician needs at its PBX.
struct HandoverSheetEntry: Equatable {
    let waiting: HandoverWaiting
    /// The key id of the secret to enter; nil when the job hands over none or none is recorded yet.
    let secretKeyID: String?
    /// The secret itself: nil when not shown on this sheet (none, or shown before without `--again`).
    let secret: String?
    /// The secret was handed over before this sheet (`secret export` or an earlier sheet).
    let secretShownBefore: Bool
}

/// The hand-over sheet in its three formats. Pure: the command gathers the entries (and records every
/// secret it shows) before any of this runs.
enum HandoverSheet {
    /// The sheet's columns: the JSON keys and the CSV header (`scripts/demo` reads them).
    static let columns = [
        "msp", "customer", "tenant_id", "job_id", "kind", "step", "waiting_since", "pbx_url", "application_id",
        "secret_key_id", "secret", "secret_shown_before", "certificate_needed", "todo",
    ]

    static func render(_ entries: [HandoverSheetEntry], format: SheetFormat) -> String {
        switch format {
        case .json: json(entries)
        case .csv: csv(entries)
        case .text: text(entries)
        }
    }

    /// What the technician does at this customer's PBX, then the job's last finding.
    static func todo(_ entry: HandoverSheetEntry) -> String {
        let waiting = entry.waiting
        var steps: [String] = []
        if waiting.certificateNeeded {
            steps.append(
                "in the PBX (Integrations → Microsoft 365) click Generate New Key Pair and save the certificate it downloads as \(waiting.customer).pem in the folder for onboarder cert add --dir"
            )
        }
        switch waiting.kind {
        case "rotate-secret":
            steps.append("paste the new client secret (key id \(entry.secretKeyID ?? "not recorded yet")) into the PBX")
        case "rotate-certificate":
            break
        default:
            steps.append(
                "check the PBX shows this directory id and application id, paste the client secret (key id \(entry.secretKeyID ?? "not recorded yet")), then click Log into Microsoft 365 (a customer administrator signs in and consents)"
            )
        }
        steps.append("then run: onboarder handover done \(waiting.customer)")
        var text = steps.joined(separator: "; ")
        text = text.prefix(1).uppercased() + text.dropFirst() + "."
        if let message = waiting.message, !message.isEmpty {
            // The pipeline's message starts with its step's name ("verify: …"): the sheet shows the step.
            let finding =
                message.hasPrefix(waiting.step + ": ") ? String(message.dropFirst(waiting.step.count + 2)) : message
            text += " Last check: \(finding)"
        }
        return text
    }

    /// The time as the sheet prints it: UTC, ISO 8601, to the second.
    static func time(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }

    // MARK: JSON

    /// One array of objects with `columns` as keys (null where a value is missing), one object per line,
    /// control and bidi characters as `\u` escapes (the values unchanged).
    static func json(_ entries: [HandoverSheetEntry]) -> String {
        guard !entries.isEmpty else { return "[]\n" }
        let objects: [[String: Any]] = entries.map { entry in
            let waiting = entry.waiting
            func value(_ text: String?) -> Any { text.map { $0 as Any } ?? NSNull() }
            return [
                "msp": waiting.msp, "customer": waiting.customer, "tenant_id": value(waiting.tenantID),
                "job_id": waiting.jobID, "kind": waiting.kind, "step": waiting.step,
                "waiting_since": time(waiting.waitingSince), "pbx_url": value(waiting.pbxURL),
                "application_id": value(waiting.applicationID), "secret_key_id": value(entry.secretKeyID),
                "secret": value(entry.secret), "secret_shown_before": entry.secretShownBefore,
                "certificate_needed": waiting.certificateNeeded, "todo": todo(entry),
            ]
        }
        // An object per line: readable, and compact inside (jsonEscaped leaves JSON's own line breaks alone
        // only when there are none outside its strings).
        let lines = objects.map { object in
            let data =
                (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
                ?? Data("{}".utf8)
            return "  " + TerminalText.jsonEscaped(String(decoding: data, as: UTF8.self))
        }
        return "[\n" + lines.joined(separator: ",\n") + "\n]\n"
    }

    // MARK: CSV

    /// RFC 4180: a header row, CRLF line ends, a field quoted when it holds a comma, a quote or a line
    /// break (quotes doubled). Cells whose text came from outside (the customer's name, its PBX URL, the
    /// job's message that quotes Microsoft's and the PBX's answers) are neutralised against spreadsheet
    /// formula injection; the secret is not: it is Microsoft's random text, not the customer's, and the
    /// technician copies it byte for byte (a prefix would become part of what is pasted into the PBX).
    static func csv(_ entries: [HandoverSheetEntry]) -> String {
        var lines = [columns.map { csvField($0) }.joined(separator: ",")]
        for entry in entries {
            let waiting = entry.waiting
            let cells: [(String, outside: Bool)] = [
                (waiting.msp, true), (waiting.customer, true), (waiting.tenantID ?? "", true),
                (String(waiting.jobID), false), (waiting.kind, false), (waiting.step, false),
                (time(waiting.waitingSince), false), (waiting.pbxURL ?? "", true),
                (waiting.applicationID ?? "", true), (entry.secretKeyID ?? "", false),
                (entry.secret ?? (entry.secretShownBefore ? "(shown before; --again)" : ""), false),
                (String(entry.secretShownBefore), false), (String(waiting.certificateNeeded), false),
                (todo(entry), true),
            ]
            lines.append(cells.map { csvField($0.outside ? neutralised($0.0) : $0.0) }.joined(separator: ","))
        }
        return lines.joined(separator: "\r\n") + "\r\n"
    }

    /// `text` as one CSV field.
    static func csvField(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\r" || $0 == "\n" || $0 == "\r\n" }) else {
            return text
        }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// A cell a spreadsheet would read as a formula (it starts with =, +, -, @, a tab or a carriage
    /// return) with a leading apostrophe, which spreadsheets show as text (OWASP's advice for CSV injection).
    static func neutralised(_ text: String) -> String {
        guard let first = text.unicodeScalars.first, "=+-@\t\r".unicodeScalars.contains(first) else { return text }
        return "'" + text
    }

    // MARK: text

    /// For a terminal: a block per customer. Text that came from outside goes through
    /// `TerminalText.sanitized`, line breaks included.
    static func text(_ entries: [HandoverSheetEntry]) -> String {
        guard !entries.isEmpty else { return "No customer waits for its technician.\n" }
        var out = "Hand-over sheet: \(entries.count) customer(s) waiting for their technician, oldest first.\n"
        for entry in entries {
            let waiting = entry.waiting
            func clean(_ text: String?) -> String { TerminalText.sanitized(text ?? "(not known yet)") }
            let secret: String
            if let value = entry.secret {
                secret = "\(TerminalText.sanitized(value))   (key id \(entry.secretKeyID ?? "?"); shown now, recorded)"
            } else if entry.secretShownBefore {
                secret = "(shown before; --again)   (key id \(entry.secretKeyID ?? "?"))"
            } else if !waiting.handsOverASecret {
                secret = "(not needed: the PBX keeps its secret)"
            } else {
                secret = "(none recorded yet)"
            }
            out += """

                \(clean(waiting.customer))   (MSP \(clean(waiting.msp)); \(waiting.kind) job \(waiting.jobID) at \(waiting.step), waiting since \(time(waiting.waitingSince)))
                  PBX URL          \(clean(waiting.pbxURL))
                  Directory id     \(clean(waiting.tenantID))
                  Application id   \(clean(waiting.applicationID))
                  Client secret    \(secret)
                  Certificate      \(waiting.certificateNeeded ? "needed" : "supplied")
                  To do            \(clean(todo(entry)))

                """
        }
        return out
    }
}
