import Foundation

/// Graph's and Entra's timestamps: written as ISO 8601 in UTC; read as OData's `Edm.DateTimeOffset`, which
/// allows fractional seconds (the Graph SDKs send microseconds) and an offset instead of `Z`.
enum Timestamp {
    /// One formatter per spelling (creating one costs more than most requests); ISO8601DateFormatter
    /// is safe to share between threads.
    nonisolated(unsafe) private static let formatter = ISO8601DateFormatter()
    nonisolated(unsafe) private static let fractional: ISO8601DateFormatter = {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }()

    static func string(_ date: Date) -> String { formatter.string(from: date) }

    /// `yyyy-mm-ddThh:mm:ss[.f…](Z|±hh:mm)`, or nil. Foundation reads at most three fractional digits, so
    /// the rest (OData allows twelve) are dropped before parsing: sub-millisecond precision means nothing here.
    /// Read byte by byte: a regex literal is parsed again each time it is evaluated (each secret Graph adds).
    static func date(_ text: String) -> Date? {
        guard let (seconds, fraction, zone) = parts(text) else { return nil }
        let zoneText = zone == "z" ? "Z" : String(zone)
        guard let fraction else { return formatter.date(from: "\(seconds)\(zoneText)") }
        let digits = String(fraction.prefix(3)).padding(toLength: 3, withPad: "0", startingAt: 0)
        return fractional.date(from: "\(seconds).\(digits)\(zoneText)")
    }

    /// The date and time to the second, the fractional digits if any, the zone: the pieces of
    /// `\d{4,}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,12})?(Z|z|[+-]\d{2}:\d{2})`, ASCII digits only.
    static func parts(_ text: String) -> (seconds: Substring, fraction: Substring?, zone: Substring)? {
        let utf8 = text.utf8
        var at = utf8.startIndex
        func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
        func digits(_ least: Int, _ most: Int) -> Bool {
            var count = 0
            while at < utf8.endIndex, count < most, isDigit(utf8[at]) {
                at = utf8.index(after: at)
                count += 1
            }
            return count >= least
        }
        func literal(_ byte: Character) -> Bool {
            guard at < utf8.endIndex, utf8[at] == byte.asciiValue! else { return false }
            at = utf8.index(after: at)
            return true
        }
        guard digits(4, .max), literal("-"), digits(2, 2), literal("-"), digits(2, 2), literal("T"), digits(2, 2),
            literal(":"), digits(2, 2), literal(":"), digits(2, 2)
        else { return nil }
        let seconds = text[..<at]
        var fraction: Substring?
        if literal(".") {
            let start = at
            guard digits(1, 12) else { return nil }
            fraction = text[start..<at]
        }
        let zoneStart = at
        if !(literal("Z") || literal("z")) {
            guard literal("+") || literal("-"), digits(2, 2), literal(":"), digits(2, 2) else { return nil }
        }
        guard at == utf8.endIndex else { return nil }
        return (seconds, fraction, text[zoneStart...])
    }
}
