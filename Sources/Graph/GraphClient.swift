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
/// as a classified `GraphError`. Its calls are typed, one file per resource in `Endpoints/`: paths, bodies
/// and `$select`s live there only, so what the tests check is what the pipeline sends.
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
    /// The token's scope: the cloud's Graph (`CloudEndpoints.graphScope`).
    public var scope = CloudEndpoints.documented(.global).graphScope

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

    /// Sends a request and decodes the answer into `type` (a typed Graph model).
    func send<T: Decodable>(
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
    func items<T: Decodable & Sendable>(
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
    func sendRaw(
        _ method: String, _ path: String, query: [(String, String)] = [], body: (any Encodable & Sendable)? = nil,
        headers: [(name: String, value: String)] = [], context: FailureContext = FailureContext(),
        freshConnection: Bool = false
    ) async throws -> HTTPResponse {
        var context = context
        context.tenantID = context.tenantID ?? tenant
        context.clientID = context.clientID ?? clientID
        context.loginBaseURL = tokens.loginBaseURL
        let token = try await quickly(retrying: true) {
            try await tokens.token(
                tenant: tenant, clientID: clientID, credential: credential, scope: scope, context: context)
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
                            scope: scope))
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
}
