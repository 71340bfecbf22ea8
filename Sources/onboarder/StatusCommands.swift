import ArgumentParser
import Foundation
import OnboarderConfig
import Postgres
import Store

enum OutputFormat: String, ExpressibleByArgument {
    case table, json
}

/// Prints rows as an aligned table that fits a terminal (long cells are cut with …) or as JSON lines.
/// Cells hold text from enqueue files and remote services (names, errors): the table shows them through
/// `TerminalText.sanitized`, the JSON with the same characters as `\u` escapes (the values unchanged).
func printRows(_ columns: [String], _ rows: [[String]], format: OutputFormat, width: Int = 160) {
    for line in formatRows(columns, rows, format: format, width: width) { print(line) }
}

/// The lines `printRows` prints.
func formatRows(_ columns: [String], _ rows: [[String]], format: OutputFormat, width: Int = 160) -> [String] {
    if format == .json {
        return rows.compactMap { row in
            let object = Dictionary(uniqueKeysWithValues: zip(columns, row))
            guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else {
                return nil
            }
            return TerminalText.jsonEscaped(String(decoding: data, as: UTF8.self))
        }
    }
    let cap = max(12, width / max(columns.count, 1) * 2)
    func cut(_ text: String) -> String {
        let flat = TerminalText.sanitized(text.replacingOccurrences(of: "\n", with: " "))
        return flat.count > cap ? String(flat.prefix(cap - 1)) + "…" : flat
    }
    let cells = rows.map { $0.map(cut) }
    var widths = columns.map(\.count)
    for row in cells { for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) } }
    func line(_ values: [String]) -> String {
        zip(values, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")
            .trimmingCharacters(in: .whitespaces)
    }
    return [line(columns), line(widths.map { String(repeating: "-", count: $0) })] + cells.map(line)
}

/// `show`'s table view of one job: a line per non-empty field. Line breaks too are escaped: a display
/// name must not print lines that pass for other fields.
func fieldLines(_ names: [String], _ row: [String]) -> [String] {
    zip(names, row).filter { !$0.1.isEmpty }.map { name, value in
        "\(name.padding(toLength: 12, withPad: " ", startingAt: 0)) \(TerminalText.sanitized(value))"
    }
}

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "The queue per MSP: jobs by state, oldest queued, finished in the last hour.")

    @OptionGroup var global: GlobalOptions
    @Option(help: "Only this MSP.") var msp: String?
    @Flag(help: "Refresh every 2 seconds until interrupted.") var watch = false
    @Option(help: "table or json.") var format: OutputFormat = .table

    func run() async throws {
        try await reportingErrors {
            try await withDatabase(global) { _, pool in
                repeat {
                    let overview = try await Dashboards.queueOverview(msp: msp, on: pool)
                    if watch && format == .table { print("\u{1B}[H\u{1B}[2J", terminator: "") }
                    let columns =
                        format == .json
                        ? [
                            "msp", "queued", "running", "waiting", "needs_attention", "failed", "succeeded",
                            "with_warnings", "cancelled", "oldest_queued", "finished_last_hour",
                        ]
                        : [
                            "msp", "queued", "running", "waiting", "attention", "failed", "succeeded", "warnings",
                            "cancelled", "oldest queued", "done/h",
                        ]
                    printRows(columns, overview.rows, format: format)
                    if watch { try await Task.sleep(for: .seconds(2)) }
                } while watch
            }
        }
    }
}

struct ShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "A customer's latest job: its state, the step timeline and its events.")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var selector: TenantSelector
    @Option(help: "table or json.") var format: OutputFormat = .table

    func run() async throws {
        try await reportingErrors {
            try await withDatabase(global) { _, pool in
                let tenant = try await selector.resolve(pool)
                let status = try await Dashboards.tenantStatus(msp: tenant.msp, tenant: tenant.key, on: pool)
                guard let row = status.rows.first, !row[3].isEmpty else {
                    throw CleanExit.message("\(TerminalText.sanitized(tenant.key)) has no job", code: ExitCode(3))
                }
                let names = [
                    "msp", "tenant", "domain", "job", "kind", "state", "waiting for", "step", "attempts", "next run",
                    "attention", "last error", "summary",
                ]
                if format == .json {
                    printRows(names, [row], format: .json)
                } else {
                    for line in fieldLines(names, row) { print(line) }
                    print("")
                }
                let job = Int64(row[3]) ?? 0
                let steps = try await Dashboards.steps(job: job, on: pool)
                printRows(
                    ["step", "state", "failures", "started", "seconds", "last error"], steps.rows, format: format)
                if format == .table { print("") }
                let events = try await Dashboards.events(job: job, on: pool)
                printRows(["at", "event", "step", "worker", "detail"], events.rows, format: format)
            }
        }
    }
}
