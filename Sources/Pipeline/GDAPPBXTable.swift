import Foundation

/// `--pbx-table FILE`: per-customer PBX fields for `enqueue --from-gdap`, a CSV (RFC 4180, UTF-8, header
/// row) keyed by `tenant_id`, with any of the enqueue file's per-customer columns. Keyed by tenant id
/// because that is what GDAP names a customer by; a domain would need a lookup per row and could name
/// another tenant than the relationship's. Values are checked later, as enqueue rows (`GDAPEnqueueRows`).
public enum GDAPPBXTable {
    public static let columns = [
        "tenant_id", "pbx_url", "pbx_client_id", "pbx_secret", "sbc_domain", "users", "priority",
    ]

    public struct Result: Sendable {
        /// By lower-cased tenant id: column → value.
        public var rows: [String: [String: String]] = [:]
        public var problems: [String] = []
    }

    public static func read(_ data: Data, name: String) -> Result {
        var result = Result()
        guard data.count <= EnqueueFile.Limits.fileBytes else {
            result.problems.append("\(name): larger than \(EnqueueFile.Limits.fileBytes) bytes")
            return result
        }
        guard var text = String(data: data, encoding: .utf8) else {
            result.problems.append("\(name): not UTF-8 text")
            return result
        }
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() }
        let records = csv(text)
        guard let header = records.first?.fields.map({ $0.trimmingCharacters(in: .whitespaces).lowercased() }) else {
            result.problems.append("\(name): empty (it needs a header row with tenant_id)")
            return result
        }
        for column in header where !columns.contains(column) {
            result.problems.append(
                "\(name):1: \(column): unknown column; the columns are \(columns.joined(separator: ", "))")
        }
        guard header.contains("tenant_id") else {
            result.problems.append("\(name):1: tenant_id: required column missing")
            return result
        }
        guard result.problems.isEmpty else { return result }
        for record in records.dropFirst() {
            guard record.fields.count == header.count else {
                result.problems.append(
                    "\(name):\(record.line): \(record.fields.count) fields where the header has \(header.count)")
                continue
            }
            var fields = Dictionary(uniqueKeysWithValues: zip(header, record.fields.map(EnqueueFile.trimmed)))
            let key = (fields.removeValue(forKey: "tenant_id") ?? "").lowercased()
            guard let id = UUID(uuidString: key), id != Validation.nilGUID else {
                result.problems.append(
                    "\(name):\(record.line): tenant_id: not a tenant id (GUID): \(EnqueueFile.quoted(key))")
                continue
            }
            guard result.rows[key] == nil else {
                result.problems.append("\(name):\(record.line): tenant_id: \(key) is listed twice")
                continue
            }
            result.rows[key] = fields
        }
        return result
    }

    /// RFC 4180 records with the line each starts on; blank lines are skipped.
    static func csv(_ text: String) -> [(line: Int, fields: [String])] {
        var records: [(line: Int, fields: [String])] = []
        var fields: [String] = []
        var field = ""
        var quoted = false
        var line = 1
        var start = 1
        var characters = Array(text)[...]
        func endRecord() {
            fields.append(field)
            if !(fields.count == 1 && fields[0].isEmpty) { records.append((start, fields)) }
            fields = []
            field = ""
        }
        while let c = characters.popFirst() {
            if quoted {
                if c == "\"" {
                    if characters.first == "\"" {
                        field.append("\"")
                        characters.removeFirst()
                    } else {
                        quoted = false
                    }
                } else {
                    if c == "\n" || c == "\r\n" { line += 1 }
                    field.append(c)
                }
            } else if c == "\"" && field.isEmpty {
                quoted = true
            } else if c == "," {
                fields.append(field)
                field = ""
            } else if c == "\n" || c == "\r\n" || c == "\r" {
                endRecord()
                line += 1
                start = line
            } else {
                field.append(c)
            }
        }
        if !field.isEmpty || !fields.isEmpty { endRecord() }
        return records
    }
}
