/// A request path pattern, one entry per segment: a literal (`applications`), a parameter (`{id}`), or a
/// parameter inside literal text, as OData keys and functions put it (`servicePrincipals(appId='{appId}')`,
/// `Pbx.CheckFqdnRecord(fqdn='{fqdn}')`).
package struct PathPattern: Sendable, CustomStringConvertible {
    enum Segment: Sendable, Equatable {
        case literal(String)
        /// `prefix{name}suffix`: the segment starts with `prefix`, ends with `suffix`, and the rest is the value.
        case parameter(name: String, prefix: String, suffix: String)

        func match(_ text: Substring) -> (name: String, value: String)?? {
            switch self {
            case .literal(let literal): return text == literal ? .some(nil) : nil
            case .parameter(let name, let prefix, let suffix):
                guard text.count >= prefix.count + suffix.count, text.hasPrefix(prefix), text.hasSuffix(suffix) else {
                    return nil
                }
                return (name, String(text.dropFirst(prefix.count).dropLast(suffix.count)))
            }
        }
    }

    let segments: [Segment]
    package let description: String

    /// `"/v1.0/applications/{id}/addPassword"`: segments split on `/`, at most one `{name}` per segment.
    package init(_ text: String) {
        description = text
        segments = text.split(separator: "/").map { part in
            guard let open = part.firstIndex(of: "{"), let close = part[open...].firstIndex(of: "}") else {
                return .literal(String(part))
            }
            return .parameter(
                name: String(part[part.index(after: open)..<close]), prefix: String(part[..<open]),
                suffix: String(part[part.index(after: close)...]))
        }
    }

    /// The parameters when every segment matches; nil otherwise.
    package func match(_ path: [Substring]) -> [String: String]? {
        guard path.count == segments.count else { return nil }
        var parameters: [String: String] = [:]
        for (segment, text) in zip(segments, path) {
            guard let matched = segment.match(text) else { return nil }
            if let (name, value) = matched { parameters[name] = value }
        }
        return parameters
    }

    /// How many leading segments of `path` this pattern accepts (for "Resource not found for the segment …").
    package func matchedPrefix(_ path: [Substring]) -> Int {
        var count = 0
        for (segment, text) in zip(segments, path) {
            guard segment.match(text) != nil else { break }
            count += 1
        }
        return count
    }
}
