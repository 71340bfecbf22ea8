import Foundation

/// The caller of a Graph request, from the access token the token endpoint issued.
struct GraphCaller {
    let tenant: SimTenant
    let roles: Set<String>
}

/// An authenticated Graph request as a route's handler sees it, with the directory locked.
struct GraphCall {
    let request: SimRequest
    let parameters: [String: String]
    let caller: GraphCaller
    let world: World
    let clientRequestID: String
    /// `http` or `https`: the scheme of the links handed out (`@odata.nextLink`).
    let scheme: String

    var tenant: SimTenant { caller.tenant }

    subscript(_ name: String) -> String { parameters[name] ?? "" }

    /// Graph's error body, with this request's client-request-id.
    func error(_ status: Int, _ code: String, _ message: String) -> SimResponse {
        GraphErrors.odata(status, code, message, clientRequestID: clientRequestID)
    }

    /// 403 unless the caller holds one of `allowed`.
    func require(_ allowed: Set<String>) -> SimResponse? {
        caller.roles.isDisjoint(with: allowed)
            ? error(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.") : nil
    }

    func notFound(_ id: String) -> SimResponse {
        error(
            404, "Request_ResourceNotFound",
            "Resource '\(id)' does not exist or one of its queried reference-property objects are not present.")
    }

    /// The body as a JSON object, or nil (the handler answers "Unable to read JSON request payload.").
    var jsonObject: [String: JSONValue]? { JSONValue.parse(request.body)?.object }

    var unreadableBody: SimResponse { error(400, "BadRequest", "Unable to read JSON request payload.") }

    /// One page of a collection: `$top` (default 100, at most 999) and an `@odata.nextLink` carrying a
    /// `$skiptoken` while more remain.
    func page(_ items: [JSONValue], collection: String) -> SimResponse {
        let top = max(1, min(Int(request.query["$top"] ?? "100") ?? 100, 999))
        let skip = Int(request.query["$skiptoken"] ?? "0") ?? 0
        var document: [String: JSONValue] = [
            "@odata.context": .string("https://graph.microsoft.com/v1.0/$metadata#\(collection)"),
            "value": .array(Array(items.dropFirst(skip).prefix(top))),
        ]
        if skip + top < items.count {
            var query = request.query
            query["$skiptoken"] = String(skip + top)
            let queryText = query.sorted { $0.key < $1.key }
                .map {
                    "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0.value)"
                }
                .joined(separator: "&")
            let host = request.headers["host"].map { "\(scheme)://\($0)" } ?? ""
            document["@odata.nextLink"] = .string("\(host)/v1.0/\(collection)?\(queryText)")
        }
        return .json(200, JSONValue.object(document).text)
    }
}

/// Graph's error shape.
enum GraphErrors {
    static func odata(_ status: Int, _ code: String, _ message: String, clientRequestID: String) -> SimResponse {
        let body = JSONValue.object([
            "error": .object([
                "code": .string(code), "message": .string(message),
                "innerError": .object([
                    "date": .string(Timestamp.string(Date())),
                    "request-id": .string(UUID().uuidString.lowercased()),
                    "client-request-id": .string(clientRequestID),
                ]),
            ])
        ])
        return .json(status, body.text, headers: [("client-request-id", clientRequestID)])
    }
}

/// Microsoft Graph v1.0 (`/v1.0/…`) as one surface: authentication from the access token, a request count
/// per collection, the routes of the Graph services (applications, service principals and consent, the
/// directory) behind one `(method, path pattern)` table, each handler run with the directory locked, and
/// Graph's answers for what no route covers: 400 "Resource not found for the segment" and 405.
struct GraphSurface: Sendable {
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

    func handle(_ request: SimRequest) -> SimResponse {
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
        counter.count("\(request.method) \(collection ?? "")")
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
            claims.exp > Int(Date().timeIntervalSince1970), claims.aud.hasPrefix("https://graph.microsoft.com"),
            let tenantID = UUID(uuidString: claims.tid),
            let tenant = directory.withWorld({ $0.tenants[tenantID] })
        else { return nil }
        return GraphCaller(tenant: tenant, roles: Set(claims.roles ?? []))
    }
}
