import Foundation
import Graph
import HTTP
import OnboarderConfig
import PBX
import Pipeline

extension ResolvedConfiguration {
    /// The vault of `secrets.key` / `secrets.key_file`.
    func vault() throws -> SecretVault {
        do {
            return try SecretVault.load(file: string(.secretsKeyFile), inline: string(.secretsKey))
        } catch {
            throw CleanExit.message("secrets: \(error)", code: .validationFailure)
        }
    }

    var httpConfiguration: HTTPClientConfiguration {
        var configuration = HTTPClientConfiguration()
        let bundle = string(.httpCABundle)
        if !bundle.isEmpty { configuration.caBundlePath = bundle }
        // Each job in flight has at most one request out at a time, and over HTTP/1.1 each needs its own
        // connection: a smaller per-host cap would queue requests inside libcurl (at concurrency 200 behind
        // the default 64, every call waited about three times its latency; `scripts/bench e2e`).
        configuration.maxConnectionsPerHost = max(configuration.maxConnectionsPerHost, integer(.workerConcurrency) + 16)
        return configuration
    }

    static func list(_ text: String) -> [String] {
        text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// The onboarding pipeline's settings; the partner credential is read (certificate file) here, so a
    /// bad one stops the worker at start-up with its path, not every job later.
    func onboardingSettings() throws -> OnboardingSettings {
        var settings = batchPlanSettings()
        settings.loginBaseURL = string(.loginBaseURL)
        settings.graphBaseURL = string(.graphBaseURL)
        settings.graphReportsBaseURLSetting = string(.graphReportsBaseURL)
        settings.partnerCenterBaseURL = string(.partnerCenterBaseURL)
        settings.cloudOverrides = try cloudOverrides()
        settings.partnerTenantID = string(.partnerTenantID)
        settings.partnerClientID = string(.partnerClientID)
        settings.partnerWritesPerSecond = Double(integer(.partnerWritesPerSecond))
        let certificate = string(.partnerCertificatePath)
        let secret = string(.partnerClientSecret)
        if !certificate.isEmpty {
            // The partner certificate's private key opens every customer tenant: refused, like the key
            // file, when others may read it.
            if let problem = FilePermissions.problem(path: certificate) {
                throw CleanExit.message("partner.certificate_path: \(problem)", code: .validationFailure)
            }
            do {
                settings.partnerCredential = try ClientCredential.certificate(pemFile: certificate)
            } catch {
                throw CleanExit.message("partner.certificate_path: \(error)", code: .validationFailure)
            }
        } else if !secret.isEmpty {
            settings.partnerCredential = .secret(secret)
        }
        settings.userBatchSize = integer(.onboardingUserBatch)
        settings.inputRecheck = .seconds(integer(.onboardingInputRecheck))
        settings.rotationGrace = .seconds(integer(.rotationGrace) * 3600)
        settings.dns = try dnsProvider()
        settings.secretReferences = try secretReferencePolicy()
        settings.pbxEndpoints = PBXEndpointPolicy(allowLoopbackHTTP: bool(.pbxAllowLoopbackHTTP))
        return settings
    }

    /// `microsoft.usgov_*` / `microsoft.china_*`: the national clouds' hosts where the configuration names
    /// them (the simulator in tests, a proxy), Microsoft's documented ones otherwise. The Graph token scope
    /// stays the cloud's own: it names the service, not the address requests go to.
    func cloudOverrides() throws -> [Cloud: CloudEndpoints] {
        var overrides: [Cloud: CloudEndpoints] = [:]
        for (cloud, login, graph) in [
            (Cloud.usgov, ConfigKey.usgovLoginBaseURL, ConfigKey.usgovGraphBaseURL),
            (Cloud.china, ConfigKey.chinaLoginBaseURL, ConfigKey.chinaGraphBaseURL),
        ] {
            var endpoints = CloudEndpoints.documented(cloud)
            for (key, value) in [(login, string(login)), (graph, string(graph))] where !value.isEmpty {
                guard value.hasPrefix("https://") || value.hasPrefix("http://") else {
                    throw CleanExit.message("\(key.name): \(value) is not an http(s) URL", code: .validationFailure)
                }
                let trimmed = value.hasSuffix("/") ? String(value.dropLast()) : value
                if key == login { endpoints.loginBaseURL = trimmed } else { endpoints.graphBaseURL = trimmed }
                overrides[cloud] = endpoints
            }
        }
        return overrides
    }

    /// `dns.*`: checked at start-up, so a missing key or a bad secret stops the worker with the setting's
    /// name instead of stopping every Teams job later.
    func dnsProvider() throws -> DNSProvider {
        do {
            return try DNSProvider.configured(
                provider: string(.dnsProvider), zone: string(.dnsZone), baseURL: string(.dnsBaseURL),
                apiToken: string(.dnsToken), server: string(.dnsServer), tsigKeyName: string(.dnsTSIGKeyName),
                tsigAlgorithm: string(.dnsTSIGAlgorithm), tsigSecret: string(.dnsTSIGSecret),
                resolver: string(.dnsResolver))
        } catch {
            throw CleanExit.message("\(error)", code: .validationFailure)
        }
    }

    /// `secrets.reference_dirs` / `reference_env_prefixes`, with relative folders made absolute and the
    /// deployment's own secret files (the key file, the partner certificate) protected by name. A folder
    /// that holds one of those files is refused outright: it is the one mistake that would put them in
    /// reach of enqueue input.
    func secretReferencePolicy() throws -> SecretReferencePolicy {
        let here = FileManager.default.currentDirectoryPath
        func absolute(_ path: String) -> String { path.hasPrefix("/") ? path : here + "/" + path }
        let protected = [string(.secretsKeyFile), string(.partnerCertificatePath)].filter { !$0.isEmpty }.map(absolute)
        let policy = SecretReferencePolicy(
            directories: Self.list(string(.secretsReferenceDirectories)).map(absolute),
            environmentPrefixes: Self.list(string(.secretsReferenceEnvironmentPrefixes)),
            protectedFiles: protected)
        for directory in policy.directories where !directory.contains("{msp}") {
            for file in protected
            where SecretReferencePolicy.isInside(SecretReferencePolicy.standardized(file), [directory]) {
                throw CleanExit.message(
                    "secrets.reference_dirs: \(directory) holds \(file), one of the deployment's own secret files; "
                        + "keep PBX secrets in a folder of their own",
                    code: .validationFailure)
            }
        }
        for prefix in policy.environmentPrefixes
        where SecretReferencePolicy.isDeploymentVariable(prefix) || prefix.count < 3 {
            throw CleanExit.message(
                "secrets.reference_env_prefixes: \(prefix) would reach the deployment's own variables; use a prefix of your own (PBX_SECRET_)",
                code: .validationFailure)
        }
        return policy
    }
}

extension ResolvedConfiguration {
    /// What `onboarder enqueue` checks rows against besides syntax (the worker checks it again).
    func enqueueRules() throws -> EnqueueRules {
        EnqueueRules(
            references: try secretReferencePolicy(),
            pbxEndpoints: PBXEndpointPolicy(allowLoopbackHTTP: bool(.pbxAllowLoopbackHTTP)))
    }
}

extension GlobalOptions {
    /// The configuration without setting up logging (which `load` does, once per process).
    func configuration() throws -> ResolvedConfiguration {
        let environment = ProcessInfo.processInfo.environment
        let file = config ?? environment["ONBOARDER_CONFIG"].flatMap { $0.isEmpty ? nil : $0 }
        do {
            return try ResolvedConfiguration.load(file: file, environment: environment, overrides: [])
        } catch {
            throw CleanExit.message("configuration error:\n\(error)", code: .validationFailure)
        }
    }
}
