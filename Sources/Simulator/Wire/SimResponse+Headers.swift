extension SimResponse {
    /// The same response with `headers` added (Retry-After, x-ms-throttle-scope).
    func adding(_ headers: [(String, String)]) -> SimResponse {
        var response = self
        response.headers += headers
        return response
    }
}

extension SimResponse {
    /// The simulator's answer for a path no surface serves.
    static func unknownEndpoint(_ request: SimRequest) -> SimResponse {
        .json(
            404,
            #"{"error":{"code":"UnknownEndpoint","message":"The simulator does not serve \#(request.method) \#(request.path)."}}"#
        )
    }
}
