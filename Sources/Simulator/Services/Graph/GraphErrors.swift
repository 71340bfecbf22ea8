import Foundation

/// Graph's error shape; the header `request-id` is the one the body's `innerError` names.
enum GraphErrors {
    static func odata(_ status: Int, _ code: String, _ message: String, clientRequestID: String) -> SimResponse {
        let requestID = UUID().uuidString.lowercased()
        let body = JSONValue.object([
            "error": .object([
                "code": .string(code), "message": .string(message),
                "innerError": .object([
                    "date": .string(Timestamp.string(Date())),
                    "request-id": .string(requestID),
                    "client-request-id": .string(clientRequestID),
                ]),
            ])
        ])
        return .json(status, body.text, headers: [("request-id", requestID), ("client-request-id", clientRequestID)])
    }
}
