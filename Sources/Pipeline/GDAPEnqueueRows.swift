import Foundation

/// The enqueue rows of the customers GDAP qualified. GDAP lists a customer's tenant id and display name
/// only — no PBX, no domain — so the PBX fields every row needs come from the operator: templates
/// (`--pbx-url 'https://{label}.pbx.example.com'`, one shape for every customer, the common case of an
/// MSP that names its PBXs after its customers) and/or a table keyed by tenant id (`--pbx-table`, for the
/// customers that do not fit the shape; its values win). The rows are then read by `EnqueueFile.read`,
/// exactly as a file's are: the same checks, the same problems, nothing GDAP-specific to keep in step.
///
/// Placeholders: `{tenant_id}` (lower-case GUID), `{label}` (the display name as a DNS label: lower-case
/// letters and digits, every other run of characters one hyphen, at most 63; the tenant id's first eight
/// characters when nothing is left), `{customer}` (the same as `{label}`), `{LABEL}` (the label upper-case
/// with `_` for `-`, for environment variable names: `env:PBX_SECRET_{LABEL}`), `{msp}`. `{domain}` is refused:
/// GDAP does not say a customer's domains, and guessing one would put a job on a wrong PBX.
public enum GDAPEnqueueRows {
    public struct Templates: Sendable, Equatable {
        public var pbxURL: String?
        public var pbxClientID: String?
        public var pbxSecret: String?
        public var sbcDomain: String?

        public init(
            pbxURL: String? = nil, pbxClientID: String? = nil, pbxSecret: String? = nil, sbcDomain: String? = nil
        ) {
            self.pbxURL = pbxURL
            self.pbxClientID = pbxClientID
            self.pbxSecret = pbxSecret
            self.sbcDomain = sbcDomain
        }

        var byColumn: [(String, String?)] {
            [("pbx_url", pbxURL), ("pbx_client_id", pbxClientID), ("pbx_secret", pbxSecret), ("sbc_domain", sbcDomain)]
        }
    }

    public static let placeholders = ["tenant_id", "label", "customer", "LABEL", "msp"]

    /// Why `template` cannot be expanded (an unknown or unclosed placeholder), or nil.
    public static func templateProblem(_ template: String) -> String? {
        var rest = Substring(template)
        while let open = rest.firstIndex(of: "{") {
            guard let close = rest[open...].firstIndex(of: "}") else { return "a { is not closed" }
            let name = String(rest[rest.index(after: open)..<close])
            if name == "domain" {
                return
                    "{domain} is not known from GDAP (it lists tenant ids and names only); use {tenant_id} or {label}, or a --pbx-table row"
            }
            guard placeholders.contains(name) else {
                return "unknown placeholder {\(name)}; the placeholders are "
                    + placeholders.map { "{\($0)}" }.joined(separator: ", ")
            }
            rest = rest[rest.index(after: close)...]
        }
        return nil
    }

    /// `template` with its placeholders filled for `customer` (checked with `templateProblem` first).
    public static func expand(_ template: String, _ customer: GDAPSelection.Customer, msp: String) -> String {
        let label = self.label(customer)
        return template.replacingOccurrences(of: "{tenant_id}", with: customer.tenantID)
            .replacingOccurrences(of: "{label}", with: label)
            .replacingOccurrences(of: "{customer}", with: label)
            .replacingOccurrences(of: "{LABEL}", with: label.uppercased().replacingOccurrences(of: "-", with: "_"))
            .replacingOccurrences(of: "{msp}", with: msp)
    }

    /// The display name as a DNS label (`Contoso Ltd.` → `contoso-ltd`).
    public static func label(_ customer: GDAPSelection.Customer) -> String {
        var out = ""
        var hyphen = false
        for scalar in customer.displayName.lowercased().unicodeScalars {
            if scalar.isASCII, scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) {
                if hyphen && !out.isEmpty { out += "-" }
                out.unicodeScalars.append(scalar)
                hyphen = false
            } else {
                hyphen = true
            }
        }
        let cut = String(out.prefix(63))
        let trimmed = String(cut.reversed().drop { $0 == "-" }.reversed())
        return trimmed.isEmpty ? String(customer.tenantID.prefix(8)) : trimmed
    }

    /// The customer's name as a row's `display_name`: the customer chose it, and it only labels the job, so
    /// a control character becomes a space and a name past the column's limit is cut, rather than the row
    /// (and with it the MSP's whole run) being refused for a name it cannot change.
    static func displayName(_ name: String) -> String {
        let cleaned = String(
            String.UnicodeScalarView(
                name.unicodeScalars.map { $0.properties.generalCategory == .control ? " " : $0 }
                    .prefix(EnqueueFile.Limits.displayName)))
        return EnqueueFile.trimmed(cleaned)
    }

    /// The rows of `customers` (in order), read through `EnqueueFile.read` under the name `name`; problems
    /// name the customer (`Contoso Ltd (52eaad04-…): pbx_url: required`).
    public struct Result: Sendable {
        public var rows: [(customer: GDAPSelection.Customer, row: EnqueueFile.Row)] = []
        public var problems: [(customer: GDAPSelection.Customer, reason: String)] = []
    }

    public static func build(
        _ customers: [GDAPSelection.Customer], msp: String, path: String, templates: Templates,
        table: [String: [String: String]] = [:], rules: EnqueueRules = EnqueueRules()
    ) -> Result {
        var lines: [String] = []
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        for customer in customers {
            var fields = ["msp": msp, "tenant": customer.tenantID, "path": path]
            let name = displayName(customer.displayName)
            if !name.isEmpty { fields["display_name"] = name }
            for (column, template) in templates.byColumn {
                guard let template, !(column == "sbc_domain" && path != "teams") else { continue }
                fields[column] = expand(template, customer, msp: msp)
            }
            for (column, value) in table[customer.tenantID] ?? [:] where !value.isEmpty { fields[column] = value }
            lines.append(String(decoding: (try? encoder.encode(fields)) ?? Data("{}".utf8), as: UTF8.self))
        }
        var result = Result()
        guard !customers.isEmpty else { return result }
        let read = EnqueueFile.read(Data(lines.joined(separator: "\n").utf8), name: "gdap.jsonl", rules: rules)
        for row in read.rows { result.rows.append((customers[row.line - 1], row)) }
        for problem in read.problems where (1...customers.count).contains(problem.line) {
            result.problems.append(
                (customers[problem.line - 1], (problem.column.map { "\($0): " } ?? "") + problem.reason))
        }
        return result
    }
}
