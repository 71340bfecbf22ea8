import Foundation
import PBX

/// Which DNS provider publishes an MSP's customers' verification records: the MSP's own when its row
/// (`onboarder.msps.dns_*`) names one, else the configuration's (`dns.*`). Pure: the worker calls it with
/// the row and its opened secret; `onboarder msp add|set` calls it to refuse a row the worker could not use.
///
/// - A row naming a provider is the MSP's DNS on its own: its zone, server, API URL and TSIG key, and its
///   sealed secret (the Cloudflare API token or the TSIG secret) — never the configuration's secret, which
///   belongs to another account or key. A column left NULL takes the setting's default (Cloudflare's API
///   URL, hmac-sha256); `manual` asks the configuration's `dns.resolver`.
/// - A row naming only a zone puts the records in that zone through the configuration's provider and
///   credentials (one Cloudflare account or TSIG key serving several MSPs' zones).
public enum MSPDNS {
    /// The row's `dns_*` columns (nil: NULL).
    public struct Columns: Sendable, Equatable, Codable {
        public var provider: String?
        public var zone: String?
        public var server: String?
        public var baseURL: String?
        public var tsigKeyName: String?
        public var tsigAlgorithm: String?

        public init(
            provider: String? = nil, zone: String? = nil, server: String? = nil, baseURL: String? = nil,
            tsigKeyName: String? = nil, tsigAlgorithm: String? = nil
        ) {
            self.provider = provider
            self.zone = zone
            self.server = server
            self.baseURL = baseURL
            self.tsigKeyName = tsigKeyName
            self.tsigAlgorithm = tsigAlgorithm
        }

        /// The columns that only mean something with a provider of the MSP's own.
        var providerOnly: [(option: String, value: String?)] {
            [
                ("--dns-server", server), ("--dns-base-url", baseURL), ("--dns-tsig-key-name", tsigKeyName),
                ("--dns-tsig-algorithm", tsigAlgorithm),
            ]
        }
    }

    public static let providers = ["manual", "cloudflare", "rfc2136"]
    public static let defaultCloudflareURL = "https://api.cloudflare.com/client/v4"

    /// Whether the provider takes a secret (the Cloudflare API token, the TSIG secret).
    public static func takesSecret(_ provider: String?) -> Bool { provider == "cloudflare" || provider == "rfc2136" }

    /// The provider for the MSP's customers, or every problem with the row, each named by the
    /// `onboarder msp set` option that fixes it. `secret`: the row's opened `dns_secret` (nil: none).
    public static func provider(_ columns: Columns, secret: String?, configured: DNSProvider) -> Result<
        DNSProvider, MSPDNSProblem
    > {
        guard let provider = columns.provider else {
            var problems = columns.providerOnly.compactMap { option, value in
                value == nil ? nil : "\(option) needs --dns-provider (the MSP's own DNS provider)"
            }
            if secret != nil {
                problems.append("--dns-secret-env needs --dns-provider cloudflare or rfc2136")
            }
            guard let zone = columns.zone else {
                return problems.isEmpty ? .success(configured) : .failure(MSPDNSProblem(problems))
            }
            let lowered = zone.lowercased()
            if (try? DNSName(lowered)) == nil || lowered.isEmpty {
                problems.append("--dns-zone: \(zone) is not a DNS name")
            }
            guard problems.isEmpty else { return .failure(MSPDNSProblem(problems)) }
            return .success(configured.inZone(lowered))
        }
        var problems: [String] = []
        if !takesSecret(provider), secret != nil {
            problems.append("--dns-secret-env: the \(provider) provider takes no secret")
        }
        if provider == "manual" {
            for (option, value) in columns.providerOnly where value != nil {
                problems.append("\(option): the manual provider publishes nothing (no server, API or key)")
            }
        }
        if provider == "cloudflare", columns.server != nil || columns.tsigKeyName != nil || columns.tsigAlgorithm != nil
        {
            problems.append("--dns-server / --dns-tsig-*: for rfc2136 only, not cloudflare")
        }
        if provider == "rfc2136", columns.baseURL != nil {
            problems.append("--dns-base-url: for cloudflare only, not rfc2136")
        }
        if let baseURL = columns.baseURL, !baseURL.hasPrefix("https://"), !baseURL.hasPrefix("http://") {
            problems.append("--dns-base-url: \(baseURL) is not an http(s) URL")
        }
        do {
            let made = try DNSProvider.configured(
                provider: provider, zone: columns.zone ?? "", baseURL: columns.baseURL ?? defaultCloudflareURL,
                apiToken: provider == "cloudflare" ? secret ?? "" : "", server: columns.server ?? "",
                tsigKeyName: columns.tsigKeyName ?? "", tsigAlgorithm: columns.tsigAlgorithm ?? "hmac-sha256",
                tsigSecret: provider == "rfc2136" ? secret ?? "" : "", resolver: "")
            guard problems.isEmpty else { return .failure(MSPDNSProblem(problems)) }
            if case .manual(_, let zone) = made, case .manual(let resolver, _) = configured {
                return .success(.manual(resolver: resolver, zone: zone))
            }
            return .success(made)
        } catch {
            let renamed = error.description.split(separator: ";").map {
                Self.renamed($0.trimmingCharacters(in: .whitespaces))
            }
            return .failure(MSPDNSProblem(problems + renamed.filter { !problems.contains($0) }))
        }
    }

    /// `DNSProvider.configured` names the `dns.*` settings; an MSP's row is set by `onboarder msp` options.
    static func renamed(_ problem: String) -> String {
        let names = [
            ("dns.provider:", "--dns-provider:"), ("dns.zone:", "--dns-zone:"), ("dns.server:", "--dns-server:"),
            ("dns.base_url:", "--dns-base-url:"), ("dns.tsig_key_name:", "--dns-tsig-key-name:"),
            ("dns.tsig_algorithm:", "--dns-tsig-algorithm:"),
            (
                "dns.api_token: needed for cloudflare",
                "--dns-secret-env: the Cloudflare API token is needed for cloudflare"
            ),
            ("dns.tsig_secret: needed for rfc2136", "--dns-secret-env: the TSIG secret is needed for rfc2136"),
            ("dns.tsig_secret:", "--dns-secret-env (the TSIG secret):"),
        ]
        for (setting, option) in names where problem.hasPrefix(setting) {
            return option + problem.dropFirst(setting.count)
        }
        return problem
    }
}

/// Why an MSP's DNS columns cannot be used: every problem, each naming the option that fixes it.
public struct MSPDNSProblem: Error, Sendable, Equatable, CustomStringConvertible {
    public let problems: [String]
    public init(_ problems: [String]) { self.problems = problems }
    public var description: String { problems.joined(separator: "; ") }
}

extension DNSProvider {
    /// The same provider and credentials, publishing in `zone`.
    func inZone(_ zone: String) -> DNSProvider {
        switch self {
        case .rfc2136(let server, let key, _): .rfc2136(server: server, key: key, zone: zone)
        case .cloudflare(let baseURL, let token, _): .cloudflare(baseURL: baseURL, token: token, zone: zone)
        case .manual(let resolver, _): .manual(resolver: resolver, zone: zone)
        }
    }
}
