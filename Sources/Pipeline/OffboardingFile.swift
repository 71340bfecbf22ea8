import Foundation

/// The file `onboarder offboard --file` reads: CSV (RFC 4180, the enqueue file's reader) with a header,
/// columns `msp`, `tenant` (required) and `keep_domain` (`true`/`false`, `yes`/`no`, `1`/`0`; default false).
/// Every problem names the file, the line and the field; a file with any problem enqueues nothing.
public enum OffboardingFile {
    public static let columns = ["msp", "tenant", "keep_domain"]

    public struct Row: Sendable, Equatable {
        public var line: Int
        public var msp: String
        public var tenant: String
        public var keepDomain: Bool
    }

    public static func read(_ data: Data, name: String) -> (rows: [Row], problems: [EnqueueFile.Problem]) {
        var result = EnqueueFile.Result()
        var bytes = [UInt8](data)
        guard data.count <= EnqueueFile.Limits.fileBytes else {
            return (
                [], [.init(file: name, line: 1, column: nil, reason: "the file has \(data.count) bytes: too large")]
            )
        }
        if let encoding = EnqueueFile.wideEncoding(bytes) {
            return ([], [.init(file: name, line: 1, column: nil, reason: "the file is \(encoding); save it as UTF-8")])
        }
        if EnqueueFile.firstInvalidUTF8(bytes) != nil {
            return ([], [.init(file: name, line: 1, column: nil, reason: "not UTF-8 text; save the file as UTF-8")])
        }
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        let records = EnqueueFile.csv(
            bytes, name: name, result: &result, columns: columns, required: ["msp", "tenant"])
        var rows: [Row] = []
        var problems = result.problems
        var seen: [String: Int] = [:]
        for record in records {
            func problem(_ column: String, _ reason: String) {
                problems.append(.init(file: name, line: record.line, column: column, reason: reason))
            }
            let fields = record.fields.mapValues(EnqueueFile.trimmed)
            var bad = false
            for column in columns {
                if let value = fields[column], let reason = EnqueueFile.fieldProblem(column, value) {
                    problem(column, reason)
                    bad = true
                }
            }
            if bad { continue }
            let msp = fields["msp"] ?? ""
            let tenant = (fields["tenant"] ?? "").lowercased()
            if msp.isEmpty {
                problem("msp", "required")
            } else if !Validation.isMSPID(msp) {
                problem("msp", "an MSP id is 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit")
            }
            if tenant.isEmpty {
                problem("tenant", "required: the customer's tenant id or domain")
            } else if let reason = Validation.tenantProblem(tenant) {
                problem("tenant", reason)
            } else if let first = seen["\(msp)/\(tenant)"] {
                problem("tenant", "\(EnqueueFile.quoted(tenant)) is on line \(first) already")
            }
            var keep = false
            switch (fields["keep_domain"] ?? "").lowercased() {
            case "", "false", "no", "0": keep = false
            case "true", "yes", "1": keep = true
            default: problem("keep_domain", "true or false")
            }
            if problems.contains(where: { $0.line == record.line }) { continue }
            seen["\(msp)/\(tenant)"] = record.line
            rows.append(Row(line: record.line, msp: msp, tenant: tenant, keepDomain: keep))
        }
        return (rows, problems.sorted { $0.line < $1.line })
    }
}
