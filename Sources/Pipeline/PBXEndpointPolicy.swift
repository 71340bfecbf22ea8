import Foundation

/// Where a PBX's API secret may be sent: the `pbx_url` of an enqueue row is input from MSP staff, and the
/// worker posts the secret to `{pbx_url}/connect/token`. So the URL must be https (plain http only on
/// loopback, and only where `pbx.allow_loopback_http` is set, as for the simulator), carry no
/// `user:password@`, no query or fragment, and name a host in the MSP's allowed PBX hosts
/// (`onboarder.msps.allowed_pbx_hosts`) when the MSP has such a list. Checked when the row is enqueued
/// and again before every secret leaves the worker.
public struct PBXEndpointPolicy: Sendable, Equatable {
    public var allowLoopbackHTTP: Bool

    public init(allowLoopbackHTTP: Bool = false) {
        self.allowLoopbackHTTP = allowLoopbackHTTP
    }

    /// The longest PBX URL accepted (the SQL side checks the same).
    public static let maxLength = 2048

    /// Nil when a secret may go to `url`; else why not. The URL is never echoed whole: it may carry a
    /// password in its userinfo.
    public func problem(_ url: String, allowedHosts: [String]?) -> String? {
        guard url.utf8.count <= Self.maxLength else { return "a PBX URL has at most \(Self.maxLength) bytes" }
        guard !url.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F }) else {
            return "a PBX URL cannot contain spaces or control characters"
        }
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
            let host = components.host?.lowercased(), !host.isEmpty
        else { return "not a URL with a host" }
        guard components.user == nil && components.password == nil && !Self.authority(of: url).contains("@") else {
            return "a PBX URL cannot carry a user name or password (user:password@)"
        }
        guard components.query == nil && components.fragment == nil else {
            return "a PBX URL is a base URL, without query or fragment"
        }
        switch scheme {
        case "https": break
        case "http" where Validation.isLoopback(host):
            guard allowLoopbackHTTP else {
                return "plain http is refused (pbx.allow_loopback_http is off): use https"
            }
        default: return "a PBX URL must be https"
        }
        if let allowedHosts, !Self.hostMatches(host, allowedHosts) {
            return "the host \(host) is not one of this MSP's allowed PBX hosts"
        }
        return nil
    }

    /// Whether `host` is one of `patterns`: an exact name, or `*.suffix` for any name under suffix.
    public static func hostMatches(_ host: String, _ patterns: [String]) -> Bool {
        let host = host.lowercased()
        return patterns.contains { raw in
            let pattern = raw.lowercased()
            if pattern.hasPrefix("*.") { return host.hasSuffix(String(pattern.dropFirst())) }
            return host == pattern
        }
    }

    /// The text between `//` and the first `/`, `?` or `#`: where userinfo would be, whatever
    /// URLComponents made of it.
    static func authority(of url: String) -> Substring {
        guard let start = url.range(of: "//") else { return "" }
        return url[start.upperBound...].prefix { $0 != "/" && $0 != "?" && $0 != "#" }
    }
}
