import Foundation
import Graph
import HTTP
import Synchronization

/// Publishes TXT records through Cloudflare's API v4, as it is documented: the zone's id looked up by name
/// (`GET /zones?name=`), records under `/zones/{zone id}/dns_records` (`GET ?type=TXT&name=`, `POST`,
/// `DELETE /{record id}`), a bearer API token (Zone:Read and DNS:Edit on the zone), and every answer in
/// the `{success, errors: [{code, message}], messages, result, result_info}` envelope.
///
/// Publishing creates the record and takes Cloudflare's "already exists" (81057 / 81058) as done, so it
/// costs one request; removing lists the name's TXT records and deletes the one with the value.
public struct CloudflareDNSClient: TXTPublisher, CustomReflectable {
    public let http: HTTPClient
    public let baseURL: String
    let token: String
    /// Five minutes: the record lives only until Microsoft has seen it.
    public var ttl = 300
    /// Records per page when listing (Cloudflare's default is 100).
    public var pageSize = 100

    public init(http: HTTPClient, baseURL: String, token: String) {
        self.http = http
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.token = token
    }

    /// Dumped, it shows where it goes, never the token.
    public var customMirror: Mirror { Mirror(self, children: ["baseURL": baseURL]) }

    public func publish(name: String, value: String, zone: String) async throws(DNSError) {
        let zoneID = try await self.zoneID(zone)
        let body = CloudflareRecordRequest(type: "TXT", name: name, content: CloudflareTXT.quoted(value), ttl: ttl)
        let encoded = (try? JSONEncoder().encode(body)).map(Array.init) ?? []
        let response = try await send("POST", "/zones/\(zoneID)/dns_records", body: encoded)
        if (200..<300).contains(response.status) { return }
        let envelope = CloudflareEnvelope<CloudflareRecord>.decode(response.body)
        if response.status == 400,
            envelope.errors.contains(where: { CloudflareDNSClient.alreadyExists.contains($0.code) })
        {
            return
        }
        if response.status == 404 { Self.forget(baseURL: baseURL, zone: zone) }
        throw failure(response, envelope.errors, doing: "add the TXT record of \(name) in the zone \(zone)")
    }

    public func remove(name: String, value: String, zone: String) async throws(DNSError) {
        let zoneID = try await self.zoneID(zone)
        for record in try await records(name: name, zoneID: zoneID, zone: zone)
        where CloudflareTXT.unquoted(record.content) == value {
            let response = try await send("DELETE", "/zones/\(zoneID)/dns_records/\(record.id)", body: nil)
            let envelope = CloudflareEnvelope<CloudflareRecord>.decode(response.body)
            // Gone already (another worker, an operator): what we wanted.
            if (200..<300).contains(response.status) || envelope.errors.contains(where: { $0.code == 81044 }) {
                continue
            }
            if response.status == 404 { Self.forget(baseURL: baseURL, zone: zone) }
            throw failure(response, envelope.errors, doing: "remove the TXT record of \(name) in the zone \(zone)")
        }
    }

    public func values(name: String, zone: String) async throws(DNSError) -> [String] {
        let zoneID = try await self.zoneID(zone)
        return try await records(name: name, zoneID: zoneID, zone: zone).map { CloudflareTXT.unquoted($0.content) }
    }

    /// "The record already exists" / "An identical record already exists".
    static let alreadyExists: Set<Int> = [81057, 81058]

    /// Every TXT record of `name`, page by page (`result_info.total_pages`).
    func records(name: String, zoneID: String, zone: String) async throws(DNSError) -> [CloudflareRecord] {
        var records: [CloudflareRecord] = []
        var page = 1
        while true {
            let path =
                "/zones/\(zoneID)/dns_records?type=TXT&name=\(Self.escape(name))&per_page=\(pageSize)&page=\(page)"
            let response = try await send("GET", path, body: nil)
            let envelope = CloudflareEnvelope<[CloudflareRecord]>.decode(response.body)
            guard (200..<300).contains(response.status), envelope.success, let result = envelope.result else {
                if response.status == 404 { Self.forget(baseURL: baseURL, zone: zone) }
                throw failure(response, envelope.errors, doing: "list the TXT records of \(name) in the zone \(zone)")
            }
            records += result
            guard let info = envelope.resultInfo, let pages = info.totalPages, page < pages, !result.isEmpty else {
                return records
            }
            page += 1
        }
    }

    // MARK: Zone ids

    /// Zone ids by base URL and zone name: a zone's id never changes, and Cloudflare's API allows 1,200
    /// requests per five minutes per user, so each worker process looks each zone up once.
    private static let zoneIDs = Mutex([String: String]())

    static func forget(baseURL: String, zone: String) {
        _ = zoneIDs.withLock { $0.removeValue(forKey: baseURL + " " + zone.lowercased()) }
    }

    func zoneID(_ zone: String) async throws(DNSError) -> String {
        let key = baseURL + " " + zone.lowercased()
        if let known = Self.zoneIDs.withLock({ $0[key] }) { return known }
        let response = try await send("GET", "/zones?name=\(Self.escape(zone.lowercased()))", body: nil)
        let envelope = CloudflareEnvelope<[CloudflareZone]>.decode(response.body)
        guard (200..<300).contains(response.status), envelope.success, let zones = envelope.result else {
            throw failure(response, envelope.errors, doing: "look up the zone \(zone)")
        }
        guard let id = zones.first(where: { $0.name.lowercased() == zone.lowercased() })?.id else {
            throw DNSError(
                .needsAttention,
                "The zone \(zone) is not in the Cloudflare account that dns.api_token belongs to (or the token may not read it: it needs Zone:Read and DNS:Edit on \(zone)). Add the zone or fix the token or dns.zone, then onboarder retry."
            )
        }
        Self.zoneIDs.withLock { $0[key] = id }
        return id
    }

    // MARK: HTTP

    private func send(_ method: String, _ path: String, body: [UInt8]?) async throws(DNSError) -> HTTPResponse {
        var headers: [(name: String, value: String)] = [("Authorization", "Bearer \(token)")]
        if body != nil { headers.append(("Content-Type", "application/json")) }
        do {
            return try await http.execute(
                HTTPRequest(method: method, url: baseURL + path, headers: headers, body: body))
        } catch let error as HTTPError {
            throw DNSError(
                error.isTransient ? .retry(after: nil) : .needsAttention,
                "Cloudflare's API at \(baseURL) could not be reached (\(method) \(Self.pathOnly(path))): \(error.message)"
            )
        } catch {
            throw DNSError(.retry(after: nil), "Cloudflare's API at \(baseURL): \(error)")
        }
    }

    /// What a failed answer means for the job. Pure.
    func failure(_ response: HTTPResponse, _ errors: [CloudflareMessage], doing what: String) -> DNSError {
        Self.failure(
            status: response.status, errors: errors,
            retryAfter: response.header("retry-after").flatMap(FailureClassifier.parseRetryAfter), doing: what)
    }

    static func failure(status: Int, errors: [CloudflareMessage], retryAfter: Duration?, doing what: String) -> DNSError
    {
        let said = errors.isEmpty ? "no error given" : errors.map { "\($0.code) \($0.message)" }.joined(separator: "; ")
        let message = "Cloudflare refused to \(what) (HTTP \(status): \(said))"
        switch status {
        case 429: return DNSError(.throttled(after: retryAfter), message)
        case 408, 500, 502, 503, 504: return DNSError(.retry(after: retryAfter), message)
        case 401, 403:
            return DNSError(
                .needsAttention,
                "\(message): dns.api_token is not accepted, or lacks Zone:Read and DNS:Edit on the zone. Make a token with those permissions, then onboarder retry."
            )
        case 400 where errors.contains { [6003, 6111, 6103, 9106].contains($0.code) }:
            return DNSError(
                .needsAttention,
                "\(message): dns.api_token is missing or not an API token. Set it, then onboarder retry.")
        case 404:
            return DNSError(.retry(after: nil), "\(message): the zone's id changed; it is looked up again")
        default: return DNSError(.needsAttention, "\(message). Then onboarder retry.")
        }
    }

    static func escape(_ text: String) -> String {
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    static func pathOnly(_ path: String) -> String { String(path.prefix { $0 != "?" }) }
}

/// TXT content as Cloudflare's API documents it: one or more quoted character-strings (RFC 1035 §5.1), each
/// up to 255 bytes (`"v=…" "…"`); older records may hold the bare text.
public enum CloudflareTXT {
    /// `value` as quoted strings of at most 255 bytes, `"` and `\` escaped.
    public static func quoted(_ value: String) -> String {
        guard case .txt(let strings) = DNSRecordData.txt(value: value) else { return value }
        return strings.map { bytes in
            var text = "\""
            for character in String(decoding: bytes, as: UTF8.self) {
                if character == "\"" || character == "\\" { text.append("\\") }
                text.append(character)
            }
            return text + "\""
        }.joined(separator: " ")
    }

    /// The value of `content`: its quoted strings unescaped and joined; bare text as it is.
    public static func unquoted(_ content: String) -> String {
        let trimmed = content.trimmingCharacters(in: .whitespaces)
        guard trimmed.hasPrefix("\""), trimmed.hasSuffix("\""), trimmed.count >= 2 else { return content }
        var value = ""
        var inside = false
        var escaped = false
        for character in trimmed {
            if escaped {
                value.append(character)
                escaped = false
            } else if character == "\\" && inside {
                escaped = true
            } else if character == "\"" {
                inside.toggle()
            } else if inside {
                value.append(character)
            } else if !character.isWhitespace {
                return content  // text between the strings: not the quoted form after all
            }
        }
        return inside ? content : value
    }
}

// MARK: The API's shapes

struct CloudflareRecordRequest: Encodable {
    var type: String
    var name: String
    var content: String
    var ttl: Int
}

struct CloudflareRecord: Decodable {
    var id: String
    var name: String
    var content: String
}

struct CloudflareZone: Decodable {
    var id: String
    var name: String
}

struct CloudflareMessage: Decodable, Equatable {
    var code: Int
    var message: String
}

struct CloudflareResultInfo: Decodable {
    var page: Int?
    var perPage: Int?
    var count: Int?
    var totalCount: Int?
    var totalPages: Int?

    enum CodingKeys: String, CodingKey {
        case page, count
        case perPage = "per_page"
        case totalCount = "total_count"
        case totalPages = "total_pages"
    }
}

struct CloudflareEnvelope<Result: Decodable>: Decodable {
    var success = false
    var errors: [CloudflareMessage] = []
    var result: Result?
    var resultInfo: CloudflareResultInfo?

    enum CodingKeys: String, CodingKey {
        case success, errors, result
        case resultInfo = "result_info"
    }

    init() {}

    init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        success = try container.decodeIfPresent(Bool.self, forKey: .success) ?? false
        errors = (try? container.decodeIfPresent([CloudflareMessage].self, forKey: .errors)) ?? []
        result = try? container.decodeIfPresent(Result.self, forKey: .result)
        resultInfo = try? container.decodeIfPresent(CloudflareResultInfo.self, forKey: .resultInfo)
    }

    /// The envelope of `body`; an empty one when the body is not JSON (a proxy's HTML error page).
    static func decode(_ body: [UInt8]) -> CloudflareEnvelope {
        (try? JSONDecoder().decode(CloudflareEnvelope.self, from: Data(body))) ?? CloudflareEnvelope()
    }
}
