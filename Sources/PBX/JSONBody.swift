import Foundation

/// A JSON request body built without `Any`: the XAPI's bodies (Graph's are typed, in `Graph/Endpoints`).
public enum JSONBody: Encodable, Sendable {
    case string(String)
    case bool(Bool)
    case int(Int)
    case array([JSONBody])
    case object([String: JSONBody])
    case null

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let value): try container.encode(value)
        case .bool(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        case .null: try container.encodeNil()
        }
    }
}
