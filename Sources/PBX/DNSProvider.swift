import Foundation

/// Where a domain's verification TXT record gets published (`dns.provider`). Its description and mirror
/// leave the API token out (the TSIG key's hide its secret), so printing or dumping settings leaks nothing.
public enum DNSProvider: Sendable, CustomStringConvertible, CustomReflectable {
    /// RFC 2136 dynamic updates signed with TSIG, to the zone's primary server (BIND, PowerDNS, Knot,
    /// Windows DNS).
    case rfc2136(server: DNSServer, key: TSIGKey, zone: String?)
    /// Cloudflare's API v4 (zone looked up by name, bearer token).
    case cloudflare(baseURL: String, token: String, zone: String?)
    /// An operator publishes the record by hand; the job waits for input and looks the record up in DNS
    /// (`resolver`, else the zone's own name servers) until it is there.
    case manual(resolver: [DNSServer]?, zone: String?)

    public var description: String {
        switch self {
        case .rfc2136(let server, let key, let zone): "rfc2136 to \(server) with \(key), zone \(zone ?? "per domain")"
        case .cloudflare(let baseURL, _, let zone): "cloudflare at \(baseURL), zone \(zone ?? "per domain")"
        case .manual(let resolver, let zone):
            "manual, looked up at \(resolver.map { $0.map(\.description).joined(separator: ", ") } ?? "the zone's name servers"), zone \(zone ?? "per domain")"
        }
    }

    public var customMirror: Mirror { Mirror(self, children: ["description": description]) }

    /// `dns.zone`: nil means "the SBC domain's parent" (see `DNSZone.choose`).
    public var configuredZone: String? {
        switch self {
        case .rfc2136(_, _, let zone), .cloudflare(_, _, let zone), .manual(_, let zone): zone
        }
    }
}

/// Publishes and removes TXT records, idempotently: publishing what is there, or removing what is not,
/// changes nothing and succeeds.
public protocol TXTPublisher: Sendable {
    func publish(name: String, value: String, zone: String) async throws(DNSError)
    func remove(name: String, value: String, zone: String) async throws(DNSError)
    /// The TXT values `name` holds at the provider (to clean up records a crash left behind).
    func values(name: String, zone: String) async throws(DNSError) -> [String]
}

/// A DNS provider's failure, classified for the job: what to tell an operator, or when to try again.
/// Messages name the server, the zone and the key or setting involved, never a secret.
public struct DNSError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// Only a person can fix it (a refused key, an unknown zone); `message` says how.
        case needsAttention
        /// The provider is unreachable or failing for now.
        case retry(after: Duration?)
        /// The provider asked us to slow down (Cloudflare's 429 with Retry-After).
        case throttled(after: Duration?)
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}

/// Which zone a name's records go in.
public enum DNSZone {
    /// `configured` (`dns.zone`) when set; else the SBC parent domain when `fqdn` is under it; else the
    /// name minus its first label. Nil with the reason when the name is not inside the configured zone.
    public static func choose(fqdn: String, configured: String?, sbcParent: String) -> Result<String, DNSError> {
        let fqdn = fqdn.lowercased()
        if let configured = configured?.lowercased(), !configured.isEmpty {
            guard fqdn == configured || fqdn.hasSuffix("." + configured) else {
                return .failure(
                    DNSError(
                        .needsAttention,
                        "The SBC domain \(fqdn) is not inside the zone dns.zone = \(configured): enqueue the customer with an SBC domain in that zone, or change dns.zone, then onboarder retry."
                    ))
            }
            return .success(configured)
        }
        let parent = sbcParent.lowercased()
        if !parent.isEmpty, fqdn.hasSuffix("." + parent) { return .success(parent) }
        return .success(String(fqdn.drop { $0 != "." }.dropFirst()))
    }
}

extension DNSProvider {
    /// The provider the `dns.*` settings describe. Every problem is reported at once, named by its key;
    /// a secret is never quoted back.
    public static func configured(
        provider: String, zone: String, baseURL: String, apiToken: String, server: String, tsigKeyName: String,
        tsigAlgorithm: String, tsigSecret: String, resolver: String
    ) throws(DNSFormatError) -> DNSProvider {
        var problems: [String] = []
        let zone = zone.trimmingCharacters(in: .whitespaces).lowercased()
        if !zone.isEmpty {
            do { _ = try DNSName(zone) } catch { problems.append("dns.zone: \(error)") }
        }
        let configuredZone = zone.isEmpty ? nil : zone
        var result: DNSProvider?
        switch provider {
        case "rfc2136":
            var address: DNSServer?
            if server.isEmpty {
                problems.append("dns.server: the zone's primary server (host:port) is needed for rfc2136")
            } else {
                do { address = try DNSServer(parsing: server) } catch { problems.append("dns.server: \(error)") }
            }
            var key: TSIGKey?
            if tsigKeyName.isEmpty {
                problems.append("dns.tsig_key_name: needed for rfc2136")
            } else if (try? DNSName(tsigKeyName)) == nil {
                problems.append("dns.tsig_key_name: \(tsigKeyName) is not a DNS name")
            }
            if tsigSecret.isEmpty {
                problems.append("dns.tsig_secret: needed for rfc2136")
            } else if Data(base64Encoded: tsigSecret.trimmingCharacters(in: .whitespacesAndNewlines)) == nil {
                // Never quoted back: it may be the real secret with a typo.
                problems.append("dns.tsig_secret: not base64 (as tsig-keygen prints it)")
            }
            let algorithm = TSIGAlgorithm(rawValue: tsigAlgorithm.lowercased())
            if algorithm == nil {
                problems.append(
                    "dns.tsig_algorithm: \(tsigAlgorithm) is not one of \(TSIGAlgorithm.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
            if let algorithm, problems.isEmpty {
                do {
                    key = try TSIGKey(name: tsigKeyName, algorithm: algorithm, base64Secret: tsigSecret)
                } catch {
                    problems.append("dns.tsig_secret: \(error)")
                }
            }
            if let address, let key { result = .rfc2136(server: address, key: key, zone: configuredZone) }
        case "cloudflare":
            if apiToken.isEmpty { problems.append("dns.api_token: needed for cloudflare") }
            if !(baseURL.hasPrefix("https://") || baseURL.hasPrefix("http://")) {
                problems.append("dns.base_url: \(baseURL) is not an http(s) URL")
            }
            result = .cloudflare(baseURL: baseURL, token: apiToken, zone: configuredZone)
        case "manual":
            var servers: [DNSServer] = []
            for entry in resolver.split(separator: ",") where !entry.trimmingCharacters(in: .whitespaces).isEmpty {
                do { servers.append(try DNSServer(parsing: String(entry))) } catch {
                    problems.append("dns.resolver: \(error)")
                }
            }
            result = .manual(resolver: servers.isEmpty ? nil : servers, zone: configuredZone)
        default:
            problems.append("dns.provider: \(provider) is not manual, cloudflare or rfc2136")
        }
        if let result, problems.isEmpty { return result }
        throw DNSFormatError(problems.joined(separator: "; "))
    }
}
