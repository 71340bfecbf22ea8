/// Text from outside (enqueue files, the database, remote services' error messages) made safe to print on
/// a terminal. A tenant's display name or a Graph error can carry escape sequences that retitle the window,
/// rewrite lines already printed or hide text, and bidirectional overrides that show text in another order
/// than it is read ("Trojan Source"); printed as they are, they make a terminal lie to its operator.
///
/// Every command prints untrusted text through `sanitized(_:)`: C0 controls (tab and line breaks too),
/// DEL, C1 controls and the bidi embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069) are
/// shown as `\u{1B}`; everything else is left as it is, so names in any script print unchanged.
public enum TerminalText {
    /// Whether `scalar` changes what a terminal shows rather than being shown.
    public static func isUnsafe(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F, 0x202A...0x202E, 0x2066...0x2069: true
        default: false
        }
    }

    /// `text` with every unsafe scalar written as `\u{HEX}`. Text without one is returned as it is.
    public static func sanitized(_ text: String) -> String {
        guard mayBeUnsafe(text) else { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count + 16)
        for scalar in text.unicodeScalars {
            if isUnsafe(scalar) {
                out += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// JSON text (as JSONSerialization writes it) with the unsafe scalars it leaves raw — DEL, C1 and the
    /// bidi controls; it escapes C0 itself — written as `\u` escapes. Outside strings JSON has none of these
    /// scalars, so the escaped text parses to the same values.
    public static func jsonEscaped(_ json: String) -> String {
        guard mayBeUnsafe(json) else { return json }
        var out = ""
        out.reserveCapacity(json.utf8.count + 16)
        for scalar in json.unicodeScalars {
            if isUnsafe(scalar) {
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// False when no byte of `text` can start an unsafe scalar: below 0x20, DEL, 0xC2 (C1 controls) or
    /// 0xE2 (the bidi controls). One pass over the bytes; most text takes no other.
    static func mayBeUnsafe(_ text: String) -> Bool {
        text.utf8.contains { $0 < 0x20 || $0 == 0x7F || $0 == 0xC2 || $0 == 0xE2 }
    }
}
