import Foundation

/// The string formats of Graph's primitive types; each returns why a text is not one, or nil.
extension GraphBodyValidator {
    private static func digits(_ bytes: ArraySlice<UInt8>) -> Int? {
        guard !bytes.isEmpty, bytes.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
        return bytes.reduce(0) { $0 * 10 + Int($1 - 0x30) }
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Edm.DateTimeOffset as Graph writes and reads it: RFC 3339 `YYYY-MM-DDThh:mm:ss`, an optional fraction of
    /// 1 to 12 digits, then `Z` or `±hh:mm`; upper-case `T` and `Z` (as the schema's pattern), a day that
    /// exists, no leap second (.NET's DateTimeOffset has none), year 0001–9999.
    public static func dateTimeProblem(_ text: String) -> String? {
        let b = Array(text.utf8)
        let shape = "'\(text)' is not an RFC 3339 date-time (YYYY-MM-DDThh:mm:ss[.fraction] then Z or ±hh:mm)"
        guard b.count >= 20, b[4] == 0x2D, b[7] == 0x2D, b[10] == UInt8(ascii: "T"), b[13] == 0x3A, b[16] == 0x3A,
            let year = digits(b[0..<4]), let month = digits(b[5..<7]), let day = digits(b[8..<10]),
            let hour = digits(b[11..<13]), let minute = digits(b[14..<16]), let second = digits(b[17..<19])
        else { return shape }
        var index = 19
        if b[index] == UInt8(ascii: ".") {
            let start = index + 1
            index = start
            while index < b.count, (0x30...0x39).contains(b[index]) { index += 1 }
            guard (1...12).contains(index - start) else {
                return "'\(text)': the fraction of a second needs 1 to 12 digits"
            }
        }
        let zone = b[index...]
        if zone.elementsEqual([UInt8(ascii: "Z")]) {
        } else if zone.count == 6, zone.first == UInt8(ascii: "+") || zone.first == UInt8(ascii: "-"),
            zone[zone.startIndex + 3] == 0x3A,
            let offsetHour = digits(zone[(zone.startIndex + 1)...(zone.startIndex + 2)]),
            let offsetMinute = digits(zone[(zone.startIndex + 4)...])
        {
            guard offsetHour <= 23, offsetMinute <= 59 else {
                return "'\(text)': the zone offset is not ±00:00 to ±23:59"
            }
        } else {
            return zone.isEmpty ? "'\(text)' has no zone: end it with Z or ±hh:mm" : shape
        }
        guard year >= 1 else { return "'\(text)': there is no year 0000" }
        guard (1...12).contains(month) else { return "'\(text)': there is no month \(month)" }
        guard (1...daysIn(month: month, year: year)).contains(day) else {
            return "'\(text)': month \(month) of \(year) has \(daysIn(month: month, year: year)) days"
        }
        guard hour <= 23, minute <= 59, second <= 59 else { return "'\(text)': the time of day is out of range" }
        return nil
    }

    /// Edm.Guid: 8-4-4-4-12 hexadecimal digits.
    public static func uuidProblem(_ text: String) -> String? {
        let groups = text.split(separator: "-", omittingEmptySubsequences: false)
        guard groups.map(\.count) == [8, 4, 4, 4, 12], groups.allSatisfy({ $0.allSatisfy(\.isHexDigit) }) else {
            return "'\(text)' is not a GUID (8-4-4-4-12 hexadecimal digits)"
        }
        return nil
    }

    /// Edm.Binary: RFC 4648 base64 (`+/`) or base64url (`-_`) — one alphabet, not both — with `=` padding or
    /// without it; padding only at the end and only to a multiple of four characters; no line breaks or spaces.
    /// (Graph documents base64 for `keyCredential.key` and the schema says base64url; it takes both.)
    public static func binaryProblem(_ text: String) -> String? {
        let bytes = Array(text.utf8)
        let body = bytes.prefix { $0 != UInt8(ascii: "=") }
        let padding = bytes[body.count...]
        func isCommon(_ byte: UInt8) -> Bool {
            (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || (0x30...0x39).contains(byte)
        }
        if let stray = body.first(where: { !isCommon($0) && !"+/-_".utf8.contains($0) }) {
            return
                "'\(text)' is not base64: '\(Unicode.Scalar(stray).escaped(asASCII: true))' is in neither base64 alphabet"
        }
        if body.contains(where: { "+/".utf8.contains($0) }) && body.contains(where: { "-_".utf8.contains($0) }) {
            return "'\(text)' mixes the base64 (+/) and base64url (-_) alphabets"
        }
        guard padding.allSatisfy({ $0 == UInt8(ascii: "=") }) else {
            return "'\(text)' is not base64: '=' may only pad the end"
        }
        guard padding.count <= 2, padding.isEmpty || bytes.count % 4 == 0 else {
            return "'\(text)' is not base64: padded to \(bytes.count) characters, not a multiple of 4"
        }
        guard body.count % 4 != 1 else {
            return "'\(text)' is not base64: \(body.count) characters leave a group of one, which encodes no byte"
        }
        return nil
    }

    /// Edm.Duration (xs:dayTimeDuration): `[-]P[nD][T[nH][nM][n[.n]S]]` with at least one part.
    public static func durationProblem(_ text: String) -> String? {
        var rest = Substring(text)
        if rest.hasPrefix("-") { rest = rest.dropFirst() }
        guard rest.hasPrefix("P") else { return "'\(text)' is not an ISO 8601 duration (P…)" }
        rest = rest.dropFirst()
        let halves = rest.split(separator: "T", maxSplits: 1, omittingEmptySubsequences: false)
        func parts(_ part: Substring, _ designators: [Character], fraction: Character?) -> Int? {
            var count = 0
            var remaining = part
            var allowed = designators[...]
            while !remaining.isEmpty {
                let number = remaining.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
                remaining = remaining.dropFirst(number.count)
                guard let designator = remaining.first, let position = allowed.firstIndex(of: designator),
                    !number.isEmpty, !number.hasPrefix("."), !number.hasSuffix("."),
                    number.filter({ $0 == "." }).count <= (designator == fraction ? 1 : 0)
                else { return nil }
                allowed = allowed[(position + 1)...]
                remaining = remaining.dropFirst()
                count += 1
            }
            return count
        }
        guard let days = parts(halves[0], ["D"], fraction: nil),
            let times = halves.count == 2 ? parts(halves[1], ["H", "M", "S"], fraction: "S") : 0,
            halves.count == 1 || times > 0, days + times > 0
        else { return "'\(text)' is not an ISO 8601 duration of days, hours, minutes and seconds" }
        return nil
    }

    /// Edm.TimeOfDay: `hh:mm[:ss[.fraction]]`, 00:00 to 23:59:59.
    public static func timeOfDayProblem(_ text: String) -> String? {
        let b = Array(text.utf8)
        guard b.count == 5 || b.count >= 8, b[2] == 0x3A, let hour = digits(b[0..<2]), let minute = digits(b[3..<5]),
            hour <= 23, minute <= 59
        else { return "'\(text)' is not a time of day (hh:mm:ss)" }
        guard b.count > 5 else { return nil }
        guard b[5] == 0x3A, let second = digits(b[6..<8]), second <= 59 else {
            return "'\(text)' is not a time of day (hh:mm:ss)"
        }
        guard b.count > 8 else { return nil }
        guard b[8] == UInt8(ascii: "."), b.count > 9, b.count <= 21, digits(b[9...]) != nil else {
            return "'\(text)' is not a time of day (hh:mm:ss.fraction)"
        }
        return nil
    }
}
