import Foundation
import Graph
import HTTP

/// Where a domain's verification TXT record gets published.
public enum DNSProvider: Sendable {
    /// A DNS provider's REST API shaped like Cloudflare's v4 records API (the simulator serves one):
    /// `GET|POST {base}/zones/{zone}/records`, bearer token.
    case api(baseURL: String, token: String)
    /// An operator publishes the record by hand; the step waits for input and shows the record.
    case manual
}

/// Publishes TXT records through `DNSProvider.api`, idempotently: a record already there is not added twice.
public struct DNSClient: Sendable {
    public let http: HTTPClient
    public let baseURL: String
    let token: String

    public init(http: HTTPClient, baseURL: String, token: String) {
        self.http = http
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.token = token
    }

    /// Makes sure `name` has a TXT record with `value` in `zone`.
    public func ensureTXT(zone: String, name: String, value: String) async throws {
        struct Record: Decodable {
            var name: String
            var content: String
        }
        struct Listing: Decodable { var result: [Record] }
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
        let query = name.addingPercentEncoding(withAllowedCharacters: allowed) ?? name
        let listing = try await exchange("GET", "/zones/\(zone)/records?type=TXT&name=\(query)", body: nil)
        if let existing = try? JSONDecoder().decode(Listing.self, from: Data(listing)),
            existing.result.contains(where: { $0.content == value })
        {
            return
        }
        let body = try JSONEncoder().encode(["type": "TXT", "name": name, "content": value])
        _ = try await exchange("POST", "/zones/\(zone)/records", body: Array(body))
    }

    private func exchange(_ method: String, _ path: String, body: [UInt8]?) async throws -> [UInt8] {
        var headers: [(name: String, value: String)] = [("Authorization", "Bearer \(token)")]
        if body != nil { headers.append(("Content-Type", "application/json")) }
        let response: HTTPResponse
        do {
            response = try await http.execute(
                HTTPRequest(method: method, url: baseURL + path, headers: headers, body: body))
        } catch let error as HTTPError {
            throw FailureClassifier.classify(error)
        }
        guard (200..<300).contains(response.status) else {
            let failure: FailureClass =
                [408, 429, 500, 502, 503, 504].contains(response.status)
                ? .transient(retryAfter: response.header("retry-after").flatMap(FailureClassifier.parseRetryAfter))
                : .needsAttention(
                    fix:
                        "The DNS provider at \(baseURL) refused \(method) \(path) (HTTP \(response.status)): check dns.api_token and that the zone is managed there."
                )
            throw GraphError(
                failure: failure, status: response.status, code: "DNS",
                message: "DNS \(method) \(path): HTTP \(response.status)", clientRequestID: response.clientRequestID,
                serverRequestID: nil)
        }
        return response.body
    }
}
