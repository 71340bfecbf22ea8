import Foundation
import Graph
import HTTP
import OnboarderConfig
import Pipeline
import Postgres

#if canImport(Glibc)
    import Glibc
#endif

/// One customer, one Entra tenant, as `onboarder enqueue` applies it before writing: each domain looked up
/// (Entra's OpenID discovery, at its MSP's cloud's login host), and the rows the database refuses named by
/// their file line.
extension EnqueueCommand {
    /// Each valid row's tenant id, by line: its key when that is a GUID, else what Entra's discovery says
    /// its domain is (all looked up at once). A domain that does not resolve, and a row naming a tenant an
    /// earlier row names (under another key, or for another MSP), become row problems.
    func resolve(
        _ result: inout EnqueueFile.Result, name: String, configuration: ResolvedConfiguration,
        clouds: [String: String]
    ) async -> [Int: String] {
        // The login hosts only: the worker's settings would also read the partner credential and the DNS
        // provider's, which an enqueuing host need not have.
        var settings = OnboardingSettings()
        settings.loginBaseURL = configuration.string(.loginBaseURL)
        settings.graphBaseURL = configuration.string(.graphBaseURL)
        // The other clouds' hosts as the workers have them (microsoft.usgov_*, microsoft.china_*); a bad value
        // there falls back to Microsoft's documented hosts here and is refused by name where it is used.
        settings.cloudOverrides = (try? configuration.cloudOverrides()) ?? [:]
        func loginBaseURL(_ msp: String) -> String {
            settings.endpoints(for: Cloud(rawValue: clouds[msp] ?? "global") ?? .global).loginBaseURL
        }
        let http = HTTPClient(configuration: configuration.httpConfiguration)
        defer { http.shutdown() }
        var domains: [String: Set<String>] = [:]  // by login host
        for row in result.rows where EnqueueIdentity.tenantID(ofKey: row.tenant) == nil {
            domains[loginBaseURL(row.msp), default: []].insert(row.tenant)
        }
        let count = domains.values.reduce(0) { $0 + $1.count }
        if isatty(2) == 1 && count > 100 {
            FileHandle.standardError.write(Data("looking up the tenant ids of \(count) domain(s)…\n".utf8))
        }
        var outcomes: [String: [String: TenantDiscovery.Outcome]] = [:]
        for (base, names) in domains {
            outcomes[base] = await TenantDiscovery(http: http, loginBaseURL: base).resolve(names)
        }
        var tenantIDs: [Int: String] = [:]
        var identities: [EnqueueIdentity.Row] = []
        var refused: [Int: String] = [:]
        for row in result.rows {
            var id = EnqueueIdentity.tenantID(ofKey: row.tenant)
            let base = loginBaseURL(row.msp)
            if id == nil, let outcome = outcomes[base]?[row.tenant] {
                if case .tenant(let resolved) = outcome { id = resolved }
                if let reason = EnqueueIdentity.problem(domain: row.tenant, outcome: outcome, loginBaseURL: base) {
                    refused[row.line] = reason
                }
            }
            if let id { tenantIDs[row.line] = id }
            identities.append(EnqueueIdentity.Row(line: row.line, msp: row.msp, key: row.tenant, tenantID: id))
        }
        for (line, reason) in EnqueueIdentity.duplicates(identities) where refused[line] == nil {
            refused[line] = reason
        }
        guard !refused.isEmpty else { return tenantIDs }
        for line in refused.keys.sorted() {
            result.problems.append(
                EnqueueFile.Problem(file: name, line: line, column: "tenant", reason: refused[line]!))
            result.rejectedLines.insert(line)
            tenantIDs[line] = nil
        }
        result.problems.sort { $0.line < $1.line }
        result.rows.removeAll { refused[$0.line] != nil }
        return tenantIDs
    }

    /// The file line and reason of enqueue_many's "row N: reason" (N counted from 1 in the batch that
    /// started at `offset`); nil for any other message.
    static func refusedRow(_ message: String, offset: Int, rows: [EnqueueFile.Row]) -> (line: Int, reason: String)? {
        guard message.hasPrefix("row "), let colon = message.firstIndex(of: ":"),
            let number = Int(message[message.index(message.startIndex, offsetBy: 4)..<colon]),
            number >= 1, offset + number - 1 < rows.count
        else { return nil }
        let reason = message[message.index(after: colon)...].drop { $0 == " " }
        return (rows[offset + number - 1].line, String(reason))
    }
}
