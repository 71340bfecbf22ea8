import Foundation

/// Entra's error shape: `error`, `error_description` starting with the AADSTS code, `error_codes`, …
enum EntraErrors {
    static func response(_ status: Int, _ error: String, _ code: Int, _ message: String) -> SimResponse {
        let trace = UUID().uuidString.lowercased()
        let correlation = UUID().uuidString.lowercased()
        let timestamp = Timestamp.string(Date())
        let description =
            "AADSTS\(code): \(message)\r\nTrace ID: \(trace)\r\nCorrelation ID: \(correlation)\r\nTimestamp: \(timestamp)"
        let body: [String: Any] = [
            "error": error, "error_description": description, "error_codes": [code], "timestamp": timestamp,
            "trace_id": trace, "correlation_id": correlation,
            "error_uri": "https://login.microsoftonline.com/error?code=\(code)",
        ]
        let data = (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])) ?? Data()
        return SimResponse(
            status: status, headers: [("Content-Type", "application/json; charset=utf-8")], body: [UInt8](data))
    }

    /// An injected failure of the token endpoint, as Entra fails: throttled client-credentials requests are
    /// 429 with `Retry-After` (the caller adds it) and AADSTS90055 (too many incoming requests), an outage a
    /// 5xx with AADSTS50000. Not AADSTS50196: that is the loop detection of interactive sign-ins.
    static func injected(_ status: Int) -> SimResponse {
        status == 429
            ? response(
                429, "temporarily_unavailable", 90055,
                "There are too many incoming requests. Please try again later. (injected fault)")
            : response(
                status, "temporarily_unavailable", 50000,
                "There was an error issuing a token or an issue with our sign-in service. (injected fault)")
    }
}
