import Foundation
import Graph

/// One customer, one Entra tenant, as `onboarder enqueue` checks it before writing (pure: table-tested):
/// a row's tenant id is its key when that is a GUID, else what Entra's discovery resolved its domain to;
/// a file that names one tenant twice (under two keys, or for two MSPs) has the later row rejected, as a
/// key named twice is. The database checks the same against every customer it already has.
public enum EnqueueIdentity {
    /// A row as far as its identity goes.
    public struct Row: Sendable, Equatable {
        public var line: Int
        public var msp: String
        public var key: String
        /// Lower-case; nil when unresolved (a domain, with `--no-resolve`).
        public var tenantID: String?

        public init(line: Int, msp: String, key: String, tenantID: String?) {
            self.line = line
            self.msp = msp
            self.key = key
            self.tenantID = tenantID
        }
    }

    /// The key itself when it is a tenant id: the enqueue file's rules make that a lower-case GUID.
    public static func tenantID(ofKey key: String) -> String? {
        guard key.utf8.count == 36, let id = UUID(uuidString: key) else { return nil }
        let text = id.uuidString.lowercased()
        return text == "00000000-0000-0000-0000-000000000000" ? nil : text
    }

    /// Why a row whose domain was looked up is refused; nil when it resolved (`.tenant`).
    public static func problem(domain: String, outcome: TenantDiscovery.Outcome, loginBaseURL: String) -> String? {
        switch outcome {
        case .tenant: nil
        case .unknown(let message):
            "Entra knows no tenant with the domain \(domain) (\(message)): check the domain, or give the tenant id"
        case .failed(let reason):
            "could not look up the tenant id of \(domain) at \(loginBaseURL) (\(reason)): try again, or enqueue it by tenant id"
        }
    }

    /// Rows that name a tenant an earlier row of the file names under another key: (line, reason).
    public static func duplicates(_ rows: [Row]) -> [(line: Int, reason: String)] {
        var first: [String: Row] = [:]
        var problems: [(line: Int, reason: String)] = []
        for row in rows {
            guard let id = row.tenantID else { continue }
            guard let earlier = first[id] else {
                first[id] = row
                continue
            }
            if earlier.msp.lowercased() == row.msp.lowercased() {
                problems.append(
                    (row.line, "\(row.key) is tenant \(id), the customer \(earlier.key) on line \(earlier.line)"))
            } else {
                problems.append(
                    (
                        row.line,
                        "\(row.key) is tenant \(id), MSP \(earlier.msp)'s customer on line \(earlier.line): one Entra tenant is one MSP's customer"
                    ))
            }
        }
        return problems
    }
}
