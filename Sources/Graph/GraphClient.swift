import Foundation
import HTTP

/// An OData `$filter` built from typed parts, so values are always quoted and escaped (`'` → `''`), never
/// concatenated into a URL by hand.
public struct ODataFilter: Sendable, Equatable, CustomStringConvertible {
    public let description: String

    /// `property eq 'value'`.
    public static func equals(_ property: String, _ value: String) -> ODataFilter {
        ODataFilter(description: "\(property) eq '\(value.replacingOccurrences(of: "'", with: "''"))'")
    }

    public static func && (lhs: ODataFilter, rhs: ODataFilter) -> ODataFilter {
        ODataFilter(description: "\(lhs.description) and \(rhs.description)")
    }
}

/// One tenant's Microsoft Graph, reached with the app-only token of `credential`. Every failure comes out
/// as a classified `GraphError`.
///
/// Retries here are few and short: a read (GET) or a token request that fails transiently with no
/// Retry-After or one of at most a second is tried again up to `quickRetries` times after 100–300 ms (times
/// the try). Reads change nothing and a token request is sent before the write it serves, so neither can
/// apply anything twice; writes are never retried here — their step is rescheduled, re-reads what exists
/// and gives its slot back meanwhile, as are longer waits. (At a 10% fault rate a step of a dozen calls
/// failed its ten attempts about once in 500 customers without this; `scripts/chaos`.)
public struct GraphClient: Sendable {
    /// Extra tries of a read or token request after a short transient failure.
    public var quickRetries = 2
    public let http: HTTPClient
    public let tokens: TokenClient
    /// `https://graph.microsoft.com/v1.0`, or the simulator's.
    public let baseURL: String
    public let tenant: String
    public let clientID: String
    public let credential: ClientCredential

    public init(
        http: HTTPClient, tokens: TokenClient, baseURL: String, tenant: String, clientID: String,
        credential: ClientCredential
    ) {
        self.http = http
        self.tokens = tokens
        self.baseURL = baseURL
        self.tenant = tenant
        self.clientID = clientID
        self.credential = credential
    }

    /// Sends a request; returns the decoded JSON body (nil for 204). `context` informs the classification.
    public func send(
        _ method: String, _ path: String, query: [(String, String)] = [], body: (any Encodable & Sendable)? = nil,
        headers: [(name: String, value: String)] = [], context: FailureContext = FailureContext()
    ) async throws -> (status: Int, json: Any?) {
        let response = try await sendRaw(method, path, query: query, body: body, headers: headers, context: context)
        let json = response.body.isEmpty ? nil : try? JSONSerialization.jsonObject(with: Data(response.body))
        return (response.status, json)
    }

    /// Sends a request and decodes the answer into `type` (a typed Graph model).
    public func send<T: Decodable>(
        _ type: T.Type, _ method: String, _ path: String, query: [(String, String)] = [],
        body: (any Encodable & Sendable)? = nil, headers: [(name: String, value: String)] = [],
        context: FailureContext = FailureContext()
    ) async throws -> T {
        let response = try await sendRaw(method, path, query: query, body: body, headers: headers, context: context)
        do {
            return try JSONDecoder().decode(T.self, from: Data(response.body))
        } catch {
            throw GraphError(
                failure: .transient(retryAfter: nil), status: response.status, code: "UnreadableResponse",
                message: "\(method) \(path) answered with a body that is not a \(T.self): \(error)",
                clientRequestID: response.clientRequestID, serverRequestID: response.header("request-id"))
        }
    }

    /// Every item of a collection as `T`, following `@odata.nextLink` page by page.
    public func items<T: Decodable & Sendable>(
        _ type: T.Type, _ path: String, filter: ODataFilter? = nil, select: [String] = [], top: Int? = nil,
        context: FailureContext = FailureContext()
    ) async throws -> [T] {
        var query: [(String, String)] = []
        if let filter { query.append(("$filter", filter.description)) }
        if !select.isEmpty { query.append(("$select", select.joined(separator: ","))) }
        if let top { query.append(("$top", String(top))) }
        var page = try await send(ODataPage<T>.self, "GET", path, query: query, context: context)
        var items = page.value
        while let next = page.nextLink {
            page = try await send(ODataPage<T>.self, "GET", next, context: context)
            items += page.value
        }
        return items
    }

    /// The HTTP exchange under every call: token, headers, classification of failures.
    public func sendRaw(
        _ method: String, _ path: String, query: [(String, String)] = [], body: (any Encodable & Sendable)? = nil,
        headers: [(name: String, value: String)] = [], context: FailureContext = FailureContext(),
        freshConnection: Bool = false
    ) async throws -> HTTPResponse {
        var context = context
        context.tenantID = context.tenantID ?? tenant
        context.clientID = context.clientID ?? clientID
        context.loginBaseURL = tokens.loginBaseURL
        let token = try await quickly(retrying: true) {
            try await tokens.token(tenant: tenant, clientID: clientID, credential: credential, context: context)
        }
        var url = path.hasPrefix("http") ? path : baseURL + path
        if !query.isEmpty {
            let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
            url +=
                "?"
                + query.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed) ?? $0.1)" }.joined(
                    separator: "&")
        }
        var allHeaders = headers + [("Authorization", "Bearer \(token.value)"), ("Accept", "application/json")]
        var bytes: [UInt8]?
        if let body {
            bytes = Array(try JSONEncoder().encode(body))
            allHeaders.append(("Content-Type", "application/json"))
        }
        var request = HTTPRequest(method: method, url: url, headers: allHeaders, body: bytes)
        request.freshConnection = freshConnection
        return try await quickly(retrying: method == "GET") { [request, context] in
            let response: HTTPResponse
            do {
                response = try await http.execute(request)
            } catch let error as HTTPError {
                throw FailureClassifier.classify(error)
            }
            guard (200..<300).contains(response.status) else {
                // A refused token may carry roles consented since it was issued: the next try fetches a new one.
                if response.status == 401 || response.status == 403 {
                    await tokens.cache.invalidate(
                        TokenKey(
                            authority: tokens.loginBaseURL, tenant: tenant, clientID: clientID,
                            scope: "https://graph.microsoft.com/.default"))
                }
                throw FailureClassifier.classify(response, context: context)
            }
            return response
        }
    }

    /// Runs `body`, and when `retrying`, runs it again (up to `quickRetries` times) after a transient
    /// failure that asked for no wait or at most a second's.
    private func quickly<T>(retrying: Bool, _ body: () async throws -> T) async throws -> T {
        var tries = 0
        while true {
            do {
                return try await body()
            } catch let error as GraphError {
                guard retrying, tries < quickRetries, case .transient(let after) = error.failure,
                    (after ?? .zero) <= .seconds(1)
                else { throw error }
                tries += 1
                try await Task.sleep(for: .milliseconds(Int.random(in: 100...300) * tries))
            }
        }
    }

    /// Every item of a collection, following `@odata.nextLink` page by page.
    public func list(_ path: String, filter: ODataFilter? = nil, select: [String] = [], top: Int? = nil) async throws
        -> [[String: Any]]
    {
        var query: [(String, String)] = []
        if let filter { query.append(("$filter", filter.description)) }
        if !select.isEmpty { query.append(("$select", select.joined(separator: ","))) }
        if let top { query.append(("$top", String(top))) }
        var items: [[String: Any]] = []
        var (_, page) = try await send("GET", path, query: query)
        while true {
            let object = page as? [String: Any]
            items += object?["value"] as? [[String: Any]] ?? []
            guard let next = object?["@odata.nextLink"] as? String else { return items }
            (_, page) = try await send("GET", next)
        }
    }

    // MARK: Typed calls (ARCHITECTURE §2)

    public func organizationID() async throws -> String? {
        let (_, json) = try await send("GET", "/organization")
        return ((json as? [String: Any])?["value"] as? [[String: Any]])?.first?["id"] as? String
    }

    /// Creates the application, or updates the one with `uniqueName` (the idempotent upsert: a retried
    /// create after a lost response cannot make a second app). Returns the app as Graph shows it.
    public func upsertApplication(uniqueName: String, _ properties: [String: JSONBody]) async throws -> [String: Any] {
        let escaped = uniqueName.replacingOccurrences(of: "'", with: "''")
        _ = try await send(
            "PATCH", "/applications(uniqueName='\(escaped)')", body: properties,
            headers: [("Prefer", "create-if-missing")])
        // Read back by the same key: the upsert's answer is 201 or 204 and carries no body on update.
        return (try await send("GET", "/applications(uniqueName='\(escaped)')").json as? [String: Any]) ?? [:]
    }

    public func application(id: String, context: FailureContext = FailureContext()) async throws -> [String: Any] {
        (try await send("GET", "/applications/\(id)", context: context).json as? [String: Any]) ?? [:]
    }

    /// `addPassword`: the response is the only time Graph shows `secretText`.
    public func addPassword(applicationID: String, displayName: String, end: Date) async throws -> (
        keyID: String, secret: String, end: String
    ) {
        let formatter = ISO8601DateFormatter()
        let body: [String: JSONBody] = [
            "passwordCredential": .object([
                "displayName": .string(displayName), "endDateTime": .string(formatter.string(from: end)),
            ])
        ]
        // Never sent twice by the transport: a second run would add a second secret nobody receives.
        let response = try await sendRaw(
            "POST", "/applications/\(applicationID)/addPassword", body: body, freshConnection: true)
        let object = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any]
        guard let keyID = object?["keyId"] as? String, let secret = object?["secretText"] as? String else {
            throw GraphError(
                failure: .transient(retryAfter: nil), status: 200, code: nil,
                message: "addPassword answered without a secret",
                clientRequestID: UUID(), serverRequestID: nil)
        }
        return (keyID, secret, object?["endDateTime"] as? String ?? "")
    }

    public func removePassword(applicationID: String, keyID: String) async throws {
        _ = try await send(
            "POST", "/applications/\(applicationID)/removePassword", body: ["keyId": JSONBody.string(keyID)])
    }

    /// The service principal of `appID`, creating it if missing (found by appId first).
    public func ensureServicePrincipal(appID: String, context: FailureContext = FailureContext()) async throws
        -> [String: Any]
    {
        if let existing = try await list("/servicePrincipals", filter: .equals("appId", appID)).first {
            return existing
        }
        return
            (try await send("POST", "/servicePrincipals", body: ["appId": JSONBody.string(appID)], context: context)
            .json as? [String: Any]) ?? [:]
    }

    /// Microsoft Graph's service principal in this tenant, with its app roles and scopes: where permission
    /// names are resolved to ids, by value.
    public func graphServicePrincipal() async throws -> [String: Any] {
        (try await send("GET", "/servicePrincipals(appId='00000003-0000-0000-c000-000000000000')").json
            as? [String: Any]) ?? [:]
    }
}

/// A JSON request body built without `Any`.
public enum JSONBody: Encodable, Sendable {
    case string(String)
    case bool(Bool)
    case int(Int)
    case array([JSONBody])
    case object([String: JSONBody])
    case null

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let value): try container.encode(value)
        case .bool(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        case .null: try container.encodeNil()
        }
    }
}
