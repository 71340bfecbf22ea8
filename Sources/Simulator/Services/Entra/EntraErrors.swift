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
}
