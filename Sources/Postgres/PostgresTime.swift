import Foundation

// Dates and intervals are formatted and parsed by hand: Foundation's ISO 8601 formatters stop at
// milliseconds, PostgreSQL keeps microseconds, and a round trip must not lose them.

/// `timestamptz`, sent as ISO 8601 UTC with microseconds; `infinity` maps to `Date.distantFuture`.
extension Date: PostgresEncodable, PostgresDecodable {
    public static var postgresType: PostgresType { .timestamptz }

    public var postgresValue: PostgresBind.Value {
        if self >= .distantFuture { return .text("infinity") }
        if self <= .distantPast { return .text("-infinity") }
        let micros = Int64((timeIntervalSince1970 * 1_000_000).rounded())
        let (seconds, fraction) = micros.floorDivided(by: 1_000_000)
        let (days, secondOfDay) = seconds.floorDivided(by: 86_400)
        let (year, month, day) = CivilDate.fromDays(days)
        let text =
            "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T"
            + "\(pad(secondOfDay / 3600, 2)):\(pad(secondOfDay / 60 % 60, 2)):\(pad(secondOfDay % 60, 2))"
            + ".\(pad(fraction, 6))Z"
        return .text(text)
    }

    /// Parses `YYYY-MM-DD HH:MM:SS[.ffffff][±HH[:MM[:SS]]]` (timestamptz with `DateStyle=ISO`, or a
    /// timestamp without zone, read as UTC).
    public init(postgresText text: String, type: PostgresType) throws(PostgresError) {
        switch text {
        case "infinity": self = .distantFuture; return
        case "-infinity": self = .distantPast; return
        default: break
        }
        var scanner = DigitScanner(text)
        guard let year = scanner.integer(), scanner.skip("-"), let month = scanner.integer(), scanner.skip("-"),
            let day = scanner.integer(), scanner.skip(" ") || scanner.skip("T"),
            let hour = scanner.integer(), scanner.skip(":"), let minute = scanner.integer(), scanner.skip(":"),
            let second = scanner.integer()
        else { throw decodingError(Date.self, from: type) }
        var micros: Int64 = 0
        if scanner.skip(".") {
            guard let (digits, count) = scanner.digits(), count <= 6 else { throw decodingError(Date.self, from: type) }
            micros = digits * Int64(pow(10, Double(6 - count)))
        }
        var offsetSeconds: Int64 = 0
        if let sign = scanner.sign() {
            guard let hours = scanner.integer() else { throw decodingError(Date.self, from: type) }
            var offset = hours * 3600
            if scanner.skip(":") {
                guard let minutes = scanner.integer() else { throw decodingError(Date.self, from: type) }
                offset += minutes * 60
                if scanner.skip(":") {
                    guard let seconds = scanner.integer() else { throw decodingError(Date.self, from: type) }
                    offset += seconds
                }
            }
            offsetSeconds = sign * offset
        }
        guard scanner.isAtEnd else { throw decodingError(Date.self, from: type) }  // e.g. " BC"
        let days = CivilDate.days(year: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds
        self = Date(timeIntervalSince1970: Double(seconds) + Double(micros) / 1_000_000)
    }
}

/// An `interval` exactly as PostgreSQL keeps it: months, days and microseconds are separate because a
/// month and a day have no fixed length.
public struct PostgresInterval: PostgresEncodable, PostgresDecodable, Hashable {
    public var months: Int32
    public var days: Int32
    public var microseconds: Int64

    public init(months: Int32 = 0, days: Int32 = 0, microseconds: Int64 = 0) {
        self.months = months
        self.days = days
        self.microseconds = microseconds
    }

    public init(seconds: Double) {
        self.init(microseconds: Int64((seconds * 1_000_000).rounded()))
    }

    public static var postgresType: PostgresType { .interval }

    /// ISO 8601 with signed parts (`P1M-2DT-3.500000S`), which the server reads whatever its IntervalStyle.
    public var postgresValue: PostgresBind.Value {
        let (whole, fraction) = microseconds.magnitude.quotientAndRemainder(dividingBy: 1_000_000)
        let sign = microseconds < 0 ? "-" : ""
        return .text("P\(months)M\(days)DT\(sign)\(whole).\(pad(Int64(fraction), 6))S")
    }

    /// Parses `IntervalStyle=iso_8601` output: `P1Y2M3DT4H5M6.5S`, `PT0S`, `P-1DT2H`.
    public init(postgresText text: String, type: PostgresType) throws(PostgresError) {
        var scanner = DigitScanner(text)
        guard scanner.skip("P") else { throw decodingError(PostgresInterval.self, from: type) }
        var months: Int64 = 0
        var days: Int64 = 0
        var micros: Int64 = 0
        var inTime = false
        while !scanner.isAtEnd {
            if scanner.skip("T") {
                inTime = true
                continue
            }
            let sign = scanner.sign() ?? 1
            guard let (whole, _) = scanner.digits() else { throw decodingError(PostgresInterval.self, from: type) }
            var fractionMicros: Int64 = 0
            if scanner.skip(".") {
                guard let (digits, count) = scanner.digits(), count <= 6 else {
                    throw decodingError(PostgresInterval.self, from: type)
                }
                fractionMicros = digits * Int64(pow(10, Double(6 - count)))
            }
            guard let unit = scanner.next() else { throw decodingError(PostgresInterval.self, from: type) }
            switch (inTime, unit) {
            case (false, "Y"): months += sign * whole * 12
            case (false, "M"): months += sign * whole
            case (false, "W"): days += sign * whole * 7
            case (false, "D"): days += sign * whole
            case (true, "H"): micros += sign * whole * 3_600_000_000
            case (true, "M"): micros += sign * whole * 60_000_000
            case (true, "S"): micros += sign * (whole * 1_000_000 + fractionMicros)
            default: throw decodingError(PostgresInterval.self, from: type)
            }
        }
        guard let m = Int32(exactly: months), let d = Int32(exactly: days) else {
            throw decodingError(PostgresInterval.self, from: type)
        }
        self.init(months: m, days: d, microseconds: micros)
    }
}

/// `Duration` binds as an `interval` and decodes from one that has no month part (days count 24 h).
extension Duration: PostgresEncodable, PostgresDecodable {
    public static var postgresType: PostgresType { .interval }
    public var postgresValue: PostgresBind.Value {
        let (seconds, attoseconds) = components
        return PostgresInterval(microseconds: seconds * 1_000_000 + attoseconds / 1_000_000_000_000).postgresValue
    }
    public init(postgresText text: String, type: PostgresType) throws(PostgresError) {
        let interval = try PostgresInterval(postgresText: text, type: type)
        guard interval.months == 0 else {
            throw PostgresError(code: .decoding, message: "an interval with months has no fixed Duration")
        }
        self = .microseconds(Int64(interval.days) * 86_400_000_000 + interval.microseconds)
    }
}

// MARK: - Helpers

private func pad(_ value: Int64, _ width: Int) -> String {
    let digits = String(value)
    return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
}

extension Int64 {
    fileprivate func floorDivided(by divisor: Int64) -> (quotient: Int64, remainder: Int64) {
        var (q, r) = quotientAndRemainder(dividingBy: divisor)
        if r < 0 {
            q -= 1
            r += divisor
        }
        return (q, r)
    }
}

/// Proleptic Gregorian calendar arithmetic (Howard Hinnant's days-from-civil algorithms).
enum CivilDate {
    static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func fromDays(_ days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

/// A tiny cursor over ASCII text for the date and interval parsers.
struct DigitScanner {
    private let bytes: [UInt8]
    private var index = 0
    init(_ text: String) { bytes = Array(text.utf8) }

    var isAtEnd: Bool { index == bytes.count }

    mutating func skip(_ character: Character) -> Bool {
        guard index < bytes.count, let ascii = character.asciiValue, bytes[index] == ascii else { return false }
        index += 1
        return true
    }

    mutating func next() -> Character? {
        guard index < bytes.count else { return nil }
        defer { index += 1 }
        return Character(UnicodeScalar(bytes[index]))
    }

    /// `+1` or `-1` when a sign is next.
    mutating func sign() -> Int64? {
        if skip("+") { return 1 }
        if skip("-") { return -1 }
        return nil
    }

    /// The next run of digits and how many there were.
    mutating func digits() -> (Int64, Int)? {
        var value: Int64 = 0
        let start = index
        while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57, index - start < 18 {
            value = value * 10 + Int64(bytes[index] - 48)
            index += 1
        }
        return index > start ? (value, index - start) : nil
    }

    mutating func integer() -> Int64? { digits()?.0 }
}
