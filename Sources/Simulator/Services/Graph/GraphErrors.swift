import Foundation

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
