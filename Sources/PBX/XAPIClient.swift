import Foundation
import Graph
import HTTP
import Synchronization

/// A customer's PBX through the 3CX V20 XAPI (shapes in
/// `Tests/Fixtures/3cx/xapi-subset.openapi.json`): OAuth client credentials at `{pbx}/connect/token`,
/// OData v4 at `{pbx}/xapi/v1`.
///
/// 3CX keeps only one access token active per API client: a second token silently invalidates the first.
/// So one `XAPIClient` exists per PBX in a process (`XAPIDirectory`), its calls run one at a time, and the
/// token is cached and fetched again only when the PBX refuses it. Across processes, the queue's
/// per-tenant limit (one running job per customer, whose PBX it is) keeps two workers off one PBX.
///
/// Failures come out as `GraphError`s classified like Graph's (one error model): 5xx and transport
/// failures transient, refused API credentials needs-attention with the fix in words.
public final class XAPIClient: Sendable {
    public let baseURL: String
    public let clientID: String
    private let secret: String
    private let http: HTTPClient
    private let gate = AsyncGate()
    private let state = Mutex<String?>(nil)

    public init(http: HTTPClient, baseURL: String, clientID: String, secret: String) {
        self.http = http
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.clientID = clientID
        self.secret = secret
    }

    func uses(secret: String) -> Bool { self.secret == secret }

    // MARK: Microsoft365Integration

    public struct Microsoft365Integration: Codable, Sendable {
        public struct AdUsers: Codable, Sendable {
            public var IsEnabled: Bool?
            public var SelectedUsers: [String]?
            public var SelectedGroups: [String]?
        }
        public var ApplicationId: String?
        public var TenantId: String?
        public var AdUsers: AdUsers?
    }

    public func microsoft365Integration() async throws -> Microsoft365Integration {
        try decode(Microsoft365Integration.self, try await call("GET", "/xapi/v1/Microsoft365Integration"))
    }

    /// Sets the tenant and application the PBX signs in with.
    public func setMicrosoft365Application(tenantID: String, applicationID: String) async throws {
        _ = try await call(
            "PATCH", "/xapi/v1/Microsoft365Integration",
            body: ["TenantId": .string(tenantID), "ApplicationId": .string(applicationID)])
    }

    /// Turns the user sync on for exactly `users` (UPNs).
    public func setSelectedUsers(_ users: [String]) async throws {
        _ = try await call(
            "PATCH", "/xapi/v1/Microsoft365Integration",
            body: [
                "AdUsers": .object(["IsEnabled": .bool(true), "SelectedUsers": .array(users.map { .string($0) })])
            ])
    }

    public struct SubscriptionTest: Decodable, Sendable {
        public var IsSubscriptionAvailable: Bool
        public var ExceptionMessage: String?
    }

    /// The PBX's own "Log into Microsoft 365" check.
    public func testSubscription() async throws -> SubscriptionTest {
        try decode(
            SubscriptionTest.self, try await call("GET", "/xapi/v1/Microsoft365Integration/Pbx.TestSubscription()"))
    }

    // MARK: Microsoft365TeamsIntegration

    public func setTeamsIntegration(sbcFQDN: String, sipDomain: String) async throws {
        _ = try await call(
            "PATCH", "/xapi/v1/Microsoft365TeamsIntegration",
            body: ["Enabled": .bool(true), "SbcFQDN": .string(sbcFQDN), "SipDomain": .string(sipDomain)])
    }

    /// `GetDialPlanScript()` or `GetMapUsersScript()`: Teams PowerShell for the operator to run.
    public func teamsScript(_ function: String) async throws -> String {
        struct Value: Decodable { var value: String }
        return try decode(
            Value.self, try await call("GET", "/xapi/v1/Microsoft365TeamsIntegration/Pbx.\(function)()")
        ).value
    }

    // MARK: Offboarding

    /// The Teams page as the PBX holds it.
    public struct Microsoft365TeamsIntegration: Codable, Sendable {
        public var Enabled: Bool?
        public var SbcFQDN: String?
        public var SipDomain: String?
    }

    public func microsoft365TeamsIntegration() async throws -> Microsoft365TeamsIntegration {
        try decode(
            Microsoft365TeamsIntegration.self, try await call("GET", "/xapi/v1/Microsoft365TeamsIntegration"))
    }

    /// Clears the Microsoft 365 page: the two ids are non-nullable strings in the XAPI schema, so emptied
    /// (as an unconfigured PBX answers them), and the user sync stops with an empty selection.
    public func clearMicrosoft365Integration() async throws {
        _ = try await call(
            "PATCH", "/xapi/v1/Microsoft365Integration",
            body: [
                "TenantId": .string(""), "ApplicationId": .string(""),
                "AdUsers": .object(["IsEnabled": .bool(false), "SelectedUsers": .array([])]),
            ])
    }

    /// Turns the Teams integration off: disabled, no SBC name (SbcFQDN and SipDomain are nullable).
    public func disableTeamsIntegration() async throws {
        _ = try await call(
            "PATCH", "/xapi/v1/Microsoft365TeamsIntegration",
            body: ["Enabled": .bool(false), "SbcFQDN": .null, "SipDomain": .null])
    }

    // MARK: The exchange

    /// One XAPI call, serialised with every other call to this PBX; a refused token is fetched again once.
    func call(_ method: String, _ path: String, body: [String: JSONBody]? = nil) async throws -> [UInt8] {
        try await gate.run {
            for attempt in 0..<2 {
                let token = try await currentToken(renew: attempt > 0)
                var headers: [(name: String, value: String)] = [
                    ("Authorization", "Bearer \(token)"), ("Accept", "application/json"),
                ]
                var bytes: [UInt8]?
                if let body {
                    bytes = Array(try JSONEncoder().encode(body))
                    headers.append(("Content-Type", "application/json"))
                }
                let response = try await exchange(
                    HTTPRequest(method: method, url: baseURL + path, headers: headers, body: bytes))
                if response.status == 401 && attempt == 0 { continue }
                guard (200..<300).contains(response.status) else { throw classify(response, path: path) }
                return response.body
            }
            preconditionFailure("unreachable")
        }
    }

    private func currentToken(renew: Bool) async throws -> String {
        if !renew, let token = state.withLock({ $0 }) { return token }
        let response = try await exchange(
            HTTPRequest(
                method: "POST", url: baseURL + "/connect/token",
                headers: [("Content-Type", "application/x-www-form-urlencoded")],
                body: FormEncoding.encode([
                    ("grant_type", "client_credentials"), ("client_id", clientID), ("client_secret", secret),
                ])))
        struct Body: Decodable { var access_token: String }
        guard response.status == 200, let body = try? JSONDecoder().decode(Body.self, from: Data(response.body))
        else {
            if response.status == 400 || response.status == 401 {
                throw GraphError(
                    failure: .needsAttention(
                        fix:
                            "The PBX at \(baseURL) refused its API credentials (client id \(clientID)): check the API client under Integrations → API in the PBX's admin and the secret Onboarder was given for it."
                    ), status: response.status, code: "invalid_client", message: "XAPI token refused",
                    clientRequestID: response.clientRequestID, serverRequestID: nil)
            }
            throw classify(response, path: "/connect/token")
        }
        state.withLock { $0 = body.access_token }
        return body.access_token
    }

    private func exchange(_ request: HTTPRequest) async throws -> HTTPResponse {
        do {
            return try await http.execute(request)
        } catch let error as HTTPError {
            throw FailureClassifier.classify(error)
        }
    }

    private func classify(_ response: HTTPResponse, path: String) -> GraphError {
        struct Body: Decodable {
            struct Inner: Decodable { var message: String? }
            var error: Inner?
        }
        let message =
            (try? JSONDecoder().decode(Body.self, from: Data(response.body)))?.error?.message
            ?? "HTTP \(response.status)"
        let failure: FailureClass
        switch response.status {
        case 408, 429, 500, 502, 503, 504:
            failure = .transient(retryAfter: response.header("retry-after").flatMap(FailureClassifier.parseRetryAfter))
        case 401, 403:
            failure = .needsAttention(
                fix: "The PBX at \(baseURL) refuses Onboarder's API client on \(path): give the API client access.")
        default:
            failure = .invalidRequest
        }
        return GraphError(
            failure: failure, status: response.status, code: "XAPI", message: "PBX \(path): \(message)",
            clientRequestID: response.clientRequestID, serverRequestID: nil)
    }

    private func decode<T: Decodable>(_ type: T.Type, _ bytes: [UInt8]) throws -> T {
        do { return try JSONDecoder().decode(T.self, from: Data(bytes)) } catch {
            throw GraphError(
                failure: .transient(retryAfter: nil), status: 200, code: "XAPI",
                message: "the PBX at \(baseURL) answered with a body that is not a \(T.self)", clientRequestID: UUID(),
                serverRequestID: nil)
        }
    }
}

/// One `XAPIClient` per PBX in this process, so that its one-token rule holds. A client unused for
/// `idleLimit` is dropped (a daemon that onboards 10,000 customers does not keep 10,000 clients and their
/// tokens); a changed secret replaces the client.
public final class XAPIDirectory: Sendable {
    private struct Entry {
        let client: XAPIClient
        var lastUsed: ContinuousClock.Instant
    }
    private struct State {
        var entries: [String: Entry] = [:]
        var sweepAt = 256
    }

    private let http: HTTPClient
    private let idleLimit: Duration
    private let state = Mutex(State())

    public init(http: HTTPClient, idleLimit: Duration = .seconds(600)) {
        self.http = http
        self.idleLimit = idleLimit
    }

    /// Clients held now (for tests and diagnostics).
    public var count: Int { state.withLock { $0.entries.count } }

    public func client(baseURL: String, clientID: String, secret: String) -> XAPIClient {
        let now = ContinuousClock.now
        return state.withLock { state in
            let key = "\(baseURL)\n\(clientID)"
            if var entry = state.entries[key], entry.client.uses(secret: secret) {
                entry.lastUsed = now
                state.entries[key] = entry
                return entry.client
            }
            let client = XAPIClient(http: http, baseURL: baseURL, clientID: clientID, secret: secret)
            state.entries[key] = Entry(client: client, lastUsed: now)
            if state.entries.count >= state.sweepAt {
                let limit = idleLimit
                state.entries = state.entries.filter { now - $0.value.lastUsed < limit }
                state.sweepAt = max(256, state.entries.count * 2)
            }
            return client
        }
    }
}
