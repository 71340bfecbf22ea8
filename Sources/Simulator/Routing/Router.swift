/// One route: a method, a path pattern, and the handler that answers it. `Call` is what the surface
/// hands its handlers: the request, the pattern's parameters and the service, and on Graph the
/// authenticated caller, on the XAPI the PBX addressed.
package struct Route<Call>: Sendable {
    package let method: String
    package let pattern: PathPattern
    let handle: @Sendable (Call) -> SimResponse

    package init(_ method: String, _ pattern: String, _ handle: @escaping @Sendable (Call) -> SimResponse) {
        self.method = method
        self.pattern = PathPattern(pattern)
        self.handle = handle
    }
}

/// A request with the parameters its route's pattern took from the path, and the service that answers:
/// the `Call` of the surfaces that need nothing more. Route tables are built once (`static let`), so a
/// handler reaches its service through the call rather than by capturing it.
struct ServiceCall<Service: Sendable>: Sendable {
    let service: Service
    let request: SimRequest
    let parameters: [String: String]

    /// A parameter the pattern names (a route's handler only asks for its own pattern's names).
    subscript(_ name: String) -> String { parameters[name] ?? "" }
}

/// What a route table makes of a request: the route, a path it knows with another method (405), or a path
/// it does not know, with the first segment no route accepts (Graph names it in its 400).
package enum Resolution<Context> {
    case found(Route<Context>, [String: String])
    case methodNotAllowed
    case notFound(segment: String)
}

/// The `(method, path pattern)` table of one surface. Patterns are tried in order; the first match wins.
package struct RouteTable<Context>: Sendable {
    let routes: [Route<Context>]

    package init(_ routes: [Route<Context>]) { self.routes = routes }

    package func resolve(_ request: SimRequest) -> Resolution<Context> {
        let path = request.path.split(separator: "/")
        var pathKnown = false
        for route in routes {
            guard let parameters = route.pattern.match(path) else { continue }
            if route.method == request.method { return .found(route, parameters) }
            pathKnown = true
        }
        if pathKnown { return .methodNotAllowed }
        let deepest = routes.map { $0.pattern.matchedPrefix(path) }.max() ?? 0
        return .notFound(segment: deepest < path.count ? String(path[deepest]) : String(path.last ?? ""))
    }
}

/// What a surface's endpoint hands back through the middleware: the response, a delay to answer after
/// (latency injection), and whether to drop the connection instead (a lost response).
struct Handled: Sendable {
    var response: SimResponse
    var delay: Duration = .zero
    var dropped = false
}

typealias Endpoint = @Sendable (SimRequest) -> Handled

/// A surface the simulator serves: the leading path segments it owns (a pattern, so `/{tenant}/oauth2`
/// works as well as `/v1.0`) and the endpoint, already wrapped in its middleware, that answers there.
struct Mount: Sendable {
    let prefix: PathPattern
    let endpoint: Endpoint

    func owns(_ path: [Substring]) -> Bool {
        path.count >= prefix.segments.count && prefix.match(Array(path.prefix(prefix.segments.count))) != nil
    }
}

/// The simulator's front door: the first mount whose prefix matches answers; nothing matching is the
/// simulator's own 404.
struct Router: Sendable {
    let mounts: [Mount]
    let unknown: Endpoint

    func handle(_ request: SimRequest) -> Handled {
        let path = request.path.split(separator: "/")
        return (mounts.first { $0.owns(path) }?.endpoint ?? unknown)(request)
    }
}
