import Foundation
import HTTP

/// A customer's Entra tenant id from one of its domains, through Entra's OpenID Connect discovery:
/// `GET {login}/{domain}/v2.0/.well-known/openid-configuration` needs no credential, and names the tenant
/// by its id in `issuer` (`{login}/{tenant id}/v2.0`) and `token_endpoint`, whichever way the request named
/// it. A domain no tenant has verified is Entra's 400 `invalid_tenant`, AADSTS90002.
///
/// Many at once: a 10,000-row enqueue file is 10,000 lookups, sent `concurrency` at a time over the one
/// curl_multi client (not one round trip after another).
public struct TenantDiscovery: Sendable {
    public let http: HTTPClient
    /// The MSP's cloud's login host: `https://login.microsoftonline.com`, `…microsoftonline.us`, the simulator.
    public let loginBaseURL: String
    public var concurrency = 32
    /// Tries per domain when Entra throttles (429), fails (5xx) or cannot be reached.
    public var attempts = 3

    public init(http: HTTPClient, loginBaseURL: String) {
        self.http = http
        self.loginBaseURL = loginBaseURL.hasSuffix("/") ? String(loginBaseURL.dropLast()) : loginBaseURL
    }

    /// What the lookup of one domain came to.
    public enum Outcome: Sendable, Equatable {
        /// The tenant's id, lower-case.
        case tenant(String)
        /// Entra knows no tenant with this domain (AADSTS90002); `message` is Entra's first line.
        case unknown(String)
        /// No answer that says either (throttled, an outage, the network, an unreadable document).
        case failed(String)
    }

    public func url(_ domain: String) -> String { "\(loginBaseURL)/\(domain)/v2.0/.well-known/openid-configuration" }

    /// Every domain of `domains` (each once), looked up `concurrency` at a time.
    public func resolve(_ domains: some Sequence<String>) async -> [String: Outcome] {
        var pending = Array(Set(domains)).sorted()[...]
        var outcomes: [String: Outcome] = [:]
        await withTaskGroup(of: (String, Outcome).self) { group in
            for _ in 0..<max(1, concurrency) {
                guard let domain = pending.popFirst() else { break }
                group.addTask { (domain, await lookUp(domain)) }
            }
            for await (domain, outcome) in group {
                outcomes[domain] = outcome
                if let next = pending.popFirst() { group.addTask { (next, await lookUp(next)) } }
            }
        }
        return outcomes
    }

    /// One domain, tried again (after 1 s, then 2 s, or what Retry-After says up to 10 s) while the answer
    /// is a throttle, a server error or no answer.
    public func lookUp(_ domain: String) async -> Outcome {
        var outcome = Outcome.failed("not tried")
        for attempt in 1...max(1, attempts) {
            var wait = Double(1 << (attempt - 1))
            do {
                let response = try await http.execute(
                    HTTPRequest(url: url(domain), headers: [("Accept", "application/json")], timeout: .seconds(20)))
                outcome = Self.outcome(status: response.status, body: response.body)
                if let retryAfter = response.header("retry-after").flatMap(Double.init) { wait = min(retryAfter, 10) }
            } catch {
                outcome = .failed("\(error)")
            }
            guard case .failed = outcome, attempt < attempts else { return outcome }
            try? await Task.sleep(for: .seconds(wait))
        }
        return outcome
    }

    /// The outcome a discovery answer says (pure: table-tested). 200: the tenant id in `issuer`'s first
    /// path segment (else `token_endpoint`'s); 400 with AADSTS90002 (`error_codes`, or `invalid_tenant`):
    /// unknown; anything else: failed, with the status and Entra's code when it gave one.
    public static func outcome(status: Int, body: [UInt8]) -> Outcome {
        let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
        if status == 200 {
            for field in ["issuer", "token_endpoint"] {
                if let url = object?[field] as? String, let id = tenantID(inURL: url) { return .tenant(id) }
            }
            return .failed("the discovery document names no tenant id (issuer, token_endpoint)")
        }
        let codes = (object?["error_codes"] as? [Any])?.compactMap { ($0 as? NSNumber)?.intValue } ?? []
        let description = (object?["error_description"] as? String).map {
            String($0.split(whereSeparator: \.isNewline).first ?? "")
        }
        if status == 400 && (codes.contains(90002) || object?["error"] as? String == "invalid_tenant") {
            return .unknown(description ?? "AADSTS90002: tenant not found")
        }
        return .failed("HTTP \(status)" + (description.map { ": \($0)" } ?? ""))
    }

    /// The GUID that is the first path segment of `url` (`https://login…/{tenant id}/v2.0`), lower-case;
    /// nil when there is none (`{tenantid}`, the placeholder of the multi-tenant authorities).
    static func tenantID(inURL url: String) -> String? {
        guard let path = URLComponents(string: url)?.path,
            let first = path.split(separator: "/").first, first.count == 36,
            let id = UUID(uuidString: String(first))
        else { return nil }
        let text = id.uuidString.lowercased()
        return text == "00000000-0000-0000-0000-000000000000" ? nil : text
    }
}
