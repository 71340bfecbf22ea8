import Foundation

/// Graph's and Entra's timestamps (ISO 8601, UTC).
enum Timestamp {
    /// One formatter for every timestamp (creating one costs more than most requests); ISO8601DateFormatter
    /// is safe to share between threads.
    nonisolated(unsafe) private static let formatter = ISO8601DateFormatter()

    static func string(_ date: Date) -> String { formatter.string(from: date) }
    static func date(_ text: String) -> Date? { formatter.date(from: text) }
}
