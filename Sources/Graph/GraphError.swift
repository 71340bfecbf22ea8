import Foundation
import HTTP

/// What a failure means for the job that met it. The client layer classifies once; the
/// queue decides: reschedule, wait for replication, or stop for an operator. Nothing here sleeps.
public enum FailureClass: Sendable, Equatable {
    /// Throttling, 5xx, timeouts, lost responses: retry with backoff; `retryAfter` is the server's wish.
    case transient(retryAfter: Duration?)
    /// A new object is not visible everywhere yet: retry within a bound of minutes.
    case replication
    /// A new secret or certificate is not accepted yet (AADSTS7000215 / AADSTS700027 just after it was
    /// added): retry within about two minutes.
    case propagation
    /// Only a person can fix it; `fix` says how, in words an operator can act on.
    case needsAttention(fix: String)
    /// The request itself is wrong (validation): retrying it unchanged will not help.
    case invalidRequest
}

/// A failed call to Entra ID or Microsoft Graph, classified.
public struct GraphError: Error, Sendable, CustomStringConvertible {
    public let failure: FailureClass
    /// HTTP status, or nil for a transport failure.
    public let status: Int?
    /// The OData error code (`Request_ResourceNotFound`, `Authorization_RequestDenied`, …) or the AADSTS
    /// code (`AADSTS7000215`).
    public let code: String?
    public let message: String
    public let clientRequestID: UUID
    /// Graph's `request-id` (from `innerError`), or Entra's `trace_id`: what Microsoft support asks for.
    public let serverRequestID: String?

    public init(
        failure: FailureClass, status: Int?, code: String?, message: String, clientRequestID: UUID,
        serverRequestID: String?
    ) {
        self.failure = failure
        self.status = status
        self.code = code
        self.message = message
        self.clientRequestID = clientRequestID
        self.serverRequestID = serverRequestID
    }

    public var description: String {
        var text = status.map { "HTTP \($0)" } ?? "transport"
        if let code { text += " \(code)" }
        text += ": \(message) [client-request-id \(clientRequestID.uuidString.lowercased())"
        if let serverRequestID { text += ", request-id \(serverRequestID)" }
        return text + "]"
    }
}

/// What the caller knows that the response does not say.
public struct FailureContext: Sendable {
    /// The object the request addresses was created moments ago (replication lag is expected).
    public var recentlyCreatedObject = false
    /// The credential in use was added moments ago (propagation delay is expected).
    public var recentlyCreatedCredential = false
    /// Tenant and partner app, to put the admin-consent URL in the fix sentence.
    public var tenantID: String?
    public var clientID: String?
    public var loginBaseURL = "https://login.microsoftonline.com"

    public init(
        recentlyCreatedObject: Bool = false, recentlyCreatedCredential: Bool = false, tenantID: String? = nil,
        clientID: String? = nil, loginBaseURL: String = "https://login.microsoftonline.com"
    ) {
        self.recentlyCreatedObject = recentlyCreatedObject
        self.recentlyCreatedCredential = recentlyCreatedCredential
        self.tenantID = tenantID
        self.clientID = clientID
        self.loginBaseURL = loginBaseURL
    }

    /// `{login}/{tenant}/adminconsent?client_id=…`: the link a customer's admin opens to consent.
    public var adminConsentURL: String? {
        guard let tenantID, let clientID else { return nil }
        return "\(loginBaseURL)/\(tenantID)/adminconsent?client_id=\(clientID)"
    }
}

/// Graph's error body: `{"error": {"code", "message", "innerError": {"request-id", "client-request-id", "date"}}}`.
struct ODataErrorBody: Decodable {
    struct Inner: Decodable {
        var code: String
        var message: String
        var innerError: InnerError?
    }
    struct InnerError: Decodable {
        var requestID: String?
        enum CodingKeys: String, CodingKey { case requestID = "request-id" }
    }
    var error: Inner
}

/// Entra's token-endpoint error body.
struct EntraErrorBody: Decodable {
    var error: String
    var error_description: String?
    var error_codes: [Int]?
    var trace_id: String?
    var correlation_id: String?

    /// `AADSTS7000215` from `error_codes`, else from the start of the description.
    var aadstsCode: String? {
        if let first = error_codes?.first { return "AADSTS\(first)" }
        guard let description = error_description, description.hasPrefix("AADSTS") else { return nil }
        return String(description.prefix { $0 != ":" })
    }
}

public enum FailureClassifier {
    /// Classifies a response with an error status from Graph or the token endpoint.
    public static func classify(_ response: HTTPResponse, context: FailureContext = FailureContext()) -> GraphError {
        let retryAfter = response.header("retry-after").flatMap(parseRetryAfter)
        var code: String?
        var message = "HTTP \(response.status)"
        var serverRequestID = response.header("request-id")
        if let odata = try? JSONDecoder().decode(ODataErrorBody.self, from: Data(response.body)) {
            code = odata.error.code
            message = odata.error.message
            serverRequestID = odata.error.innerError?.requestID ?? serverRequestID
        } else if let entra = try? JSONDecoder().decode(EntraErrorBody.self, from: Data(response.body)) {
            code = entra.aadstsCode ?? entra.error
            message = entra.error_description.map { String($0.prefix { !$0.isNewline }) } ?? entra.error
            serverRequestID = entra.trace_id ?? serverRequestID
        }
        // An error body whose message is empty (or blank) still says something (found by scripts/fuzz).
        if message.allSatisfy(\.isWhitespace) { message = "HTTP \(response.status), no message" }
        let failure = failureClass(
            status: response.status, code: code, message: message, retryAfter: retryAfter, context: context)
        return GraphError(
            failure: failure, status: response.status, code: code, message: message,
            clientRequestID: response.clientRequestID, serverRequestID: serverRequestID)
    }

    /// Classifies a transport failure: transient when the request may be retried, else invalid.
    public static func classify(_ error: HTTPError) -> GraphError {
        GraphError(
            failure: error.isTransient
                ? .transient(retryAfter: nil)
                : error.code == .tls
                    ? .needsAttention(
                        fix:
                            "The TLS connection failed (\(error.message)); check the endpoint's certificate and the CA bundle."
                    )
                    : .invalidRequest,
            status: nil, code: nil, message: error.message, clientRequestID: error.clientRequestID, serverRequestID: nil
        )
    }

    static func failureClass(
        status: Int, code: String?, message: String, retryAfter: Duration?, context: FailureContext
    ) -> FailureClass {
        let consent = context.adminConsentURL.map { " The customer's admin can consent at \($0)" } ?? ""
        switch code {
        case "AADSTS7000215", "AADSTS7000222":
            if context.recentlyCreatedCredential && code == "AADSTS7000215" { return .propagation }
            return .needsAttention(
                fix: code == "AADSTS7000222"
                    ? "The client secret has expired: rotate it (onboarder rotate-secrets --force --tenant …)."
                    : "The client secret is not valid for this app: rotate it, or check which secret is configured.")
        case "AADSTS700027":
            if context.recentlyCreatedCredential { return .propagation }
            return .needsAttention(
                fix:
                    "Entra does not know the certificate the assertion was signed with: upload it to the app's keyCredentials."
            )
        case "AADSTS65001":
            return .needsAttention(fix: "The partner app has not been consented in this tenant.\(consent)")
        case "AADSTS700016":
            return .needsAttention(
                fix:
                    "The partner app does not exist in this tenant (no service principal): admin consent creates it.\(consent)"
            )
        case "AADSTS90002":
            return .needsAttention(fix: "No tenant has this id or domain: check the customer's tenant id.")
        case "Authorization_RequestDenied":
            return .needsAttention(
                fix:
                    "The partner app lacks a permission this step needs in this tenant; grant the missing application permissions.\(consent)"
            )
        default: break
        }
        switch status {
        case 429, 500, 502, 503, 504, 408, 424, 507:
            return .transient(retryAfter: retryAfter)
        case 404 where code == "Request_ResourceNotFound" || code == "ResourceNotFound":
            return context.recentlyCreatedObject ? .replication : .invalidRequest
        case 400
        where message.contains("does not reference a valid application object")
            || message.contains("Not a valid reference update"):
            return context.recentlyCreatedObject ? .replication : .invalidRequest
        case 403 where message.contains("must in the local tenant") || message.contains("must be in the local tenant"):
            return context.recentlyCreatedObject ? .replication : .invalidRequest
        case 409 where context.recentlyCreatedObject:
            return .replication
        case 401:
            return .needsAttention(fix: "The token was refused (\(message)); check the partner app's credential.")
        default:
            return .invalidRequest
        }
    }

    /// The longest `Retry-After` honoured: a server asking for more (or a hostile header with 2^63 seconds)
    /// gets a day, then the job asks again.
    public static let longestRetryAfter: Duration = .seconds(86_400)

    /// `Retry-After` in seconds or as an HTTP date (RFC 9110 §10.2.3), at most `longestRetryAfter`.
    public static func parseRetryAfter(_ value: String) -> Duration? {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        if !trimmed.isEmpty, trimmed.allSatisfy({ $0.isASCII && $0.isNumber }) {
            // Digits only: a number of seconds, however many digits.
            guard let seconds = Int(trimmed) else { return longestRetryAfter }
            return min(.seconds(seconds), longestRetryAfter)
        }
        guard let date = httpDate(trimmed) else { return nil }
        return .milliseconds(Int64(min(max(0, date.timeIntervalSinceNow), 86_400) * 1000))
    }

    /// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110 §5.6.7), parsed by hand: Foundation's
    /// DateFormatter traps on some non-ASCII input (`Incorrect range CFRange`; found by libFuzzer through
    /// `scripts/fuzz`), and a server's header must never take a worker down.
    static func httpDate(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        guard bytes.count == 29, bytes[3] == UInt8(ascii: ","), bytes[4] == UInt8(ascii: " "),
            bytes[7] == UInt8(ascii: " "), bytes[11] == UInt8(ascii: " "), bytes[16] == UInt8(ascii: " "),
            bytes[19] == UInt8(ascii: ":"), bytes[22] == UInt8(ascii: ":"), bytes[25...] == Array(" GMT".utf8)[...]
        else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for byte in bytes[range] {
                guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            return value
        }
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        guard let day = number(5..<7), let year = number(12..<16), let hour = number(17..<19),
            let minute = number(20..<22), let second = number(23..<25),
            let month = months.firstIndex(of: String(decoding: bytes[8..<11], as: UTF8.self)).map({ $0 + 1 }),
            (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        // Days from 1970-01-01 to the civil date (Howard Hinnant's days_from_civil).
        let y = month <= 2 ? year - 1 : year
        let era = y / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        return Date(timeIntervalSince1970: TimeInterval(days * 86_400 + hour * 3600 + minute * 60 + second))
    }
}
