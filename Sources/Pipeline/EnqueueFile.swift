import Foundation
import Synchronization

/// An enqueue file (CSV per RFC 4180, or JSON Lines) read into validated onboarding requests. Every row
/// is checked before anything is written; every problem is reported with its file, line and column.
///
/// Columns (CSV header names = JSON Lines keys; only `msp`, `tenant`, `path`, `pbx_url`, `pbx_client_id`
/// and `pbx_secret` are required), with the most characters each may have (`Limits`):
///
///     msp            63    the MSP's id (letters, digits, . _ -)
///     tenant         253   the customer: Entra tenant id (GUID, not the nil GUID) or one of its domains
///     display_name   256   the customer's name, for people
///     path                 teams | m365
///     pbx_url        2048  the PBX's base URL (https; no user:password@)
///     pbx_client_id  256   the PBX's XAPI client id
///     pbx_secret     4096  where the XAPI client secret is: env:NAME, file:/path, json:/path#a.b, sealed:og1…
///     redirect_uri   256   the app's redirect URI (default: onboarding.redirect_uri_template; no user:password@)
///     sbc_domain     253   Teams: the SBC domain, a full name or a label under onboarding.sbc_parent_domain
///     users          113 each, 10,000 per row: Microsoft 365 UPNs separated by spaces, semicolons or line
///                          breaks (default: all licensed users)
///     priority             an integer; higher runs first (default 0)
///
/// Characters are Unicode code points, as PostgreSQL's `length()` counts them. A row (a CSV record, a JSON
/// line) has at most 1 MiB, the file at most 256 MiB.
///
/// The file is UTF-8 (a BOM is fine). One that is UTF-16, not UTF-8, empty, larger than the limit, has no
/// rows or a header that cannot be read is rejected whole (`Result.rejectedWhole`): no row is read.
///
/// No value holds a control character (C0, DEL, C1), tab and line breaks included: the text goes to
/// PostgreSQL (which cannot store NUL, and whose payload check refuses the rest), the Graph and PBX APIs,
/// and operators' terminals, and a name with a line break or tab in it shows as two or as a gap. CR and
/// LF are record separators, and inside a quoted CSV field (or `\n` in JSON) they are accepted only in
/// `users`, where line breaks and tabs separate names like spaces do (a cell written with Alt+Enter).
/// Spaces and tabs around a value are trimmed. A row with one is rejected naming the column and the code
/// point, and that column's other checks are skipped, so the character is never quoted back.
public enum EnqueueFile {
    public static let columns = [
        "msp", "tenant", "display_name", "path", "pbx_url", "pbx_client_id", "pbx_secret", "redirect_uri",
        "sbc_domain", "users", "priority",
    ]
    static let required: Set<String> = ["msp", "tenant", "path", "pbx_url", "pbx_client_id", "pbx_secret"]

    public struct Row: Sendable, Equatable {
        public var line: Int
        public var msp: String
        public var tenant: String
        public var priority: Int
        public var payload: OnboardingPayload
    }

    public struct Problem: Sendable, Equatable, CustomStringConvertible {
        public var file: String
        public var line: Int
        public var column: String?
        public var reason: String
        public var description: String { "\(file):\(line):\(column.map { " \($0):" } ?? "") \(reason)" }

        public init(file: String, line: Int, column: String?, reason: String) {
            self.file = file
            self.line = line
            self.column = column
            self.reason = reason
        }
    }

    /// The most an enqueue file and its fields may hold: one list for the doc comment above, the README and
    /// the SQL side's checks of the same columns. Field lengths count Unicode code points (PostgreSQL's
    /// `length()`); `fileBytes` and `rowBytes` count bytes.
    public enum Limits {
        /// What one `onboarder enqueue` reads, file or standard input (about 2.5 million typical rows).
        public static let fileBytes = 256 << 20
        /// One CSV record or JSON line: far above any real row (10,000 users of 100 characters).
        public static let rowBytes = 1 << 20
        public static let msp = 63
        /// A DNS name's limit; a GUID has 36.
        public static let tenant = 253
        /// Entra's limit on an application's display name.
        public static let displayName = 256
        public static let pbxClientID = 256
        /// The same number `PBXEndpointPolicy` checks.
        public static let pbxURL = PBXEndpointPolicy.maxLength
        /// Entra's limit on a redirect URI.
        public static let redirectURI = 256
        public static let sbcDomain = 253
        /// Entra's limit on a userPrincipalName: 64 characters before the @ and 48 after it.
        public static let user = 113
        public static let usersPerRow = 10_000
        /// The same number `SecretReference` checks.
        public static let pbxSecret = SecretReference.maxLength

        /// Per column; `users` is limited per name and in number instead, `path` and `priority` by their syntax.
        public static let fieldLength: [String: Int] = [
            "msp": msp, "tenant": tenant, "display_name": displayName, "pbx_url": pbxURL, "pbx_client_id": pbxClientID,
            "pbx_secret": pbxSecret, "redirect_uri": redirectURI, "sbc_domain": sbcDomain,
        ]
    }

    public struct Result: Sendable {
        public var rows: [Row] = []
        public var problems: [Problem] = []
        /// Lines of rows that had at least one problem.
        public var rejectedLines: Set<Int> = []
        /// The file itself was refused (not UTF-8, empty, too large, no rows, a header that cannot be read):
        /// nothing in it can be enqueued, whatever `--skip-invalid` says.
        public var rejectedWhole = false
    }

    /// Reads `data` as CSV, or as JSON Lines when `name` ends in .jsonl / .ndjson or the text starts with `{`.
    public static func read(_ data: Data, name: String, rules: EnqueueRules = EnqueueRules()) -> Result {
        var result = Result()
        func rejectWhole(line: Int = 1, _ reason: String) -> Result {
            result.problems.append(Problem(file: name, line: line, column: nil, reason: reason))
            result.rejectedWhole = true
            return result
        }
        guard data.count <= Limits.fileBytes else {
            return rejectWhole(
                "the file has \(data.count) bytes; enqueue reads at most \(Limits.fileBytes) (256 MiB): split it")
        }
        var bytes = [UInt8](data)
        if let encoding = wideEncoding(bytes) { return rejectWhole("the file is \(encoding); save it as UTF-8") }
        if let offset = firstInvalidUTF8(bytes) {
            let line = 1 + bytes[..<offset].count(where: { $0 == 0x0A })
            let column = offset - (bytes[..<offset].lastIndex(of: 0x0A).map { $0 + 1 } ?? 0) + 1
            let byte = String(bytes[offset], radix: 16, uppercase: true)
            return rejectWhole(
                line: line, "not UTF-8 text (byte 0x\(byte) at byte \(column) of the line); save the file as UTF-8")
        }
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        guard let first = bytes.first(where: { !isBlank($0) }) else {
            return rejectWhole("the file is empty (it needs a header row and at least one row)")
        }
        let isJSON = name.hasSuffix(".jsonl") || name.hasSuffix(".ndjson") || first == UInt8(ascii: "{")
        var records: [(line: Int, fields: [String: String])] = []
        if isJSON {
            records = jsonLines(bytes, name: name, result: &result)
        } else {
            records = csv(bytes, name: name, result: &result)
        }
        bytes = []
        if result.rejectedWhole { return result }
        // Each record on its own first (on every core for a large file: the checks are most of reading it),
        // then in the file's order: a customer's second row refused, the rows and the problems collected.
        let checked = checkEach(records) { record in check(record, name: name, rules: rules) }
        var seen: [String: Int] = [:]
        for (record, own) in zip(records, checked) {
            var problems = own.problems
            if let customer = own.customer {
                if let first = seen[customer.key] {
                    problems.append(
                        Problem(
                            file: name, line: record.line, column: "tenant",
                            reason: "the customer \(customer.tenant) of \(customer.msp) is also on line \(first)"))
                } else {
                    seen[customer.key] = record.line
                }
            }
            if problems.isEmpty, let row = own.row {
                result.rows.append(row)
            } else {
                result.problems += problems
                result.rejectedLines.insert(record.line)
            }
        }
        return result
    }

    /// What one record's own checks found: its problems, or the row it makes; and the customer it names (MSP
    /// and tenant), which no other row may name again.
    struct Checked: Sendable {
        var problems: [Problem] = []
        var row: Row?
        var customer: (key: String, msp: String, tenant: String)?
    }

    /// `check` of every record, in their order: on as many threads as the machine has cores when there are
    /// enough records to share (the checks of one record read nothing of another's).
    static func checkEach(
        _ records: [(line: Int, fields: [String: String])],
        _ check: @Sendable ((line: Int, fields: [String: String])) -> Checked
    ) -> [Checked] {
        let parts = min(ProcessInfo.processInfo.activeProcessorCount, records.count / 2_000)
        guard parts > 1 else { return records.map(check) }
        let results = Mutex([[Checked]](repeating: [], count: parts))
        DispatchQueue.concurrentPerform(iterations: parts) { part in
            let checked = records[(records.count * part / parts)..<(records.count * (part + 1) / parts)].map(check)
            results.withLock { $0[part] = checked }
        }
        return results.withLock { $0.flatMap { $0 } }
    }

    /// One record's checks (everything but the duplicate customer, which needs the rows before it).
    static func check(_ record: (line: Int, fields: [String: String]), name: String, rules: EnqueueRules) -> Checked {
        var problems: [Problem] = []
        func problem(_ column: String?, _ reason: String) {
            problems.append(Problem(file: name, line: record.line, column: column, reason: reason))
        }
        // Control characters and lengths first, for every column: a value refused here is left out of
        // the checks below (none of them would quote it back, nor report it missing).
        var f = record.fields.mapValues(Self.trimmed)
        var refused: Set<String> = []
        if f.contains(where: { fieldProblem($0.key, $0.value) != nil }) {
            // Again in the columns' order, so that a row's problems are listed the same way every time
            // (a dictionary's order changes from run to run); most rows never get here.
            for column in columns {
                if let value = f[column], let reason = fieldProblem(column, value) {
                    problem(column, reason)
                    refused.insert(column)
                    f[column] = nil
                }
            }
        }
        for column in required where (f[column] ?? "").isEmpty && !refused.contains(column) {
            problem(column, "required")
        }
        let msp = f["msp"] ?? ""
        if !msp.isEmpty, !Validation.isMSPID(msp) {
            problem("msp", "an MSP id is 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit")
        }
        let tenant = (f["tenant"] ?? "").lowercased()
        if !tenant.isEmpty, let reason = Validation.tenantProblem(tenant) { problem("tenant", reason) }
        let path = f["path"] ?? ""
        if !path.isEmpty && path != "teams" && path != "m365" {
            problem("path", "must be teams or m365, not \(quoted(path))")
        }
        let pbxURL = f["pbx_url"] ?? ""
        if !pbxURL.isEmpty, let reason = rules.pbxEndpoints.problem(pbxURL, allowedHosts: nil) {
            problem("pbx_url", reason)
        }
        let secret = f["pbx_secret"] ?? ""
        if !secret.isEmpty, let reason = rules.secretReferenceProblem(secret, msp: msp) {
            problem("pbx_secret", reason)
        }
        if let uri = f["redirect_uri"], !uri.isEmpty, let reason = Validation.redirectURIProblem(uri) {
            problem("redirect_uri", reason)
        }
        let sbc = f["sbc_domain"].flatMap { $0.isEmpty ? nil : $0.lowercased() }
        if let sbc {
            if path == "m365" { problem("sbc_domain", "only the teams path uses an SBC domain") }
            if !Validation.isDNSName(sbc) && !Validation.isDNSLabel(Substring(sbc)) {
                problem("sbc_domain", "not a domain name or a DNS label: \(quoted(sbc))")
            }
        }
        var users: [String]?
        if let text = f["users"], !text.isEmpty {
            if path == "teams" { problem("users", "only the m365 path selects users") }
            let list = Validation.userList(text)
            if list.count > Limits.usersPerRow {
                problem("users", "\(list.count) users; a row lists at most \(Limits.usersPerRow)")
            } else {
                for upn in list {
                    if upn.unicodeScalars.count > Limits.user {
                        problem(
                            "users", "a user principal name has at most \(Limits.user) characters: \(quoted(upn))")
                    } else if !Validation.isUPN(upn) {
                        problem("users", "not a user principal name: \(quoted(upn))")
                    }
                }
                if Set(list.map { $0.lowercased() }).count != list.count {
                    problem("users", "a user is listed twice")
                }
            }
            users = list
        }
        var priority = 0
        if let text = f["priority"], !text.isEmpty {
            if let value = Int(text), abs(value) <= 1_000_000 {
                priority = value
            } else {
                problem("priority", "an integer between -1000000 and 1000000, not \(quoted(text))")
            }
        }
        var checked = Checked()
        if !msp.isEmpty && !tenant.isEmpty {
            checked.customer = (key: "\(msp.lowercased())\n\(tenant)", msp: msp, tenant: tenant)
        }
        if problems.isEmpty {
            let payload = OnboardingPayload(
                path: path, displayName: f["display_name"].flatMap { $0.isEmpty ? nil : $0 }, pbxURL: pbxURL,
                pbxClientID: f["pbx_client_id"] ?? "", pbxSecret: secret,
                redirectURI: f["redirect_uri"].flatMap { $0.isEmpty ? nil : $0 }, sbcDomain: sbc, users: users)
            checked.row = Row(line: record.line, msp: msp, tenant: tenant, priority: priority, payload: payload)
        } else {
            checked.problems = problems
        }
        return checked
    }

    /// Without leading and trailing spaces and tabs (Foundation's trimming costs a bridge per call).
    static func trimmed(_ text: String) -> String {
        guard let first = text.utf8.first, let last = text.utf8.last,
            first == 0x20 || first == 0x09 || last == 0x20 || last == 0x09
        else { return text }
        return String(text.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }

    /// User text inside a message, cut to 60 characters. Problems are printed through
    /// `TerminalText.sanitized` (OnboarderConfig) by the command that shows them; this module cannot see it.
    static func quoted(_ text: String) -> String {
        "'" + (text.count > 60 ? text.prefix(57) + "..." : text) + "'"
    }

    /// Why `value` (trimmed) cannot be in `column` at all: a control character, or more than the column's
    /// limit. Nil for most values after one pass over their bytes.
    static func fieldProblem(_ column: String, _ value: String) -> String? {
        let separatorsAllowed = column == "users"
        var codePoints = 0
        var previous: UInt8 = 0
        for byte in value.utf8 {
            if byte & 0xC0 != 0x80 { codePoints += 1 }
            if byte < 0x20 || byte == 0x7F {
                if separatorsAllowed && (byte == 0x09 || byte == 0x0A || byte == 0x0D) { continue }
                return "control character \(codePoint(UInt32(byte))) in the field"
            }
            // U+0080–U+009F, the C1 controls, are 0xC2 0x80–0x9F in UTF-8.
            if previous == 0xC2 && byte >= 0x80 && byte <= 0x9F {
                return "control character \(codePoint(UInt32(byte))) in the field"
            }
            previous = byte
        }
        if let limit = Limits.fieldLength[column], codePoints > limit {
            return "\(codePoints) characters; at most \(limit)"
        }
        return nil
    }

    /// `U+001B`.
    static func codePoint(_ value: UInt32) -> String {
        let hex = String(value, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }

    static func isBlank(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }

    // MARK: Encoding

    /// "UTF-16" or "UTF-32" when the bytes are text in one of those: by its byte-order mark, or, without
    /// one, by the zero byte beside nearly every character that ASCII text in UTF-16 has (Excel's "Unicode
    /// Text" and PowerShell 5's `Out-File` write it). Such a file is valid UTF-8 full of NULs otherwise.
    static func wideEncoding(_ bytes: [UInt8]) -> String? {
        if bytes.starts(with: [0xFF, 0xFE, 0, 0]) || bytes.starts(with: [0, 0, 0xFE, 0xFF]) { return "UTF-32" }
        if bytes.starts(with: [0xFF, 0xFE]) || bytes.starts(with: [0xFE, 0xFF]) { return "UTF-16" }
        let sample = bytes.prefix(512)
        guard sample.count >= 4 else { return nil }
        var zeros = (even: 0, odd: 0)
        for (offset, byte) in sample.enumerated() where byte == 0 {
            if offset % 2 == 0 { zeros.even += 1 } else { zeros.odd += 1 }
        }
        let half = sample.count / 2
        let wide = (zeros.odd * 2 > half && zeros.even * 8 < half) || (zeros.even * 2 > half && zeros.odd * 8 < half)
        return wide ? "UTF-16" : nil
    }

    /// The offset of the first byte that is not part of valid UTF-8, or nil when all of it is.
    static func firstInvalidUTF8(_ bytes: [UInt8]) -> Int? {
        if String(validating: bytes, as: UTF8.self) != nil { return nil }
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        var offset = 0
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let encoded): offset += encoded.count
            case .error: return offset
            case .emptyInput: return nil
            }
        }
    }

    // MARK: CSV (RFC 4180)

    /// Records of a CSV file with a header row: quoted fields, `""` inside quotes, commas and line breaks
    /// inside quotes, CRLF or LF. Each record carries the line it starts on.
    ///
    /// Scanned as UTF-8 bytes: every delimiter is ASCII, and no byte of a multi-byte character is, so a
    /// field's bytes are whole characters (and decoding each field once beats appending scalar by scalar).
    /// `columns` and `required`: the header's (the enqueue file's unless given: `OffboardingFile` has its own).
    static func csv(
        _ bytes: [UInt8], name: String, result: inout Result, columns: [String] = columns,
        required: Set<String> = required
    ) -> [(line: Int, fields: [String: String])] {
        let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ","), lf = UInt8(ascii: "\n"), cr = UInt8(ascii: "\r")
        var records: [(line: Int, values: [String])] = []
        var values: [String] = []
        var field: [UInt8] = []
        var inQuotes = false
        var afterQuote = false
        var line = 1
        var recordLine = 1
        var recordStart = 0
        var fieldHasContent = false
        var index = 0
        func endField() {
            values.append(String(decoding: field, as: UTF8.self))
            field.removeAll(keepingCapacity: true)
            afterQuote = false
            fieldHasContent = false
        }
        func endRecord(at end: Int) {
            endField()
            if end - recordStart > Limits.rowBytes {
                // Kept without its values, so that a header this long is still the header (and refused).
                if !result.rejectedLines.contains(recordLine) {
                    result.problems.append(
                        Problem(
                            file: name, line: recordLine, column: nil,
                            reason:
                                "the row has \(end - recordStart) bytes; a row has at most \(Limits.rowBytes) (1 MiB)"))
                }
                result.rejectedLines.insert(recordLine)
                records.append((recordLine, []))
            } else if !(values.count == 1 && values[0].isEmpty) {
                records.append((recordLine, values))
            }
            values = []
        }
        while index < bytes.count {
            let c = bytes[index]
            if inQuotes {
                if c == quote {
                    if index + 1 < bytes.count && bytes[index + 1] == quote {
                        field.append(quote)
                        index += 1
                    } else {
                        inQuotes = false
                        afterQuote = true
                    }
                } else {
                    if c == lf { line += 1 }
                    // Past the row limit the row is refused anyway: its text is not kept (a quote left open
                    // would otherwise hold the rest of the file a second time).
                    if index - recordStart <= Limits.rowBytes { field.append(c) }
                }
            } else {
                switch c {
                case comma: endField()
                case cr where index + 1 < bytes.count && bytes[index + 1] == lf:
                    break
                case lf, cr:
                    endRecord(at: index)
                    line += 1
                    recordLine = line
                    recordStart = index + 1
                case quote where !fieldHasContent:
                    inQuotes = true
                    fieldHasContent = true
                default:
                    if afterQuote {
                        // Named by the row's first line, like every other problem of the row (and the line
                        // the rejection counts); a quoted line break puts the quote on a later line.
                        let reason = "text after a closing quote (a quote inside a quoted field is written \"\")"
                        result.problems.append(
                            Problem(
                                file: name, line: recordLine, column: nil,
                                reason: line == recordLine ? reason : "\(reason), on line \(line) of this row"))
                        result.rejectedLines.insert(recordLine)
                        afterQuote = false
                    }
                    if index - recordStart <= Limits.rowBytes { field.append(c) }
                    fieldHasContent = true
                }
            }
            index += 1
        }
        if inQuotes {
            result.problems.append(
                Problem(
                    file: name, line: recordLine, column: nil,
                    reason: "a quoted field is not closed before the end of the file"))
            result.rejectedLines.insert(recordLine)
        }
        if !field.isEmpty || !values.isEmpty { endRecord(at: bytes.count) }
        guard let header = records.first else {
            result.problems.append(
                Problem(file: name, line: 1, column: nil, reason: "the file is empty (it needs a header row)"))
            result.rejectedWhole = true
            return []
        }
        let names = header.values.map { trimmed($0).lowercased() }
        // The header is not a row: a quoting problem in it (already reported) makes every row unreadable.
        var headerOK = result.rejectedLines.remove(header.line) == nil
        for (position, column) in names.enumerated() where !columns.contains(column) {
            result.problems.append(
                Problem(
                    file: name, line: header.line, column: column.isEmpty ? "column \(position + 1)" : column,
                    reason: "unknown column; the columns are \(columns.joined(separator: ", "))"))
            headerOK = false
        }
        if Set(names).count != names.count {
            result.problems.append(
                Problem(file: name, line: header.line, column: nil, reason: "a column is named twice"))
            headerOK = false
        }
        for column in required.subtracting(names).sorted() {
            result.problems.append(
                Problem(file: name, line: header.line, column: column, reason: "required column missing"))
            headerOK = false
        }
        guard headerOK else {
            result.rejectedLines.formUnion(records.dropFirst().map(\.line))
            result.rejectedWhole = true
            return []
        }
        guard records.count > 1 else {
            result.problems.append(
                Problem(file: name, line: header.line, column: nil, reason: "no rows: the file has only its header"))
            result.rejectedWhole = true
            return []
        }
        var out: [(line: Int, fields: [String: String])] = []
        out.reserveCapacity(records.count - 1)
        for record in records.dropFirst() where !result.rejectedLines.contains(record.line) {
            guard record.values.count == names.count else {
                result.problems.append(
                    Problem(
                        file: name, line: record.line, column: nil,
                        reason: "\(record.values.count) fields where the header has \(names.count)"))
                result.rejectedLines.insert(record.line)
                continue
            }
            out.append((record.line, Dictionary(uniqueKeysWithValues: zip(names, record.values))))
        }
        return out
    }

    // MARK: JSON Lines

    /// One JSON object per line (LF or CRLF); blank lines are skipped.
    static func jsonLines(_ bytes: [UInt8], name: String, result: inout Result) -> [(
        line: Int, fields: [String: String]
    )] {
        var out: [(line: Int, fields: [String: String])] = []
        var sawObject = false
        for (index, raw) in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            let line = index + 1
            guard let first = raw.firstIndex(where: { !isBlank($0) }), let last = raw.lastIndex(where: { !isBlank($0) })
            else { continue }
            sawObject = true
            let trimmed = raw[first...last]
            guard trimmed.count <= Limits.rowBytes else {
                result.problems.append(
                    Problem(
                        file: name, line: line, column: nil,
                        reason: "the row has \(trimmed.count) bytes; a row has at most \(Limits.rowBytes) (1 MiB)"))
                result.rejectedLines.insert(line)
                continue
            }
            guard let object = (try? JSONSerialization.jsonObject(with: Data(trimmed))) as? [String: Any] else {
                result.problems.append(Problem(file: name, line: line, column: nil, reason: "not a JSON object"))
                result.rejectedLines.insert(line)
                continue
            }
            var fields: [String: String] = [:]
            var bad = false
            for (key, value) in object {
                guard columns.contains(key) else {
                    result.problems.append(
                        Problem(
                            file: name, line: line, column: key,
                            reason: "unknown key; the keys are \(columns.joined(separator: ", "))"))
                    bad = true
                    continue
                }
                switch value {
                case let text as String: fields[key] = text
                case let list as [Any] where key == "users":
                    guard let strings = list as? [String] else {
                        result.problems.append(
                            Problem(file: name, line: line, column: key, reason: "a list of strings"))
                        bad = true
                        continue
                    }
                    fields[key] = strings.joined(separator: " ")
                case let number as NSNumber where key == "priority":
                    fields[key] = number.stringValue
                case is NSNull: break
                default:
                    result.problems.append(Problem(file: name, line: line, column: key, reason: "must be a string"))
                    bad = true
                }
            }
            if bad { result.rejectedLines.insert(line) } else { out.append((line, fields)) }
        }
        if !sawObject {
            result.problems.append(Problem(file: name, line: 1, column: nil, reason: "the file is empty (no rows)"))
            result.rejectedWhole = true
        }
        return out
    }
}

/// Syntax checks for enqueue input.
public enum Validation {
    /// A DNS name of two labels or more (RFC 1035 letters, digits, hyphens; 253 characters at most).
    public static func isDNSName(_ text: String) -> Bool {
        guard text.count <= 253, text.contains(".") else { return false }
        return text.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            isDNSLabel(label)
        } && text.last != "."
    }

    // Hand-written scanners, not regular expressions: a Swift regex literal is parsed and compiled on
    // every evaluation, which made validating 100,000 rows take 45 s instead of well under one.

    static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
    }

    static let upnPunctuation = Set(Array("._'-+!#$%&*=?^`{|}~".utf8))

    /// A DNS label: 1–63 letters, digits and inner hyphens.
    public static func isDNSLabel(_ label: Substring) -> Bool {
        let bytes = Array(label.utf8)
        guard (1...63).contains(bytes.count), isAlphanumeric(bytes[0]), isAlphanumeric(bytes[bytes.count - 1]) else {
            return false
        }
        return bytes.allSatisfy { isAlphanumeric($0) || $0 == 0x2D }
    }

    /// An MSP id: 1–63 letters, digits, `.`, `_`, `-`, starting with a letter or digit.
    public static func isMSPID(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard (1...EnqueueFile.Limits.msp).contains(bytes.count), isAlphanumeric(bytes[0]) else { return false }
        return bytes.allSatisfy { isAlphanumeric($0) || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D }
    }

    /// Nil when `tenant` (lower-cased) is a tenant id or a domain name. The nil GUID parses as a GUID but
    /// names no tenant (it is what an empty id field of many tools prints).
    public static func tenantProblem(_ tenant: String) -> String? {
        if let id = UUID(uuidString: tenant) {
            return id == nilGUID ? "the nil GUID (all zeros) is not a tenant id" : nil
        }
        return isDNSName(tenant) ? nil : "not a tenant id (GUID) or a domain name: \(EnqueueFile.quoted(tenant))"
    }

    static let nilGUID = UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))

    /// The names of a `users` field: separated by spaces, tabs, semicolons or line breaks (LF, CRLF).
    public static func userList(_ text: String) -> [String] {
        text.utf8.split(whereSeparator: { $0 == 0x20 || $0 == 0x3B || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 })
            .map { String(decoding: $0, as: UTF8.self) }
    }

    /// `local@domain`: what Entra accepts as a userPrincipalName (no spaces, one @, a DNS domain).
    public static func isUPN(_ text: String) -> Bool {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, (1...64).contains(parts[0].count), text.count <= EnqueueFile.Limits.user else {
            return false
        }
        return parts[0].utf8.allSatisfy { isAlphanumeric($0) || Self.upnPunctuation.contains($0) }
            && !parts[0].hasPrefix(".")
            && !parts[0].hasSuffix(".") && isDNSName(String(parts[1]))
    }

    /// A name or address of this machine: where plain http stays on the machine.
    public static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "127.0.0.1" || host == "::1" || host == "[::1]"
    }

    /// Entra's rules for a Web redirect URI: https (http only for localhost), no wildcard, no fragment,
    /// at most 256 characters; and no `user:password@`, which Entra would keep and show to every admin of
    /// the tenant. The URI is quoted only with its userinfo masked (`withoutUserinfo`).
    public static func redirectURIProblem(_ text: String) -> String? {
        let limit = EnqueueFile.Limits.redirectURI
        guard text.unicodeScalars.count <= limit else { return "a redirect URI has at most \(limit) characters" }
        guard !authority(of: text).contains("@") else {
            return "a redirect URI cannot carry a user name or password (user:password@): "
                + EnqueueFile.quoted(withoutUserinfo(text))
        }
        guard !text.contains("*") else { return "a redirect URI cannot contain a wildcard (*)" }
        guard let url = URLComponents(string: text), let scheme = url.scheme?.lowercased(), let host = url.host,
            !host.isEmpty
        else { return "not a URL: \(EnqueueFile.quoted(text))" }
        guard url.user == nil && url.password == nil else {
            return "a redirect URI cannot carry a user name or password (user:password@)"
        }
        guard url.fragment == nil else { return "a redirect URI cannot contain a fragment (#…)" }
        let local = isLoopback(host)
        guard scheme == "https" || (scheme == "http" && local) else {
            return "a Web redirect URI must be https (http only for localhost)"
        }
        return nil
    }

    /// Where userinfo would be: after `//` (or from the start, when there is none: `user:pw@host/x` is
    /// not a URL, and its password must not be quoted either) up to the first `/`, `?` or `#`.
    static func authority(of url: String) -> Substring {
        let rest = url.range(of: "//").map { url[$0.upperBound...] } ?? url[...]
        return rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
    }

    /// `url` with everything before the authority's last `@` replaced by `***`, for messages.
    public static func withoutUserinfo(_ url: String) -> String {
        let authority = authority(of: url)
        guard let at = authority.lastIndex(of: "@") else { return url }
        return String(url[..<authority.startIndex]) + "***" + String(url[at...])
    }
}
