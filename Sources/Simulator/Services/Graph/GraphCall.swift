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

    /// One page of a collection (`$select` honoured): `$top` (default 100, at most 999) and an `@odata.nextLink` carrying a
    /// `$skiptoken` while more remain. `top`: a page size the resource decided itself (its own `$top` rules).
    func page(_ items: [JSONValue], collection: String, top decided: Int? = nil) -> SimResponse {
        let top = decided ?? max(1, min(Int(request.query["$top"] ?? "100") ?? 100, 999))
        let skip = Int(request.query["$skiptoken"] ?? "0") ?? 0
        var document: [String: JSONValue] = [
            "@odata.context": .string(context(collection, entity: false)),
            "value": .array(items.dropFirst(skip).prefix(top).map(projected)),
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
