import Foundation

/// Microsoft Graph v1.0 (`/v1.0/…`), or its beta (`/beta/…`, the reports), as one surface: authentication from the access token, a request count
/// per collection, the routes of the Graph services (applications, service principals and consent, the
/// directory) behind one `(method, path pattern)` table, each handler run with the directory locked, and
/// Graph's answers for what no route covers: 400 "Resource not found for the segment" and 405.
struct GraphSurface: Sendable {
    /// The Graph of each cloud (global, GCC High, 21Vianet) a token may be for: the simulator serves them all.
    static let graphAudiences = [
        "https://graph.microsoft.com", "https://graph.microsoft.us", "https://microsoftgraph.chinacloudapi.cn",
    ]

    let directory: DirectoryStore
    let tokens: EntraTokenService
    let counter: RequestCounter
    let scheme: @Sendable () -> String
    let table: RouteTable<GraphCall>

    init(
        directory: DirectoryStore, tokens: EntraTokenService, counter: RequestCounter,
        scheme: @escaping @Sendable () -> String, routes: [Route<GraphCall>]
    ) {
        self.directory = directory
        self.tokens = tokens
        self.counter = counter
        self.scheme = scheme
        table = RouteTable(routes)
    }

    /// `counted`: false for the requests a simulated PBX makes in process, which are not the client's.
    func handle(_ request: SimRequest, counted: Bool = true) -> SimResponse {
        let clientRequestID = request.headers["client-request-id"] ?? UUID().uuidString.lowercased()
        guard let caller = authenticate(request) else {
            return GraphErrors.odata(
                401, "InvalidAuthenticationToken", "Access token is empty or invalid.", clientRequestID: clientRequestID
            )
        }
        // One key per collection: `servicePrincipals(appId='…')` counts as `servicePrincipals`.
        let collection = request.path.split(separator: "/").dropFirst().first.map {
            String($0.split(separator: "(").first ?? $0)
        }
        if counted { counter.count("\(request.method) \(collection ?? "")") }
        switch table.resolve(request) {
        case .found(let route, let parameters):
            let scheme = scheme()
            return directory.withWorld { world in
                route.handle(
                    GraphCall(
                        request: request, parameters: parameters, caller: caller, world: world,
                        clientRequestID: clientRequestID, scheme: scheme))
            }
        case .methodNotAllowed:
            return GraphErrors.odata(405, "Request_BadRequest", "Method not allowed.", clientRequestID: clientRequestID)
        case .notFound(let segment):
            return GraphErrors.odata(
                400, "BadRequest", "Resource not found for the segment '\(segment)'.", clientRequestID: clientRequestID)
        }
    }

    /// The caller's tenant and roles, from a token this simulator issued and that has not expired.
    func authenticate(_ request: SimRequest) -> GraphCaller? {
        guard let header = request.headers["authorization"], header.hasPrefix("Bearer "),
            let claims = tokens.verifiedClaims(String(header.dropFirst(7))),
            claims.exp > Int(Date().timeIntervalSince1970),
            GraphSurface.graphAudiences.contains(where: { claims.aud.hasPrefix($0) }),
            let tenantID = UUID(uuidString: claims.tid),
            let tenant = directory.withWorld({ $0.tenants[tenantID] })
        else { return nil }
        return GraphCaller(tenant: tenant, roles: Set(claims.roles ?? []))
    }
}
