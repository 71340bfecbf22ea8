/// base64url without padding (RFC 4648 §5), as JWTs use it.
///
/// Byte by byte: the simulator encodes a token's three parts for every token it issues and decodes the
/// bearer token of every Graph call; going through Foundation's standard base64 and three
/// `replacingOccurrences` was a tenth of its CPU (BENCHMARKS.md, issue 23).
public enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// Each byte's 6-bit value in the alphabet, 0xFF for a byte outside it.
    private static let values: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (value, character) in alphabet.enumerated() { table[Int(character)] = UInt8(value) }
        return table
    }()

    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        let input = Array(bytes)
        let length = input.count / 3 * 4 + [0, 2, 3][input.count % 3]
        return String(unsafeUninitializedCapacity: length) { output in
            var at = 0
            var index = 0
            func put(_ sextet: UInt32) {
                output[at] = alphabet[Int(sextet & 0x3F)]
                at += 1
            }
            while index + 3 <= input.count {
                let group = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8 | UInt32(input[index + 2])
                put(group >> 18)
                put(group >> 12)
                put(group >> 6)
                put(group)
                index += 3
            }
            switch input.count - index {
            case 1:
                let group = UInt32(input[index]) << 16
                put(group >> 18)
                put(group >> 12)
            case 2:
                let group = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8
                put(group >> 18)
                put(group >> 12)
                put(group >> 6)
            default: break
            }
            return at
        }
    }

    /// The bytes `text` encodes, or nil when it is not their one base64url encoding: a character outside the
    /// URL-safe alphabet (standard base64's `+` and `/` among them), a length no encoding has (4n + 1), unused
    /// bits of the last character that are not zero (so that no two texts decode to the same signature), or
    /// `=` padding that does not complete the last group.
    public static func decode(_ text: String) -> [UInt8]? {
        var utf8 = Substring(text).utf8
        var padding = 0
        while utf8.last == UInt8(ascii: "="), padding < 2 {
            utf8 = utf8.dropLast()
            padding += 1
        }
        let count = utf8.count
        guard count % 4 != 1, padding == 0 || (count + padding) % 4 == 0 else { return nil }
        var output: [UInt8] = []
        output.reserveCapacity(count / 4 * 3 + 2)
        var group: UInt32 = 0
        var filled = 0
        for character in utf8 {
            let value = values[Int(character)]
            guard value != 0xFF else { return nil }
            group = group << 6 | UInt32(value)
            filled += 1
            if filled == 4 {
                output.append(UInt8(truncatingIfNeeded: group >> 16))
                output.append(UInt8(truncatingIfNeeded: group >> 8))
                output.append(UInt8(truncatingIfNeeded: group))
                group = 0
                filled = 0
            }
        }
        switch filled {
        case 2:
            guard group & 0xF == 0 else { return nil }
            output.append(UInt8(truncatingIfNeeded: group >> 4))
        case 3:
            guard group & 0x3 == 0 else { return nil }
            output.append(UInt8(truncatingIfNeeded: group >> 10))
            output.append(UInt8(truncatingIfNeeded: group >> 2))
        default: break
        }
        return output
    }
}
