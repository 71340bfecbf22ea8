import Foundation

/// The headers Graph puts on every answer, success or error, injected fault included: `request-id` (its
/// own id for the request, the one an error's `innerError` repeats) and `client-request-id` (the
/// client's, else one it made up). `Date` is the HTTP server's, on every surface.
struct GraphResponseHeaders: Sendable {
    func wrap(_ next: @escaping Endpoint) -> Endpoint {
        { request in
            var handled = next(request)
            handled.response = Self.stamped(handled.response, request)
            return handled
        }
    }

    static func stamped(_ response: SimResponse, _ request: SimRequest) -> SimResponse {
        var response = response
        func has(_ name: String) -> Bool { response.headers.contains { $0.0.lowercased() == name } }
        if !has("request-id") { response.headers.append(("request-id", UUID().uuidString.lowercased())) }
        if !has("client-request-id") {
            response.headers.append(
                ("client-request-id", request.headers["client-request-id"] ?? UUID().uuidString.lowercased()))
        }
        return response
    }
}
