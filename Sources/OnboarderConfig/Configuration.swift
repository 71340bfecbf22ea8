import Foundation

/// One configuration key: its type, default and documentation. `ConfigKey.all` is the single list that
/// the loader validates against, `config check` prints, and `config/onboarder.example.toml` documents
/// (a test keeps the example file and this list in step).
public struct ConfigKey: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        case string
        case integer(ClosedRange<Int>)
        case bool
        case choice([String])
    }

    public let name: String
    public let kind: Kind
    public let defaultValue: ConfigValue
    /// Printed redacted by `config check`.
    public let isSecret: Bool
    public let summary: String
    /// A second, conventional variable read when `ONBOARDER_…` is not set (Azure Identity's `AZURE_CLIENT_ID`, …).
    public var conventionalVariable: String? = nil

    /// Keys are identified by name.
    public static func == (lhs: ConfigKey, rhs: ConfigKey) -> Bool { lhs.name == rhs.name }
    public func hash(into hasher: inout Hasher) { hasher.combine(name) }

    /// `database.connect_timeout` → `ONBOARDER_DATABASE_CONNECT_TIMEOUT`.
    public var environmentVariable: String {
        "ONBOARDER_" + name.uppercased().replacingOccurrences(of: ".", with: "_")
    }

    public static let databaseURL = ConfigKey(
        name: "database.url", kind: .string, defaultValue: .string(""), isSecret: true,
        summary: "libpq connection URI or keyword string; empty means libpq's PG* environment and defaults")
    public static let databasePoolSize = ConfigKey(
        name: "database.pool_size", kind: .integer(1...200), defaultValue: .integer(8), isSecret: false,
        summary: "connections per worker process (plus one for LISTEN)")
    public static let databaseConnectTimeout = ConfigKey(
        name: "database.connect_timeout", kind: .integer(1...600), defaultValue: .integer(10), isSecret: false,
        summary: "seconds to wait for a connection (PGCONNECT_TIMEOUT wins when set)")
    public static let databaseMigrationsDirectory = ConfigKey(
        name: "database.migrations_dir", kind: .string, defaultValue: .string(""), isSecret: false,
        summary:
            "folder of NNNN_name.sql files (sql/functions is read from the functions folder beside it); empty means beside the binary (../share/onboarder/migrations), then ./sql/migrations"
    )
    public static let workerConcurrency = ConfigKey(
        name: "worker.concurrency", kind: .integer(1...10_000), defaultValue: .integer(50), isSecret: false,
        summary: "jobs in flight at once per worker process")
    public static let workerClaimBatch = ConfigKey(
        name: "worker.claim_batch", kind: .integer(1...1000), defaultValue: .integer(100), isSecret: false,
        summary: "most jobs one claim statement takes")
    public static let workerPollInterval = ConfigKey(
        name: "worker.poll_interval_ms", kind: .integer(10...600_000), defaultValue: .integer(2000), isSecret: false,
        summary: "fallback poll for new work when no NOTIFY arrives")
    public static let workerHeartbeatInterval = ConfigKey(
        name: "worker.heartbeat_interval_ms", kind: .integer(10...600_000), defaultValue: .integer(2000),
        isSecret: false, summary: "how often a worker proves it is alive")
    public static let workerLease = ConfigKey(
        name: "worker.lease_seconds", kind: .integer(1...3600), defaultValue: .integer(30), isSecret: false,
        summary: "a worker silent this long is declared dead and its jobs are requeued")
    public static let workerReapInterval = ConfigKey(
        name: "worker.reap_interval_seconds", kind: .integer(1...3600), defaultValue: .integer(10), isSecret: false,
        summary: "how often each worker looks for dead workers' jobs")
    public static let workerShutdownDeadline = ConfigKey(
        name: "worker.shutdown_deadline_seconds", kind: .integer(0...3600), defaultValue: .integer(30),
        isSecret: false, summary: "on SIGTERM, how long running jobs may finish before they are released")
    public static let retryBaseDelay = ConfigKey(
        name: "retry.base_delay_ms", kind: .integer(1...3_600_000), defaultValue: .integer(2000), isSecret: false,
        summary: "first retry waits up to this (full jitter), doubling per failure of the step")
    public static let retryMaxDelay = ConfigKey(
        name: "retry.max_delay_seconds", kind: .integer(1...86_400), defaultValue: .integer(300), isSecret: false,
        summary: "cap of the backoff (a server's Retry-After still wins)")
    public static let retryMaxAttempts = ConfigKey(
        name: "retry.max_attempts", kind: .integer(1...1000), defaultValue: .integer(10), isSecret: false,
        summary: "failures of one step before the job fails")
    public static let logLevel = ConfigKey(
        name: "log.level", kind: .choice(["trace", "debug", "info", "notice", "warning", "error", "critical"]),
        defaultValue: .string("info"), isSecret: false, summary: "least severe level written")
    public static let logFormat = ConfigKey(
        name: "log.format", kind: .choice(["auto", "json", "human"]), defaultValue: .string("auto"), isSecret: false,
        summary: "json: one JSON object per line; human: for terminals; auto: human on a TTY, else json")

    public static let loginBaseURL = ConfigKey(
        name: "microsoft.login_base_url", kind: .string, defaultValue: .string("https://login.microsoftonline.com"),
        isSecret: false, summary: "Entra ID's authority (the simulator's URL for tests and the demo)")
    public static let graphBaseURL = ConfigKey(
        name: "microsoft.graph_base_url", kind: .string, defaultValue: .string("https://graph.microsoft.com/v1.0"),
        isSecret: false, summary: "Microsoft Graph v1.0")
    public static let graphReportsBaseURL = ConfigKey(
        name: "microsoft.graph_reports_base_url", kind: .string, defaultValue: .string(""), isSecret: false,
        summary:
            "Microsoft Graph beta, for the per-credential sign-in report (appCredentialSignInActivities); empty: graph_base_url with /v1.0 replaced by /beta"
    )
    public static let partnerCenterBaseURL = ConfigKey(
        name: "microsoft.partner_center_base_url", kind: .string,
        defaultValue: .string("https://api.partnercenter.microsoft.com"), isSecret: false,
        summary:
            "Partner Center's REST API (applicationconsents), for MSPs whose consent_mode is partner-center (global cloud)"
    )
    /// The national clouds' endpoints, for MSPs whose cloud is `usgov` or `china` (`onboarder msp add --cloud`):
    /// empty means the endpoints Microsoft documents for that cloud (`CloudEndpoints.documented`); set them to
    /// point such MSPs at the simulator, or at a proxy.
    public static let usgovLoginBaseURL = ConfigKey(
        name: "microsoft.usgov_login_base_url", kind: .string, defaultValue: .string(""), isSecret: false,
        summary: "Entra ID for US Government (GCC High) MSPs; empty: https://login.microsoftonline.us")
    public static let usgovGraphBaseURL = ConfigKey(
        name: "microsoft.usgov_graph_base_url", kind: .string, defaultValue: .string(""), isSecret: false,
        summary: "Microsoft Graph v1.0 for US Government (GCC High) MSPs; empty: https://graph.microsoft.us/v1.0")
    public static let chinaLoginBaseURL = ConfigKey(
        name: "microsoft.china_login_base_url", kind: .string, defaultValue: .string(""), isSecret: false,
        summary: "Entra ID for MSPs in the China cloud (21Vianet); empty: https://login.chinacloudapi.cn")
    public static let chinaGraphBaseURL = ConfigKey(
        name: "microsoft.china_graph_base_url", kind: .string, defaultValue: .string(""), isSecret: false,
        summary: "Microsoft Graph v1.0 for MSPs in the China cloud; empty: https://microsoftgraph.chinacloudapi.cn/v1.0"
    )
    public static let partnerTenantID = ConfigKey(
        name: "partner.tenant_id", kind: .string, defaultValue: .string(""), isSecret: false,
        summary: "the MSP's own tenant, where the partner app is registered", conventionalVariable: "AZURE_TENANT_ID")
    public static let partnerClientID = ConfigKey(
        name: "partner.client_id", kind: .string, defaultValue: .string(""), isSecret: false,
        summary: "the partner app's application (client) id", conventionalVariable: "AZURE_CLIENT_ID")
    public static let partnerClientSecret = ConfigKey(
        name: "partner.client_secret", kind: .string, defaultValue: .string(""), isSecret: true,
        summary: "the partner app's client secret (prefer the certificate)", conventionalVariable: "AZURE_CLIENT_SECRET"
    )
    public static let partnerCertificatePath = ConfigKey(
        name: "partner.certificate_path", kind: .string, defaultValue: .string(""), isSecret: false,
        summary: "PEM with the partner app's certificate and private key",
        conventionalVariable: "AZURE_CLIENT_CERTIFICATE_PATH")
    public static let partnerWritesPerSecond = ConfigKey(
        name: "partner.writes_per_second", kind: .integer(0...100_000), defaultValue: .integer(100), isSecret: false,
        summary:
            "Graph writes per second per partner app, across every worker (Graph allows 117: 35,000 per 5 minutes); an MSP's writes_per_second may lower it; 0: no limit"
    )
    public static let httpCABundle = ConfigKey(
        name: "http.ca_bundle", kind: .string, defaultValue: .string(""), isSecret: false,
        summary: "extra CA certificates (PEM) to trust; empty: the system store")

    public static let secretsKeyFile = ConfigKey(
        name: "secrets.key_file", kind: .string, defaultValue: .string(""), isSecret: false,
        summary:
            "file of encryption keys, one `<key id> <base64 32 bytes>` per line, the first seals (onboarder keys generate); mode 600"
    )
    public static let secretsKey = ConfigKey(
        name: "secrets.key", kind: .string, defaultValue: .string(""), isSecret: true,
        summary: "the same key lines inline (use the environment variable, not the file)")

    public static let secretsReferenceDirectories = ConfigKey(
        name: "secrets.reference_dirs", kind: .string, defaultValue: .string(""), isSecret: false,
        summary:
            "comma-separated absolute folders enqueue rows' file:/json: secret references may read ({msp}: the row's MSP); empty: none"
    )
    public static let secretsReferenceEnvironmentPrefixes = ConfigKey(
        name: "secrets.reference_env_prefixes", kind: .string, defaultValue: .string("PBX_SECRET_"), isSecret: false,
        summary:
            "comma-separated prefixes an env: secret reference's variable must start with ({MSP}: the row's MSP); empty: none"
    )
    public static let pbxAllowLoopbackHTTP = ConfigKey(
        name: "pbx.allow_loopback_http", kind: .bool, defaultValue: .bool(false), isSecret: false,
        summary: "accept http:// PBX URLs on 127.0.0.1 / localhost (the simulator); everything else must be https")

    public static let onboardingAppName = ConfigKey(
        name: "onboarding.app_name", kind: .string, defaultValue: .string("bvoip-msteams-integration"), isSecret: false,
        summary: "display name of the app registration in each customer tenant (lower-cased: its uniqueName)")
    public static let onboardingRoles = ConfigKey(
        name: "onboarding.roles", kind: .string,
        defaultValue: .string(
            "User.Read.All, User.ReadWrite.All, Domain.ReadWrite.All, Domain.Read.All, Calendars.Read, Mail.Send, Contacts.Read"
        ),
        isSecret: false, summary: "Microsoft Graph application roles the app gets, comma-separated")
    public static let onboardingScopes = ConfigKey(
        name: "onboarding.scopes", kind: .string, defaultValue: .string("User.Read"), isSecret: false,
        summary: "Microsoft Graph delegated scopes consented for all users, comma-separated")
    public static let onboardingRedirectURITemplate = ConfigKey(
        name: "onboarding.redirect_uri_template", kind: .string,
        defaultValue: .string("{pbx_url}/api/microsoft365/callback"), isSecret: false,
        summary: "the app's Web redirect URI when the enqueue gives none; {pbx_url} is the PBX's base URL")
    public static let onboardingSecretName = ConfigKey(
        name: "onboarding.secret_display_name", kind: .string, defaultValue: .string("PBX Secret"), isSecret: false,
        summary: "display name of the client secret (Onboarder adds ` · onboarder job N`)")
    public static let onboardingSecretLifetime = ConfigKey(
        name: "onboarding.secret_lifetime_days", kind: .integer(1...730), defaultValue: .integer(730), isSecret: false,
        summary: "client secret lifetime, clamped to each tenant's app-management policy")
    public static let onboardingCertificateSource = ConfigKey(
        name: "onboarding.certificate_source", kind: .choice(["pbx", "file", "generate"]), defaultValue: .string("pbx"),
        isSecret: false,
        summary:
            "pbx (file: its old name): wait for the PBX's own certificate (onboarder cert add); generate: also a certificate of Onboarder's own on the app, for Onboarder to sign in as the app independently of the PBX"
    )
    public static let onboardingSBCParentDomain = ConfigKey(
        name: "onboarding.sbc_parent_domain", kind: .string, defaultValue: .string(""), isSecret: false,
        summary: "Teams path: SBC domains are <customer>.<this> unless the enqueue names one")
    public static let onboardingUsageLocation = ConfigKey(
        name: "onboarding.usage_location", kind: .string, defaultValue: .string("US"), isSecret: false,
        summary: "ISO country code given to the Teams activation user (a licence needs one)")
    public static let onboardingUserBatch = ConfigKey(
        name: "onboarding.user_batch_size", kind: .integer(1...10_000), defaultValue: .integer(100), isSecret: false,
        summary: "Microsoft 365 path: users added to the PBX's user sync per request")
    public static let onboardingInputRecheck = ConfigKey(
        name: "onboarding.input_recheck_seconds", kind: .integer(10...86_400), defaultValue: .integer(3600),
        isSecret: false, summary: "how often a step waiting for an operator looks again (cert add wakes it at once)")
    /// Approval of large enqueues (issue 22): `onboarder migrate` writes it into the database
    /// (`queue_limits.approval_threshold`), where enqueue_many enforces it for every client.
    public static let enqueueApprovalThreshold = ConfigKey(
        name: "enqueue.approval_threshold", kind: .integer(0...10_000_000), defaultValue: .integer(0),
        isSecret: false,
        summary:
            "an enqueue creating more onboard jobs than this is held until another login approves it (onboarder approve); 0: never; set by onboarder migrate"
    )
    public static let rotationGrace = ConfigKey(
        name: "rotation.grace_hours", kind: .integer(0...2160), defaultValue: .integer(24), isSecret: false,
        summary: "how long the old client secret stays valid after the new one was handed to the PBX")
    public static let dnsProvider = ConfigKey(
        name: "dns.provider", kind: .choice(["manual", "cloudflare", "rfc2136"]), defaultValue: .string("manual"),
        isSecret: false,
        summary:
            "where SBC domains' TXT verification records are published: manual (an operator), cloudflare or rfc2136")
    public static let dnsZone = ConfigKey(
        name: "dns.zone", kind: .string, defaultValue: .string(""), isSecret: false,
        summary: "the zone the records go in; empty: onboarding.sbc_parent_domain (else each SBC domain's parent)")
    public static let dnsBaseURL = ConfigKey(
        name: "dns.base_url", kind: .string, defaultValue: .string("https://api.cloudflare.com/client/v4"),
        isSecret: false, summary: "Cloudflare's API (dns.provider = cloudflare)")
    public static let dnsToken = ConfigKey(
        name: "dns.api_token", kind: .string, defaultValue: .string(""), isSecret: true,
        summary: "Cloudflare API token with Zone:Read and DNS:Edit on the zone")
    public static let dnsServer = ConfigKey(
        name: "dns.server", kind: .string, defaultValue: .string(""), isSecret: false,
        summary: "host:port of the zone's primary server, which takes the updates (dns.provider = rfc2136)")
    public static let dnsTSIGKeyName = ConfigKey(
        name: "dns.tsig_key_name", kind: .string, defaultValue: .string(""), isSecret: false,
        summary: "the TSIG key's name, as the server's key statement has it (rfc2136)")
    public static let dnsTSIGAlgorithm = ConfigKey(
        name: "dns.tsig_algorithm",
        kind: .choice(["hmac-sha256", "hmac-sha512", "hmac-sha384", "hmac-sha224", "hmac-sha1"]),
        defaultValue: .string("hmac-sha256"), isSecret: false, summary: "the TSIG key's algorithm (rfc2136)")
    public static let dnsTSIGSecret = ConfigKey(
        name: "dns.tsig_secret", kind: .string, defaultValue: .string(""), isSecret: true,
        summary: "the TSIG key's secret in base64, as tsig-keygen prints it (rfc2136)")
    public static let dnsResolver = ConfigKey(
        name: "dns.resolver", kind: .string, defaultValue: .string(""), isSecret: false,
        summary:
            "manual: host:port of the DNS server asked whether the record is there; empty: the zone's own name servers")

    public static let all: [ConfigKey] = [
        databaseURL, databasePoolSize, databaseConnectTimeout, databaseMigrationsDirectory,
        workerConcurrency, workerClaimBatch, workerPollInterval, workerHeartbeatInterval, workerLease,
        workerReapInterval, workerShutdownDeadline, retryBaseDelay, retryMaxDelay, retryMaxAttempts,
        loginBaseURL, graphBaseURL, graphReportsBaseURL, usgovLoginBaseURL, usgovGraphBaseURL, chinaLoginBaseURL,
        chinaGraphBaseURL, partnerCenterBaseURL, partnerTenantID, partnerClientID, partnerClientSecret,
        partnerCertificatePath, partnerWritesPerSecond,
        httpCABundle, logLevel, logFormat, secretsKeyFile, secretsKey, secretsReferenceDirectories,
        secretsReferenceEnvironmentPrefixes, pbxAllowLoopbackHTTP, onboardingAppName, onboardingRoles,
        onboardingScopes, onboardingRedirectURITemplate, onboardingSecretName, onboardingSecretLifetime,
        onboardingCertificateSource, onboardingSBCParentDomain, onboardingUsageLocation, onboardingUserBatch,
        onboardingInputRecheck, rotationGrace, dnsProvider, dnsZone, dnsBaseURL, dnsToken, dnsServer, dnsTSIGKeyName,
        dnsTSIGAlgorithm, dnsTSIGSecret, dnsResolver,
        // Approval of large enqueues (issue 22).
        enqueueApprovalThreshold,
    ]
}

/// Where a setting's effective value came from.
public enum ConfigSource: Sendable, Equatable, CustomStringConvertible {
    case defaultValue
    case file(path: String, line: Int)
    case environment(String)
    case commandLine(String)

    public var description: String {
        switch self {
        case .defaultValue: "default"
        case .file(let path, let line): "\(path):\(line)"
        case .environment(let name): "environment \(name)"
        case .commandLine(let flag): "command line \(flag)"
        }
    }
}

/// The effective configuration: every key's value and where it came from, validated once at start-up.
public struct ResolvedConfiguration: Sendable {
    public struct Setting: Sendable {
        public let key: ConfigKey
        public let value: ConfigValue
        public let source: ConfigSource
    }

    public let settings: [Setting]
    /// The file read, if any.
    public let file: String?

    /// Reads `file` (if given), then applies `ONBOARDER_*` variables from `environment`, then `overrides`
    /// (command-line flags). Every problem is reported, not just the first.
    public static func load(
        file: String?,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        overrides: [(key: ConfigKey, value: String, flag: String)] = []
    ) throws(ConfigErrors) -> ResolvedConfiguration {
        var errors = [ConfigError]()
        var fileEntries = [String: TOMLParser.Entry]()
        if let file {
            do {
                let data = try Data(contentsOf: URL(fileURLWithPath: file))
                // Foundation's own words for bad UTF-8 are "the file isn't in the correct format" (scripts/fuzz).
                guard let text = String(data: data, encoding: .utf8) else {
                    throw ConfigError(file: file, key: nil, message: "the file is not UTF-8 text")
                }
                fileEntries = try TOMLParser.parse(text, file: file)
            } catch let error as ConfigError {
                throw ConfigErrors([error])
            } catch {
                throw ConfigErrors([
                    ConfigError(file: file, key: nil, message: "cannot read the file: \(error.localizedDescription)")
                ])
            }
            let known = Set(ConfigKey.all.map(\.name))
            for (name, entry) in fileEntries.sorted(by: { $0.value.line < $1.value.line }) where !known.contains(name) {
                var message = "unknown key"
                if let suggestion = closest(to: name, in: known) { message += " (did you mean \(suggestion)?)" }
                errors.append(ConfigError(file: file, line: entry.line, key: name, message: message))
            }
        }
        var settings = [Setting]()
        for key in ConfigKey.all {
            var value = key.defaultValue
            var source = ConfigSource.defaultValue
            if let entry = fileEntries[key.name], let file {
                do throws(ConfigError) {
                    value = try validate(entry.value, for: key)
                    source = .file(path: file, line: entry.line)
                } catch {
                    errors.append(ConfigError(file: file, line: entry.line, key: key.name, message: error.message))
                }
            }
            let variable = [key.environmentVariable, key.conventionalVariable].compactMap { $0 }
                .first { environment[$0] != nil }
            if let variable, let text = environment[variable] {
                do throws(ConfigError) {
                    value = try validate(parseText(text, for: key), for: key)
                    source = .environment(variable)
                } catch {
                    errors.append(ConfigError(environmentVariable: variable, key: key.name, message: error.message))
                }
            }
            for override in overrides where override.key == key {
                do throws(ConfigError) {
                    value = try validate(parseText(override.value, for: key), for: key)
                    source = .commandLine(override.flag)
                } catch {
                    errors.append(ConfigError(key: key.name, message: "\(override.flag): \(error.message)"))
                }
            }
            settings.append(Setting(key: key, value: value, source: source))
        }
        guard errors.isEmpty else { throw ConfigErrors(errors) }
        return ResolvedConfiguration(settings: settings, file: file)
    }

    public func setting(_ key: ConfigKey) -> Setting {
        guard let setting = settings.first(where: { $0.key == key }) else {
            preconditionFailure("\(key.name) is missing from ConfigKey.all")
        }
        return setting
    }

    public func string(_ key: ConfigKey) -> String {
        if case .string(let value) = setting(key).value { return value }
        preconditionFailure("\(key.name) is not a string")
    }

    public func integer(_ key: ConfigKey) -> Int {
        if case .integer(let value) = setting(key).value { return value }
        preconditionFailure("\(key.name) is not an integer")
    }

    public func bool(_ key: ConfigKey) -> Bool {
        if case .bool(let value) = setting(key).value { return value }
        preconditionFailure("\(key.name) is not a boolean")
    }

    /// The value as `config check` shows it: secrets redacted (a database URL keeps everything but its
    /// password, so an operator can still see which server is meant).
    public func displayValue(_ setting: Setting) -> String {
        guard setting.key.isSecret, case .string(let text) = setting.value, !text.isEmpty else {
            return setting.value.description
        }
        if setting.key == .databaseURL { return "\"\(Redaction.connectionString(text))\"" }
        return "<redacted>"
    }

    // MARK: Validation

    private static func parseText(_ text: String, for key: ConfigKey) throws(ConfigError) -> ConfigValue {
        switch key.kind {
        case .string, .choice: return .string(text)
        case .integer:
            guard let value = Int(text.trimmingCharacters(in: .whitespaces)) else {
                throw ConfigError(key: key.name, message: "expected an integer, got '\(text)'")
            }
            return .integer(value)
        case .bool:
            switch text.lowercased() {
            case "true", "1", "yes", "on": return .bool(true)
            case "false", "0", "no", "off": return .bool(false)
            default: throw ConfigError(key: key.name, message: "expected true or false, got '\(text)'")
            }
        }
    }

    private static func validate(_ value: ConfigValue, for key: ConfigKey) throws(ConfigError) -> ConfigValue {
        // A NUL (TOML allows "\u0000") would cut a path or URL short where it meets C (libpq, open(2)):
        // a different value from the one written, used without a word.
        if case .string(let text) = value, text.utf8.contains(0) {
            throw ConfigError(key: key.name, message: "a NUL character (U+0000) in the value")
        }
        switch (key.kind, value) {
        case (.string, .string): return value
        case (.integer(let range), .integer(let number)):
            guard range.contains(number) else {
                throw ConfigError(
                    key: key.name, message: "\(number) is outside \(range.lowerBound)…\(range.upperBound)")
            }
            return value
        case (.bool, .bool): return value
        case (.choice(let choices), .string(let text)):
            guard choices.contains(text) else {
                throw ConfigError(key: key.name, message: "'\(text)' is not one of \(choices.joined(separator: ", "))")
            }
            return value
        case (.string, _), (.choice, _): throw ConfigError(key: key.name, message: "expected a string, got \(value)")
        case (.integer, _): throw ConfigError(key: key.name, message: "expected an integer, got \(value)")
        case (.bool, _): throw ConfigError(key: key.name, message: "expected true or false, got \(value)")
        }
    }

    private static func closest(to name: String, in candidates: Set<String>) -> String? {
        // The distance is at least the difference in length: only near-equal lengths can be within 3. (A
        // megabyte-long key once took minutes here; scripts/fuzz found it.)
        let length = name.count
        let scored = candidates.filter { abs($0.count - length) <= 3 }.map {
            ($0, editDistance(Array(name), Array($0)))
        }
        guard let best = scored.min(by: { $0.1 < $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }), best.1 <= 3 else {
            return nil
        }
        return best.0
    }

    private static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        var previous = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...max(b.count, 1) where !b.isEmpty {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}

/// All the problems found in one load, in the order met.
public struct ConfigErrors: Error, Sendable, CustomStringConvertible {
    public let errors: [ConfigError]
    public init(_ errors: [ConfigError]) { self.errors = errors }
    public var description: String { errors.map(\.description).joined(separator: "\n") }
}

/// Hiding secrets in text meant for people and logs.
public enum Redaction {
    /// Replaces the password in a libpq URI (`postgresql://user:pw@host/db`) or keyword string
    /// (`password=pw`) with `***`.
    public static func connectionString(_ text: String) -> String {
        if let scheme = text.range(of: "://") {
            let rest = text[scheme.upperBound...]
            let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
            var redacted = text
            if let at = rest[..<authorityEnd].lastIndex(of: "@"),
                let colon = rest[..<at].firstIndex(of: ":")
            {
                redacted = String(text[..<rest.index(after: colon)]) + "***" + String(text[at...])
            }
            // Parameters can carry a password too: ?password=…
            return redacted.replacing(/([?&]password=)[^&]*/) { "\($0.output.1)***" }
        }
        return text.replacing(/(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)/) { "\($0.output.1)***" }
    }
}

/// A value that must never be printed or logged: its description is redacted.
public struct Secret<Value: Sendable>: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The value itself, for the one place that needs it (an HTTP body, an encryption call).
    public let exposedValue: Value
    public init(_ value: Value) { self.exposedValue = value }
    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
}
