/// The `$filter` a Graph list takes for one object by id: `property eq 'value'`, the value hex digits and
/// dashes (a GUID as clients write it). Read by hand, not by a regex literal: Swift parses a literal again
/// each time it is evaluated, and Regex cannot be kept in a static (not Sendable) — the service principal
/// and grant lists run it for every customer (BENCHMARKS.md, issue 23).
enum IDEqualityFilter {
    /// The value `filter` compares `property` with, or nil when it is not exactly that clause.
    static func value(of property: String, in filter: String) -> Substring? {
        let prefix = property + " eq '"
        guard filter.hasPrefix(prefix), filter.hasSuffix("'"), filter.utf8.count > prefix.utf8.count + 1 else {
            return nil
        }
        let value = filter.dropFirst(prefix.count).dropLast()
        guard value.utf8.allSatisfy(isHexDigitOrDash) else { return nil }
        return value
    }

    private static func isHexDigitOrDash(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"),
            UInt8(ascii: "A")...UInt8(ascii: "F"), UInt8(ascii: "-"):
            true
        default: false
        }
    }
}
