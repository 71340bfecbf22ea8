import Foundation

/// OData's `Edm.Binary` in Graph's JSON (`customKeyIdentifier`, `key`): base64 of the bytes. Graph writes
/// the standard alphabet with padding; it reads that and the base64url spelling of OData's grammar.
enum EdmBinary {
    static func text(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }

    /// The bytes, or nil for text that is not base64 in either alphabet.
    static func bytes(_ text: String) -> [UInt8]? {
        var standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        if standard.count % 4 != 0 { standard += String(repeating: "=", count: 4 - standard.count % 4) }
        return Data(base64Encoded: standard).map { [UInt8]($0) }
    }
}
