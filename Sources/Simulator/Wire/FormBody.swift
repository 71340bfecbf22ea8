/// `application/x-www-form-urlencoded` bodies (the token endpoints'). Byte by byte: Foundation's
/// `replacingOccurrences` and `removingPercentEncoding` were 8 % of the simulator's CPU in an end-to-end run
/// (every token request, and a PBX's `TestSubscription` signs in twice).
enum FormBody {
    static func parse(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in text.utf8.split(separator: UInt8(ascii: "&")) {
            let kv = pair.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            fields[decode(kv[0])] = kv.count > 1 ? decode(kv[1]) : ""
        }
        return fields
    }

    /// `+` as a space and `%XX` as its byte; a field with a broken `%` escape, or whose bytes are not UTF-8,
    /// is taken as it stands (as Foundation's `removingPercentEncoding` left it).
    static func decode(_ field: Substring.UTF8View.SubSequence) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(field.count)
        var index = field.startIndex
        while index < field.endIndex {
            let byte = field[index]
            if byte == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else if byte == UInt8(ascii: "%") {
                let high = field.index(after: index)
                guard high < field.endIndex, field.index(after: high) < field.endIndex,
                    let h = hexValue(field[high]), let l = hexValue(field[field.index(after: high)])
                else { return String(decoding: field, as: UTF8.self) }
                bytes.append(h << 4 | l)
                index = field.index(after: high)
            } else {
                bytes.append(byte)
            }
            index = field.index(after: index)
        }
        return String(validating: bytes, as: UTF8.self) ?? String(decoding: field, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// `fields` form-encoded, in key order: ASCII letters, digits and `-._~` as they are, every other byte of
    /// the UTF-8 as `%XX`.
    static func encode(_ fields: [String: String]) -> String {
        var out: [UInt8] = []
        for (index, key) in fields.keys.sorted().enumerated() {
            if index > 0 { out.append(UInt8(ascii: "&")) }
            encode(key, into: &out)
            out.append(UInt8(ascii: "="))
            encode(fields[key]!, into: &out)
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static let hex = Array("0123456789ABCDEF".utf8)

    private static func encode(_ text: String, into out: inout [UInt8]) {
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.append(byte)
            default:
                out += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            }
        }
    }
}
