import Crypto
import Foundation
import PBX
import Pipeline

/// An MSP as `onboarder msp add|set` edits it: every column of `onboarder.msps`, and what its secrets row
/// holds (a stored secret stays sealed: only whether there is one, and the certificate, which is public).
struct MSPDraft: Equatable {
    /// The partner app's credential.
    enum Credential: Equatable {
        case none
        /// Already stored (sealed); kept as it is.
        case storedSecret
        case storedCertificate(pem: String)
        /// Given now: sealed before it is written.
        case newSecret(String)
        case newCertificate(certificatePEM: String, keyPEM: String)

        var isPresent: Bool { self != .none }
    }

    /// The DNS secret (the Cloudflare API token or the TSIG secret).
    enum DNSSecret: Equatable {
        case none, stored
        case new(String)
    }

    var id: String
    var displayName: String
    var cloud = "global"
    var partnerTenantID: String?
    var partnerClientID: String?
    var credential = Credential.none
    var consentMode = "links"
    var dns = MSPDNS.Columns()
    var dnsSecret = DNSSecret.none
    var allowedPBXHosts: [String]?
    var maxRunning: Int?
    var writesPerSecond: Double?

    /// Every problem of the whole MSP (what it would be after the change), each naming the option that
    /// fixes it; empty: the worker can use it.
    var problems: [String] {
        var problems: [String] = []
        if (partnerTenantID == nil) != (partnerClientID == nil) {
            problems.append(
                "--partner-tenant-id and --partner-client-id go together: the tenant the MSP's partner app is registered in, and its client id"
            )
        }
        let hasApp = partnerTenantID != nil && partnerClientID != nil
        if hasApp, !credential.isPresent {
            problems.append(
                "the partner app needs a credential: --partner-certificate PEMFILE (preferred), --partner-secret-env VAR or --partner-secret-stdin"
            )
        }
        if !hasApp, partnerTenantID == nil, partnerClientID == nil, credential.isPresent {
            problems.append(
                "a partner credential needs its app: --partner-tenant-id and --partner-client-id")
        }
        if cloud != "global", !hasApp {
            problems.append(
                "--cloud \(cloud) needs a partner app of the MSP's own, registered in that cloud (--partner-tenant-id, --partner-client-id and a credential): the configuration's partner app is the global cloud's"
            )
        }
        // A stored secret was checked when it was set; only its presence matters here.
        let secret: String? =
            switch dnsSecret {
            case .none: nil
            case .stored: dns.provider == "rfc2136" ? "AAAAAAAAAAAAAAAAAAAAAA==" : "stored"
            case .new(let value): value
            }
        if case .failure(let problem) = MSPDNS.provider(
            dns, secret: secret, configured: .manual(resolver: nil, zone: nil))
        {
            problems += problem.problems
        }
        return problems
    }
}

/// The fields `onboarder msp set --clear` empties.
enum MSPField: String, CaseIterable {
    /// The partner app and its credential: the MSP uses the configuration's partner app again.
    case partnerApp = "partner-app"
    /// Every DNS column and the DNS secret: the configuration's DNS again.
    case dns
    case dnsZone = "dns-zone"
    case dnsServer = "dns-server"
    case dnsBaseURL = "dns-base-url"
    case dnsTSIGKeyName = "dns-tsig-key-name"
    case dnsTSIGAlgorithm = "dns-tsig-algorithm"
    case allowedPBXHosts = "allowed-pbx-hosts"
    case maxRunning = "max-running"
    case writesPerSecond = "writes-per-second"
}

/// What `onboarder msp add|set` was asked to change, each value validated; nil leaves a field as it is.
struct MSPChange: Equatable {
    var displayName: String?
    var cloud: String?
    var partnerTenantID: String?
    var partnerClientID: String?
    var credential: MSPDraft.Credential?
    var consentMode: String?
    var dns = MSPDNS.Columns()
    var dnsSecret: String?
    var allowedPBXHosts: [String]?
    var maxRunning: Int?
    var writesPerSecond: Double?
    var clear: Set<MSPField> = []

    /// `draft` with this change made: clearing first, then the values given.
    func applied(to draft: MSPDraft) -> MSPDraft {
        var next = draft
        for field in clear {
            switch field {
            case .partnerApp:
                next.partnerTenantID = nil
                next.partnerClientID = nil
                next.credential = .none
            case .dns:
                next.dns = MSPDNS.Columns()
                next.dnsSecret = .none
            case .dnsZone: next.dns.zone = nil
            case .dnsServer: next.dns.server = nil
            case .dnsBaseURL: next.dns.baseURL = nil
            case .dnsTSIGKeyName: next.dns.tsigKeyName = nil
            case .dnsTSIGAlgorithm: next.dns.tsigAlgorithm = nil
            case .allowedPBXHosts: next.allowedPBXHosts = nil
            case .maxRunning: next.maxRunning = nil
            case .writesPerSecond: next.writesPerSecond = nil
            }
        }
        if let displayName { next.displayName = displayName }
        if let cloud { next.cloud = cloud }
        if let partnerTenantID { next.partnerTenantID = partnerTenantID }
        if let partnerClientID { next.partnerClientID = partnerClientID }
        if let credential { next.credential = credential }
        if let consentMode { next.consentMode = consentMode }
        if let provider = dns.provider {
            // Another provider's server, URL, key and secret mean nothing to this one.
            if provider != next.dns.provider {
                next.dns = MSPDNS.Columns(zone: next.dns.zone)
                next.dnsSecret = .none
            }
            next.dns.provider = provider
        }
        if let zone = dns.zone { next.dns.zone = zone }
        if let server = dns.server { next.dns.server = server }
        if let baseURL = dns.baseURL { next.dns.baseURL = baseURL }
        if let name = dns.tsigKeyName { next.dns.tsigKeyName = name }
        if let algorithm = dns.tsigAlgorithm { next.dns.tsigAlgorithm = algorithm }
        if let dnsSecret { next.dnsSecret = .new(dnsSecret) }
        if let allowedPBXHosts { next.allowedPBXHosts = allowedPBXHosts }
        if let maxRunning { next.maxRunning = maxRunning }
        if let writesPerSecond { next.writesPerSecond = writesPerSecond }
        return next
    }
}

/// What reading the options needs from the outside world, so the decisions stay table-testable.
struct MSPInputs {
    var environment: [String: String] = ProcessInfo.processInfo.environment
    var readFile: (String) throws -> String = { try String(contentsOfFile: $0, encoding: .utf8) }
    var filePermissionProblem: (String) -> String? = { FilePermissions.problem(path: $0) }
    var readStandardInput: () -> Data = {
        FileHandle.standardInput.readData(ofLength: SecretResolver.maxFileBytes + 1)
    }
    var now = Date()
}

/// The raw option values of `onboarder msp add|set`, before validation.
struct MSPOptionValues: Equatable {
    var displayName: String?
    var cloud: String?
    var partnerTenantID: String?
    var partnerClientID: String?
    var partnerCertificate: String?
    var partnerSecretEnv: String?
    var partnerSecretStdin = false
    var consent: String?
    var dnsProvider: String?
    var dnsZone: String?
    var dnsServer: String?
    var dnsBaseURL: String?
    var dnsTSIGKeyName: String?
    var dnsTSIGAlgorithm: String?
    var dnsSecretEnv: String?
    var allowedPBXHosts: String?
    var maxRunning: String?
    var writesPerSecond: String?
    var clear: [String] = []

    static let clouds = ["global", "usgov", "china"]
    static let consentModes = ["links", "partner-center"]
    static let algorithms = ["hmac-sha256", "hmac-sha512", "hmac-sha384", "hmac-sha224", "hmac-sha1"]

    /// The change these options ask for, or every problem with them, each naming its option. Reads the
    /// certificate file, the named variables and standard input (once) through `inputs`.
    func change(_ inputs: MSPInputs) -> Result<MSPChange, MSPOptionProblems> {
        var problems: [String] = []
        var change = MSPChange()
        if let displayName {
            let trimmed = displayName.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.count > 200 {
                problems.append("--display-name: 1 to 200 characters")
            } else if trimmed.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
                problems.append("--display-name: no control characters")
            } else {
                change.displayName = trimmed
            }
        }
        change.cloud = Self.choice(cloud, "--cloud", Self.clouds, &problems)
        change.consentMode = Self.choice(consent, "--consent", Self.consentModes, &problems)
        change.partnerTenantID = Self.guid(partnerTenantID, "--partner-tenant-id", &problems)
        change.partnerClientID = Self.guid(partnerClientID, "--partner-client-id", &problems)

        let credentialOptions = [
            partnerCertificate.map { _ in "--partner-certificate" },
            partnerSecretEnv.map { _ in "--partner-secret-env" },
            partnerSecretStdin ? "--partner-secret-stdin" : nil,
        ].compactMap { $0 }
        if credentialOptions.count > 1 {
            problems.append("\(credentialOptions.joined(separator: ", ")): give one partner credential, not several")
        } else if let path = partnerCertificate {
            switch Self.certificate(path, inputs) {
            case .success(let credential): change.credential = credential
            case .failure(let problem): problems.append("--partner-certificate: \(problem.problems.joined())")
            }
        } else if let name = partnerSecretEnv {
            if let value = Self.variable(name, "--partner-secret-env", inputs, &problems) {
                change.credential = .newSecret(value)
            }
        } else if partnerSecretStdin {
            let data = inputs.readStandardInput()
            let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if data.count > SecretResolver.maxFileBytes {
                problems.append("--partner-secret-stdin: more than \(SecretResolver.maxFileBytes) bytes: not a secret")
            } else if text.isEmpty {
                problems.append("--partner-secret-stdin: nothing on standard input")
            } else if text.contains("\n") || text.unicodeScalars.contains(where: { $0.value < 0x20 }) {
                problems.append("--partner-secret-stdin: a client secret is one line without control characters")
            } else {
                change.credential = .newSecret(text)
            }
        }

        change.dns.provider = Self.choice(dnsProvider, "--dns-provider", MSPDNS.providers, &problems)
        change.dns.zone = Self.nonEmpty(dnsZone, "--dns-zone", &problems)?.lowercased()
        change.dns.server = Self.nonEmpty(dnsServer, "--dns-server", &problems)
        change.dns.baseURL = Self.nonEmpty(dnsBaseURL, "--dns-base-url", &problems)
        change.dns.tsigKeyName = Self.nonEmpty(dnsTSIGKeyName, "--dns-tsig-key-name", &problems)?.lowercased()
        change.dns.tsigAlgorithm = Self.choice(
            dnsTSIGAlgorithm?.lowercased(), "--dns-tsig-algorithm", Self.algorithms, &problems)
        if let name = dnsSecretEnv {
            change.dnsSecret = Self.variable(name, "--dns-secret-env", inputs, &problems)
        }

        if let allowedPBXHosts {
            let hosts = allowedPBXHosts.split(separator: ",").map {
                $0.trimmingCharacters(in: .whitespaces).lowercased()
            }
            let bad = hosts.filter { !Self.isHostPattern($0) }
            if hosts.isEmpty || allowedPBXHosts.trimmingCharacters(in: .whitespaces).isEmpty {
                problems.append(
                    "--allowed-pbx-hosts: name at least one host (pbx.example.com or *.example.com); --clear allowed-pbx-hosts allows any host"
                )
            } else if !bad.isEmpty {
                problems.append(
                    "--allowed-pbx-hosts: \(bad.map { "'\($0)'" }.joined(separator: ", ")) is not a host name or *.suffix"
                )
            } else {
                change.allowedPBXHosts = hosts
            }
        }
        if let maxRunning {
            if let value = Int(maxRunning.trimmingCharacters(in: .whitespaces)), (1...1_000_000).contains(value) {
                change.maxRunning = value
            } else {
                problems.append("--max-running: a whole number from 1 to 1000000 (--clear max-running: no limit)")
            }
        }
        if let writesPerSecond {
            if let value = Double(writesPerSecond.trimmingCharacters(in: .whitespaces)), value.isFinite, value > 0,
                value <= 100_000
            {
                change.writesPerSecond = value
            } else {
                problems.append(
                    "--writes-per-second: a number above 0, at most 100000 (--clear writes-per-second: the default)")
            }
        }
        for name in clear {
            if let field = MSPField(rawValue: name.lowercased()) {
                change.clear.insert(field)
            } else {
                problems.append(
                    "--clear: \(name) is not one of \(MSPField.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }
        let given = givenOptions
        for field in change.clear {
            if let option = Self.conflict(field, given) {
                problems.append("--clear \(field.rawValue) and \(option): clear it or set it, not both")
            }
        }
        return problems.isEmpty ? .success(change) : .failure(MSPOptionProblems(problems))
    }

    /// The options given, by name.
    var givenOptions: Set<String> {
        var given = Set<String>()
        if partnerTenantID != nil { given.insert("--partner-tenant-id") }
        if partnerClientID != nil { given.insert("--partner-client-id") }
        if partnerCertificate != nil || partnerSecretEnv != nil || partnerSecretStdin { given.insert("--partner-*") }
        if dnsProvider != nil { given.insert("--dns-provider") }
        if dnsZone != nil { given.insert("--dns-zone") }
        if dnsServer != nil { given.insert("--dns-server") }
        if dnsBaseURL != nil { given.insert("--dns-base-url") }
        if dnsTSIGKeyName != nil { given.insert("--dns-tsig-key-name") }
        if dnsTSIGAlgorithm != nil { given.insert("--dns-tsig-algorithm") }
        if dnsSecretEnv != nil { given.insert("--dns-secret-env") }
        if allowedPBXHosts != nil { given.insert("--allowed-pbx-hosts") }
        if maxRunning != nil { given.insert("--max-running") }
        if writesPerSecond != nil { given.insert("--writes-per-second") }
        return given
    }

    static func conflict(_ field: MSPField, _ given: Set<String>) -> String? {
        let options: [String] =
            switch field {
            case .partnerApp: ["--partner-tenant-id", "--partner-client-id", "--partner-*"]
            case .dns:
                [
                    "--dns-provider", "--dns-zone", "--dns-server", "--dns-base-url", "--dns-tsig-key-name",
                    "--dns-tsig-algorithm", "--dns-secret-env",
                ]
            default: ["--" + field.rawValue]
            }
        return options.first { given.contains($0) }
    }

    static func choice(_ value: String?, _ option: String, _ choices: [String], _ problems: inout [String]) -> String? {
        guard let value else { return nil }
        guard choices.contains(value) else {
            problems.append("\(option): '\(value)' is not one of \(choices.joined(separator: ", "))")
            return nil
        }
        return value
    }

    static func nonEmpty(_ value: String?, _ option: String, _ problems: inout [String]) -> String? {
        guard let value else { return nil }
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty, trimmed.count <= 253,
            !trimmed.unicodeScalars.contains(where: { $0.value < 0x21 || $0.value == 0x7F })
        else {
            problems.append("\(option): empty, too long or with spaces or control characters (--clear removes a value)")
            return nil
        }
        return trimmed
    }

    static func guid(_ value: String?, _ option: String, _ problems: inout [String]) -> String? {
        guard let value else { return nil }
        guard let id = UUID(uuidString: value.trimmingCharacters(in: .whitespaces)),
            id != UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
        else {
            problems.append("\(option): '\(value)' is not a GUID (as Entra shows it: 8-4-4-4-12 hex digits)")
            return nil
        }
        return id.uuidString.lowercased()
    }

    /// A variable's value, never quoted back.
    static func variable(_ name: String, _ option: String, _ inputs: MSPInputs, _ problems: inout [String])
        -> String?
    {
        guard name.wholeMatch(of: /[A-Za-z_][A-Za-z0-9_]{0,127}/) != nil else {
            problems.append("\(option): '\(name)' is not an environment variable name")
            return nil
        }
        guard let value = inputs.environment[name]?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty
        else {
            problems.append("\(option): the variable \(name) is not set or empty")
            return nil
        }
        guard !value.unicodeScalars.contains(where: { $0.value < 0x20 }) else {
            problems.append("\(option): the variable \(name) holds control characters: not a secret of one line")
            return nil
        }
        return value
    }

    /// `pbx.example.com` or `*.example.com`, lower case (as `onboarder.msps.allowed_pbx_hosts` requires).
    static func isHostPattern(_ text: String) -> Bool {
        let name = text.hasPrefix("*.") ? String(text.dropFirst(2)) : text
        guard !name.isEmpty, name.count <= 253 else { return false }
        return name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            !label.isEmpty
                && label.utf8.allSatisfy {
                    ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2D || $0 == 0x5F
                }
        }
    }

    /// The partner app's certificate file: the certificate (stored as is: it is public) and its private
    /// key (sealed), which must belong together; refused when others may read the file, or expired.
    static func certificate(_ path: String, _ inputs: MSPInputs) -> Result<MSPDraft.Credential, MSPOptionProblems> {
        if let problem = inputs.filePermissionProblem(path) { return .failure(MSPOptionProblems([problem])) }
        let text: String
        do { text = try inputs.readFile(path) } catch {
            return .failure(MSPOptionProblems(["cannot read \(path): \(error.localizedDescription)"]))
        }
        guard text.contains("PRIVATE KEY-----") else {
            return .failure(
                MSPOptionProblems(["\(path) holds no private key: it needs the certificate and its private key (PEM)"]))
        }
        do {
            let certificate = try Certificate(pem: text)
            let key = try PrivateKey(pem: text)
            guard try key.publicKey.pem == certificate.publicKey.pem else {
                return .failure(MSPOptionProblems(["\(path): the private key is not the certificate's"]))
            }
            guard certificate.notAfter > inputs.now else {
                return .failure(
                    MSPOptionProblems([
                        "\(path): the certificate expired on \(ISO8601DateFormatter().string(from: certificate.notAfter))"
                    ]))
            }
            return .success(.newCertificate(certificatePEM: try certificate.pem, keyPEM: try key.pem()))
        } catch {
            return .failure(MSPOptionProblems(["\(path): \(error)"]))
        }
    }
}

/// Every problem with the options of one `onboarder msp` command (exit status 2).
struct MSPOptionProblems: Error, Equatable {
    let problems: [String]
    init(_ problems: [String]) { self.problems = problems }
}

extension MSPDraft {
    /// What `msp show` says of the partner credential: never the secret.
    var credentialSummary: String {
        switch credential {
        case .none: "none"
        case .storedSecret, .newSecret: "sealed secret set"
        case .storedCertificate(let pem), .newCertificate(let pem, _): Self.certificateSummary(pem)
        }
    }

    static func certificateSummary(_ pem: String) -> String {
        guard let certificate = try? Certificate(pem: pem), let thumbprint = try? certificate.sha1Thumbprint else {
            return "certificate (unreadable)"
        }
        let formatter = ISO8601DateFormatter()
        let expiry = certificate.notAfter < Date() ? "EXPIRED" : "expires"
        return
            "certificate, thumbprint \(thumbprint.map { String(format: "%02X", $0) }.joined()), \(expiry) \(formatter.string(from: certificate.notAfter))"
    }
}
