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
    static func date(_ text: String) -> Date? {
        guard
            let match = text.wholeMatch(
                of: /(\d{4,}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,12}))?(Z|z|[+-]\d{2}:\d{2})/)
        else { return nil }
        let (_, seconds, fraction, zone) = match.output
        let zoneText = zone == "z" ? "Z" : String(zone)
        guard let fraction else { return formatter.date(from: "\(seconds)\(zoneText)") }
        let digits = String(fraction.prefix(3)).padding(toLength: 3, withPad: "0", startingAt: 0)
        return fractional.date(from: "\(seconds).\(digits)\(zoneText)")
    }
}
