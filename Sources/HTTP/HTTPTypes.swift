import Foundation

/// An HTTP request. Header names are sent as given; a `client-request-id` is added when absent.
public struct HTTPRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]?
    /// Overrides the client's total timeout for this request.
    public var timeout: Duration?
    /// Sent as `client-request-id` (Microsoft Graph and Entra echo it and log it on their side).
    public var clientRequestID: UUID
    /// Use a new connection. libcurl silently sends a request again when a reused keep-alive connection
    /// dies before any answer — right for a stale idle connection, wrong for a request the server did
    /// apply before the connection broke (a POST that creates a secret would run twice). On a fresh
    /// connection libcurl never does that, so requests that must not run twice ask for one.
    public var freshConnection = false

    public init(
        method: String = "GET", url: String, headers: [(name: String, value: String)] = [], body: [UInt8]? = nil,
        timeout: Duration? = nil, clientRequestID: UUID = UUID()
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.clientRequestID = clientRequestID
    }
}

/// A complete response.
public struct HTTPResponse: Sendable {
    public let status: Int
    /// Names lowercased, in arrival order (the final response's headers only, after redirects).
    public let headers: [(name: String, value: String)]
    public let body: [UInt8]
    public let clientRequestID: UUID
    /// Wall time from sending to the last byte.
    public let elapsed: Duration

    public init(
        status: Int, headers: [(name: String, value: String)], body: [UInt8], clientRequestID: UUID,
        elapsed: Duration = .zero
    ) {
        self.status = status
        // The client's own headers come lower-cased already (`ResponseHeaderLine`): kept as they are.
        let lowered = headers.allSatisfy { header in
            !header.name.utf8.contains { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }
        }
        self.headers = lowered ? headers : headers.map { (name: $0.name.lowercased(), value: $0.value) }
        self.body = body
        self.clientRequestID = clientRequestID
        self.elapsed = elapsed
    }

    public func header(_ name: String) -> String? {
        let lowered = name.lowercased()
        return headers.last { $0.name == lowered }?.value
    }

    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// A transport failure (no HTTP status to speak of). HTTP error statuses are responses, not errors.
public struct HTTPError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        public static let invalidRequest = Code("invalid request")
        public static let couldNotResolve = Code("could not resolve host")
        public static let couldNotConnect = Code("could not connect")
        public static let timedOut = Code("timed out")
        public static let tls = Code("TLS failure")
        /// The connection broke mid-request, or closed without an answer: the server may have applied it.
        public static let connectionLost = Code("connection lost")
        public static let tooManyRedirects = Code("too many redirects")
        public static let shutdown = Code("client shut down")
        public static let other = Code("transfer failed")
    }

    public let code: Code
    public let message: String
    public let method: String
    /// Scheme, host and path only: query strings can carry secrets.
    public let url: String
    public let clientRequestID: UUID
    public let curlCode: Int32?

    public init(code: Code, message: String, method: String, url: String, clientRequestID: UUID, curlCode: Int32? = nil)
    {
        self.code = code
        self.message = message
        self.method = method
        self.url = url
        self.clientRequestID = clientRequestID
        self.curlCode = curlCode
    }

    /// Worth retrying: the request may never have reached the server, or its answer was lost.
    public var isTransient: Bool {
        [.couldNotConnect, .timedOut, .connectionLost, .couldNotResolve].contains(code)
    }

    public var description: String {
        "\(code): \(message) (\(method) \(url), client-request-id \(clientRequestID.uuidString.lowercased()))"
    }
}

/// How the client behaves. Defaults suit Microsoft Graph and Entra ID.
public struct HTTPClientConfiguration: Sendable {
    public var connectTimeout: Duration = .seconds(10)
    public var totalTimeout: Duration = .seconds(60)
    /// Extra CA certificates (PEM file) to trust, e.g. a test CA; nil uses the system store.
    public var caBundlePath: String?
    /// Certificate verification; turning it off is for nothing but local experiments.
    public var verifyTLS = true
    /// Redirects followed by GET and HEAD (HTTPS only, never to plain HTTP); other methods never follow one.
    public var maxRedirects = 5
    /// Connections kept per host (HTTP/1.1); HTTP/2 multiplexes on one.
    public var maxConnectionsPerHost = 64
    public var userAgent = "onboarder/0.1"

    public init() {}
}
