import Crypto
import Foundation
import Synchronization

/// A DNS provider shaped like Cloudflare's API v4, which domain verification reads (Microsoft looks the
/// TXT record up in DNS; here it looks in these records, and in real DNS when a lookup is set):
///
///     GET    /client/v4/zones?name=example.com                      the zone, by name
///     GET    /client/v4/zones/{zone id}/dns_records?type=TXT&name=…  page, per_page (result_info)
///     POST   /client/v4/zones/{zone id}/dns_records                 {"type": "TXT", "name": …, "content": …, "ttl": …}
///     DELETE /client/v4/zones/{zone id}/dns_records/{record id}
///
/// Every answer is Cloudflare's envelope `{success, errors: [{code, message}], messages, result}`, with its
/// errors: 400 6003 / 6111 without a bearer token, 403 9109 "Invalid access token" (10000 "Authentication
/// error" on a zone's records) for a token the account does not know, 400 81058 "An identical record
/// already exists.", 404 7003 for an unknown zone id, 404 81044 for an unknown record, 429 971 with
/// `Retry-After` while `SimDNSAccount.throttleRequests` lasts. TXT content is stored quoted, as Cloudflare
/// documents it. Records become visible to `POST /domains/{id}/verify` after `dns_propagation_ms`.
struct SimTXTRecord: Sendable {
    let id: String
    let zoneID: String
    let name: String
    /// As stored: quoted character-strings.
    let content: String
    let ttl: Int
    let added: Date
}

/// The account behind the simulated Cloudflare API. The defaults accept any bearer token and hold any
/// zone asked for, so the demo and most tests need no set-up.
public struct SimDNSAccount: Sendable {
    /// The zones the account holds; nil: every zone name asked for.
    public var zones: [String]?
    /// The API tokens it accepts; nil: any.
    public var tokens: [String]?
    /// This many next requests are answered 429 with `Retry-After: retryAfterSeconds`.
    public var throttleRequests = 0
    public var retryAfterSeconds = 1

    public init(zones: [String]? = nil, tokens: [String]? = nil, throttleRequests: Int = 0, retryAfterSeconds: Int = 1)
    {
        self.zones = zones
        self.tokens = tokens
        self.throttleRequests = throttleRequests
        self.retryAfterSeconds = retryAfterSeconds
    }
}

/// The DNS service's own state, under its own lock.
struct SimDNSState: Sendable {
    var account = SimDNSAccount()
    var records: [SimTXTRecord] = []
    /// Real DNS, as Microsoft sees it (`onboarder-sim --dns-server`): the TXT values of a name.
    var lookup: (@Sendable (String) -> [String])?
}

/// The simulated Cloudflare API (above) and the TXT records it holds, under its own lock: the DNS that
/// domain verification reads.
final class DNSService: Sendable {
    private let state = Mutex(SimDNSState())
    private let faults: FaultController
    private let counter: RequestCounter

    init(faults: FaultController, counter: RequestCounter) {
        self.faults = faults
        self.counter = counter
    }

    /// Replaces the DNS account's settings (records stay).
    func setAccount(_ account: SimDNSAccount) { state.withLock { $0.account = account } }

    /// Domain verification also looks TXT records up with `lookup` (a real DNS server), as Microsoft does.
    func setLookup(_ lookup: @escaping @Sendable (String) -> [String]) { state.withLock { $0.lookup = lookup } }

    /// A zone's id: 32 hex digits, as Cloudflare's, stable for a name.
    static func zoneID(_ name: String) -> String {
        String(((try? Digest.sha256(Array("zone:\(name)".utf8))) ?? []).hexString.prefix(32))
    }

    typealias Call = ServiceCall<DNSService>

    private static let table = RouteTable<Call>([
        Route("GET", "/client/v4/zones") { $0.service.listZones($0) },
        Route("GET", "/client/v4/zones/{zone}/dns_records") { $0.service.listRecords($0) },
        Route("POST", "/client/v4/zones/{zone}/dns_records") { $0.service.createRecord($0) },
        Route("DELETE", "/client/v4/zones/{zone}/dns_records/{record}") { $0.service.deleteRecord($0) },
    ])

    func handle(_ request: SimRequest) -> SimResponse {
        let segments = request.path.split(separator: "/")  // client v4 zones [id dns_records [id]]
        guard segments.count >= 3, segments[2] == "zones" else {
            return Self.dnsError(404, 7000, "No route for that URI")
        }
        let (account, throttled) = state.withLock { state -> (SimDNSAccount, Bool) in
            defer { state.account.throttleRequests = max(0, state.account.throttleRequests - 1) }
            return (state.account, state.account.throttleRequests > 0)
        }
        if throttled {
            counter.count("\(request.method) dns throttled")
            return Self.dnsError(
                429, 971, "Please wait and consider throttling your request speed",
                headers: [("Retry-After", String(account.retryAfterSeconds))])
        }
        guard let authorization = request.headers["authorization"], authorization.hasPrefix("Bearer "),
            authorization.count > 7
        else {
            return .json(
                400,
                #"{"success":false,"errors":[{"code":6003,"message":"Invalid request headers","error_chain":[{"code":6111,"message":"Invalid format for Authorization header"}]}],"messages":[],"result":null}"#
            )
        }
        if let tokens = account.tokens, !tokens.contains(String(authorization.dropFirst(7))) {
            return segments.count == 3
                ? Self.dnsError(403, 9109, "Invalid access token") : Self.dnsError(403, 10000, "Authentication error")
        }
        switch Self.table.resolve(request) {
        case .found(let route, let parameters):
            let call = Call(service: self, request: request, parameters: parameters)
            // Any zone's id is good when the account holds every zone; its name is then known only by the
            // records under it, so records are filed by zone id.
            if let zone = parameters["zone"], let zones = account.zones,
                !zones.contains(where: { Self.zoneID($0.lowercased()) == zone })
            {
                return Self.dnsError(
                    404, 7003, "Could not route to \(request.path), perhaps your object identifier is invalid?")
            }
            return route.handle(call)
        case .methodNotAllowed:
            return Self.dnsError(405, 10405, "Method not allowed")
        case .notFound:
            return Self.dnsError(
                404, 7003, "Could not route to \(request.path), perhaps your object identifier is invalid?")
        }
    }

    private func listZones(_ call: Call) -> SimResponse {
        let account = state.withLock { $0.account }
        counter.count("GET dns zones")
        let name = call.request.query["name"]?.lowercased()
        let names = account.zones.map { $0.map { $0.lowercased() } } ?? (name.map { [$0] } ?? [])
        let zones = names.filter { name == nil || $0 == name }.sorted().map { zone -> JSONValue in
            .object(["id": .string(Self.zoneID(zone)), "name": .string(zone), "status": .string("active")])
        }
        return Self.page(zones, call.request)
    }

    private func listRecords(_ call: Call) -> SimResponse {
        let zoneID = call["zone"]
        counter.count("GET dns records")
        let name = call.request.query["name"]?.lowercased()
        let type = call.request.query["type"]?.uppercased()
        let records = state.withLock { state in
            state.records.filter {
                $0.zoneID == zoneID && (name == nil || $0.name == name) && (type ?? "TXT") == "TXT"
            }
        }
        return Self.page(records.map(Self.recordJSON), call.request)
    }

    private func createRecord(_ call: Call) -> SimResponse {
        let zoneID = call["zone"]
        counter.count("POST dns records")
        guard let body = JSONValue.parse(call.request.body), body["type"]?.string?.uppercased() == "TXT",
            let name = body["name"]?.string?.lowercased(), let content = body["content"]?.string, !content.isEmpty
        else {
            return Self.dnsError(
                400, 9000, "DNS record type, name and content are required (this simulator serves TXT only)")
        }
        let stored = Self.quotedForm(content)
        let ttl = body["ttl"]?.number.map(Int.init) ?? 1
        let result = state.withLock { state -> SimTXTRecord? in
            guard !state.records.contains(where: { $0.zoneID == zoneID && $0.name == name && $0.content == stored })
            else { return nil }
            let record = SimTXTRecord(
                id: UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased(), zoneID: zoneID,
                name: name, content: stored, ttl: ttl, added: Date())
            state.records.append(record)
            return record
        }
        guard let result else { return Self.dnsError(400, 81058, "An identical record already exists.") }
        return .json(200, Self.envelope(Self.recordJSON(result)).text)
    }

    private func deleteRecord(_ call: Call) -> SimResponse {
        let zoneID = call["zone"]
        let id = call["record"]
        counter.count("DELETE dns records")
        let removed = state.withLock { state -> Bool in
            let before = state.records.count
            state.records.removeAll { $0.id == id && $0.zoneID == zoneID }
            return state.records.count < before
        }
        return removed
            ? .json(200, Self.envelope(.object(["id": .string(id)])).text)
            : Self.dnsError(404, 81044, "Record does not exist.")
    }

    /// The TXT values published for `name` that have propagated, and those real DNS has (the lookup).
    func txtRecords(_ name: String) -> [String] {
        let delay = faults.dnsPropagation
        let now = Date()
        let (published, lookup) = state.withLock { state in
            (
                state.records.filter { $0.name == name.lowercased() && now.timeIntervalSince($0.added) >= delay }
                    .map { Self.unquoted($0.content) }, state.lookup
            )
        }
        return published + (lookup?(name) ?? [])
    }

    // MARK: Cloudflare's shapes

    static func recordJSON(_ record: SimTXTRecord) -> JSONValue {
        .object([
            "id": .string(record.id), "zone_id": .string(record.zoneID), "type": .string("TXT"),
            "name": .string(record.name), "content": .string(record.content), "ttl": .number(Double(record.ttl)),
            "proxiable": .bool(false), "proxied": .bool(false),
            "created_on": .string(Timestamp.string(record.added)),
        ])
    }

    static func envelope(_ result: JSONValue, info: JSONValue? = nil) -> JSONValue {
        var fields: [String: JSONValue] = [
            "success": .bool(true), "errors": .array([]), "messages": .array([]), "result": result,
        ]
        if let info { fields["result_info"] = info }
        return .object(fields)
    }

    /// `page` (from 1) and `per_page` (5 to 5,000,000; Cloudflare's default 100) of `items`.
    static func page(_ items: [JSONValue], _ request: SimRequest) -> SimResponse {
        let perPage = min(max(Int(request.query["per_page"] ?? "") ?? 100, 5), 5_000_000)
        let page = max(Int(request.query["page"] ?? "") ?? 1, 1)
        let start = min((page - 1) * perPage, items.count)
        let slice = Array(items[start..<min(start + perPage, items.count)])
        let info = JSONValue.object([
            "page": .number(Double(page)), "per_page": .number(Double(perPage)), "count": .number(Double(slice.count)),
            "total_count": .number(Double(items.count)),
            "total_pages": .number(Double((items.count + perPage - 1) / perPage)),
        ])
        return .json(200, envelope(.array(slice), info: info).text)
    }

    static func dnsError(_ status: Int, _ code: Int, _ message: String, headers: [(String, String)] = []) -> SimResponse
    {
        .json(
            status,
            JSONValue.object([
                "success": .bool(false), "messages": .array([]), "result": .null,
                "errors": .array([.object(["code": .number(Double(code)), "message": .string(message)])]),
            ]).text, headers: headers)
    }

    /// Content as Cloudflare stores TXT records: quoted character-strings.
    static func quotedForm(_ content: String) -> String {
        content.hasPrefix("\"") && content.hasSuffix("\"") && content.count >= 2
            ? content
            : "\"" + content.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
                + "\""
    }

    /// The value of quoted content: the strings unescaped and joined.
    static func unquoted(_ content: String) -> String {
        var value = ""
        var inside = false
        var escaped = false
        for character in content {
            if escaped {
                value.append(character)
                escaped = false
            } else if character == "\\" && inside {
                escaped = true
            } else if character == "\"" {
                inside.toggle()
            } else if inside {
                value.append(character)
            }
        }
        return value
    }
}
