import Foundation

/// An enqueue file (CSV per RFC 4180, or JSON Lines) read into validated onboarding requests. Every row
/// is checked before anything is written; every problem is reported with its file, line and column.
///
/// Columns (CSV header names = JSON Lines keys; only `msp`, `tenant`, `path`, `pbx_url`, `pbx_client_id`
/// and `pbx_secret` are required):
///
///     msp            the MSP's id (letters, digits, . _ -)
///     tenant         the customer: Entra tenant id (GUID) or one of its domains
///     display_name   the customer's name, for people
///     path           teams | m365
///     pbx_url        the PBX's base URL (https; http only on loopback)
///     pbx_client_id  the PBX's XAPI client id
///     pbx_secret     where the XAPI client secret is: env:NAME, file:/path, json:/path#a.b, sealed:og1…
///     redirect_uri   the app's redirect URI (default: onboarding.redirect_uri_template)
///     sbc_domain     Teams: the SBC domain, a full name or a label under onboarding.sbc_parent_domain
///     users          Microsoft 365: UPNs separated by spaces or semicolons (default: all licensed users)
///     priority       an integer; higher runs first (default 0)
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
    }

    public struct Result: Sendable {
        public var rows: [Row] = []
        public var problems: [Problem] = []
        /// Lines of rows that had at least one problem.
        public var rejectedLines: Set<Int> = []
    }

    /// Reads `text` as CSV, or as JSON Lines when `name` ends in .jsonl / .ndjson or the text starts with `{`.
    public static func read(_ data: Data, name: String, rules: EnqueueRules = EnqueueRules()) -> Result {
        var bytes = [UInt8](data)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        guard let text = String(bytes: bytes, encoding: .utf8) else {
            return Result(problems: [Problem(file: name, line: 1, column: nil, reason: "the file is not UTF-8 text")])
        }
        let isJSON =
            name.hasSuffix(".jsonl") || name.hasSuffix(".ndjson")
            || text.drop { $0.isWhitespace }.first == "{"
        var result = Result()
        var records: [(line: Int, fields: [String: String])] = []
        if isJSON {
            records = jsonLines(text, name: name, result: &result)
        } else {
            records = csv(text, name: name, result: &result)
        }
        var seen: [String: Int] = [:]
        for record in records {
            var problems: [Problem] = []
            func problem(_ column: String?, _ reason: String) {
                problems.append(Problem(file: name, line: record.line, column: column, reason: reason))
            }
            let f = record.fields.mapValues(Self.trimmed)
            for column in required where (f[column] ?? "").isEmpty { problem(column, "required") }
            let msp = f["msp"] ?? ""
            if !msp.isEmpty, !Validation.isMSPID(msp) {
                problem("msp", "an MSP id is 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit")
            }
            let tenant = (f["tenant"] ?? "").lowercased()
            if !tenant.isEmpty && UUID(uuidString: tenant) == nil && !Validation.isDNSName(tenant) {
                problem("tenant", "not a tenant id (GUID) or a domain name: \(quoted(tenant))")
            }
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
                let list = text.split(whereSeparator: { $0 == " " || $0 == ";" || $0 == "\n" }).map(String.init)
                for upn in list where !Validation.isUPN(upn) {
                    problem("users", "not a user principal name: \(quoted(upn))")
                }
                if Set(list.map { $0.lowercased() }).count != list.count { problem("users", "a user is listed twice") }
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
            let key = "\(msp.lowercased())\n\(tenant)"
            if !msp.isEmpty && !tenant.isEmpty {
                if let first = seen[key] {
                    problem("tenant", "the customer \(tenant) of \(msp) is also on line \(first)")
                } else {
                    seen[key] = record.line
                }
            }
            if problems.isEmpty {
                let payload = OnboardingPayload(
                    path: path, displayName: f["display_name"].flatMap { $0.isEmpty ? nil : $0 }, pbxURL: pbxURL,
                    pbxClientID: f["pbx_client_id"] ?? "", pbxSecret: secret,
                    redirectURI: f["redirect_uri"].flatMap { $0.isEmpty ? nil : $0 }, sbcDomain: sbc, users: users)
                result.rows.append(
                    Row(line: record.line, msp: msp, tenant: tenant, priority: priority, payload: payload))
            } else {
                result.problems += problems
                result.rejectedLines.insert(record.line)
            }
        }
        return result
    }

    /// Without leading and trailing spaces and tabs (Foundation's trimming costs a bridge per call).
    static func trimmed(_ text: String) -> String {
        guard let first = text.utf8.first, let last = text.utf8.last,
            first == 0x20 || first == 0x09 || last == 0x20 || last == 0x09
        else { return text }
        return String(text.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }

    static func quoted(_ text: String) -> String {
        "'" + (text.count > 60 ? text.prefix(57) + "..." : text) + "'"
    }

    // MARK: CSV (RFC 4180)

    /// Records of a CSV file with a header row: quoted fields, `""` inside quotes, commas and line breaks
    /// inside quotes, CRLF or LF. Each record carries the line it starts on.
    static func csv(_ text: String, name: String, result: inout Result) -> [(line: Int, fields: [String: String])] {
        var records: [(line: Int, values: [String])] = []
        var values: [String] = []
        var field = ""
        var inQuotes = false
        var afterQuote = false
        var line = 1
        var recordLine = 1
        var fieldHasContent = false
        var iterator = Array(text.unicodeScalars)
        var index = 0
        func endField() {
            values.append(field)
            field = ""
            afterQuote = false
            fieldHasContent = false
        }
        func endRecord() {
            endField()
            if !(values.count == 1 && values[0].isEmpty) { records.append((recordLine, values)) }
            values = []
        }
        while index < iterator.count {
            let c = iterator[index]
            if inQuotes {
                if c == "\"" {
                    if index + 1 < iterator.count && iterator[index + 1] == "\"" {
                        field.unicodeScalars.append("\"")
                        index += 1
                    } else {
                        inQuotes = false
                        afterQuote = true
                    }
                } else {
                    if c == "\n" { line += 1 }
                    field.unicodeScalars.append(c)
                }
            } else {
                switch c {
                case ",": endField()
                case "\r" where index + 1 < iterator.count && iterator[index + 1] == "\n":
                    break
                case "\n", "\r":
                    endRecord()
                    line += 1
                    recordLine = line
                case "\"" where !fieldHasContent:
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
                    field.unicodeScalars.append(c)
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
        if !field.isEmpty || !values.isEmpty { endRecord() }
        iterator = []
        guard let header = records.first else {
            result.problems.append(
                Problem(file: name, line: 1, column: nil, reason: "the file is empty (it needs a header row)"))
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
            return []
        }
        var out: [(line: Int, fields: [String: String])] = []
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

    static func jsonLines(_ text: String, name: String, result: inout Result) -> [(line: Int, fields: [String: String])]
    {
        var out: [(line: Int, fields: [String: String])] = []
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = index + 1
            let trimmed = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty { continue }
            guard let object = (try? JSONSerialization.jsonObject(with: Data(trimmed.utf8))) as? [String: Any] else {
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
        guard (1...63).contains(bytes.count), isAlphanumeric(bytes[0]) else { return false }
        return bytes.allSatisfy { isAlphanumeric($0) || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D }
    }

    /// `local@domain`: what Entra accepts as a userPrincipalName (no spaces, one @, a DNS domain).
    public static func isUPN(_ text: String) -> Bool {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, (1...64).contains(parts[0].count), text.count <= 113 else { return false }
        return parts[0].utf8.allSatisfy { isAlphanumeric($0) || Self.upnPunctuation.contains($0) }
            && !parts[0].hasPrefix(".")
            && !parts[0].hasSuffix(".") && isDNSName(String(parts[1]))
    }

    /// Entra's rules for a Web redirect URI: https (http only for localhost), no wildcard, no fragment,
    /// at most 256 characters.
    public static func redirectURIProblem(_ text: String) -> String? {
        guard text.count <= 256 else { return "a redirect URI has at most 256 characters" }
        guard !text.contains("*") else { return "a redirect URI cannot contain a wildcard (*)" }
        guard let url = URLComponents(string: text), let scheme = url.scheme?.lowercased(), let host = url.host,
            !host.isEmpty
        else { return "not a URL: \(EnqueueFile.quoted(text))" }
        guard url.fragment == nil else { return "a redirect URI cannot contain a fragment (#…)" }
        let local = host == "localhost" || host == "127.0.0.1" || host == "[::1]" || host == "::1"
        guard scheme == "https" || (scheme == "http" && local) else {
            return "a Web redirect URI must be https (http only for localhost)"
        }
        return nil
    }
}
