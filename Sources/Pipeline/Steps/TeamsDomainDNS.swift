import Foundation
import Graph
import Logging
import PBX
import Postgres
import Store

/// The DNS half of the `teams-domain` step: the verification TXT record published through the MSP's DNS
/// provider or `dns.provider` (or by an operator), Microsoft asked to verify, and the record removed once the domain is verified.
extension Run {
    /// The DNS provider of this job's MSP (`MSPDNS`): its own when its row names one, with its sealed
    /// secret, else the configuration's. Read at each run of the step, so an `onboarder msp set` reaches
    /// jobs already under way; a row that cannot be used stops the job for an operator, naming the MSP.
    func dnsProvider() async throws -> DNSProvider {
        guard let profile = try await MSPProfiles.load(job.mspID, withSecrets: true, on: pool) else {
            return settings.dns
        }
        let columns = MSPDNS.Columns(
            provider: profile.dnsProvider, zone: profile.dnsZone, server: profile.dnsServer,
            baseURL: profile.dnsBaseURL, tsigKeyName: profile.dnsTSIGKeyName, tsigAlgorithm: profile.dnsTSIGAlgorithm)
        var secret: String?
        if let sealed = profile.dnsSecretSealed {
            do {
                secret = try vault.open(
                    sealed, context: MSPProfile.sealingContext(column: "dns_secret", msp: profile.id))
            } catch {
                throw StepStop.attention(
                    "The DNS secret of MSP \(profile.id) cannot be opened (\(error)): set it again with onboarder msp set \(profile.id) --dns-secret-env VAR, then onboarder retry."
                )
            }
        }
        switch MSPDNS.provider(columns, secret: secret, configured: settings.dns) {
        case .success(let provider): return provider
        case .failure(let problem):
            throw StepStop.attention(
                "The DNS settings of MSP \(profile.id) cannot be used: \(problem). Fix them with onboarder msp set \(profile.id), then onboarder retry."
            )
        }
    }

    /// The zone the SBC domain's records go in (`DNSZone.choose`).
    func dnsZone(for fqdn: String, dns: DNSProvider) throws -> String {
        switch DNSZone.choose(fqdn: fqdn, configured: dns.configuredZone, sbcParent: settings.sbcParentDomain) {
        case .success(let zone): return zone
        case .failure(let error):
            guard let zone = dns.configuredZone, zone != settings.dns.configuredZone else {
                throw TeamsDomainDNS.stop(error)
            }
            // The zone is the MSP's own, not dns.zone: say where it is set.
            throw StepStop.attention(
                "The SBC domain \(fqdn) is not inside MSP \(job.mspID)'s DNS zone \(zone): enqueue the customer with an SBC domain in that zone (sbc_domain), or change the zone with onboarder msp set \(job.mspID) --dns-zone, then onboarder retry."
            )
        }
    }

    /// The provider that publishes records for us; nil when an operator does (`manual`).
    func txtPublisher(_ dns: DNSProvider) -> (any TXTPublisher)? {
        switch dns {
        case .rfc2136(let server, let key, _): DNSUpdateClient(server: server, key: key)
        case .cloudflare(let baseURL, let token, _):
            CloudflareDNSClient(http: tokens.http, baseURL: baseURL, token: token)
        case .manual: nil
        }
    }

    /// Publishes `txt` at `fqdn`, has Microsoft verify the domain, removes the record.
    mutating func publishAndVerify(_ fqdn: String, txt: String, zone: String, dns: DNSProvider, graph: GraphClient)
        async throws -> StepResult
    {
        guard let publisher = txtPublisher(dns) else {
            return try await verifyPublishedByHand(fqdn, txt: txt, zone: zone, dns: dns, graph: graph)
        }
        do {
            try await publisher.publish(name: fqdn, value: txt, zone: zone)
        } catch {
            throw TeamsDomainDNS.stop(error)
        }
        guard try await askMicrosoftToVerify(fqdn, graph: graph) else {
            throw StepStop.retry(
                .replication, "Microsoft does not see the TXT record of \(fqdn) yet (DNS propagation)",
                after: .seconds(10))
        }
        try await removeVerificationRecord(txt, of: fqdn, zone: zone, publisher: publisher)
        return .done
    }

    /// The domain was verified before this run (a run that stopped between verifying and removing, or the
    /// customer onboarded again): removes Microsoft's verification records (`MS=ms…`) the name still holds.
    /// Best effort: whatever fails is a warning to remove them by hand, and the job goes on.
    mutating func removeLeftoverVerificationRecords(of fqdn: String, zone: String, dns: DNSProvider) async {
        guard let publisher = txtPublisher(dns) else { return }
        do {
            let leftovers = try await publisher.values(name: fqdn, zone: zone).filter(
                TeamsDomainDNS.isVerificationValue)
            for value in leftovers {
                try await publisher.remove(name: fqdn, value: value, zone: zone)
                try? await OnboardingStore.event(
                    job: job.id, kind: "dns_record_removed", step: Step.teamsDomain.rawValue,
                    detail: ["name": fqdn, "type": "TXT", "value": value], on: pool)
            }
        } catch {
            warn(
                "Microsoft's verification TXT records of \(fqdn) could not be removed; remove them by hand: \(error.message)"
            )
        }
    }

    /// Removing right after verifying: a provider that cannot be reached now makes the step run again
    /// (and find the record as a leftover); one that refuses leaves a warning to remove it by hand.
    private mutating func removeVerificationRecord(
        _ value: String, of fqdn: String, zone: String, publisher: any TXTPublisher
    ) async throws {
        do {
            try await publisher.remove(name: fqdn, value: value, zone: zone)
        } catch {
            guard case .needsAttention = error.kind else { throw TeamsDomainDNS.stop(error) }
            warn("The TXT record \(fqdn) \"\(value)\" could not be removed; remove it by hand: \(error.message)")
            return
        }
        try await OnboardingStore.event(
            job: job.id, kind: "dns_record_removed", step: Step.teamsDomain.rawValue,
            detail: ["name": fqdn, "type": "TXT", "value": value], on: pool)
    }

    /// `manual`: the job waits for input until the record resolves (`dns.resolver`, or the zone's own name
    /// servers), looking again with a growing interval; `onboarder resume` makes it look at once.
    private mutating func verifyPublishedByHand(
        _ fqdn: String, txt: String, zone: String, dns: DNSProvider, graph: GraphClient
    ) async throws -> StepResult {
        guard case .manual(let resolver, _) = dns else { return .done }
        let seen: Bool?
        do {
            seen = try await DNSResolver(servers: resolver).txt(fqdn, zone: zone).contains(txt)
        } catch {
            // Microsoft's own lookup decides then: ours may be blocked where theirs is not.
            logger.notice(
                "DNS lookup failed", metadata: ["job.id": "\(job.id)", "dns.name": "\(fqdn)", "error": "\(error)"])
            seen = nil
        }
        if seen != false, try await askMicrosoftToVerify(fqdn, graph: graph) {
            try await OnboardingStore.event(
                job: job.id, kind: "dns_record_removable", step: Step.teamsDomain.rawValue,
                detail: [
                    "name": fqdn, "type": "TXT", "value": txt,
                    "message": "the domain is verified: the TXT record may be removed",
                ], on: pool)
            return .done
        }
        if seen == true {
            throw StepStop.retry(
                .replication, "the TXT record of \(fqdn) resolves, but Microsoft does not see it yet (DNS propagation)",
                after: .seconds(10))
        }
        let since =
            try await OnboardingStore.inputWaitStarted(job: job.id, step: Step.teamsDomain.rawValue, on: pool) ?? Date()
        let next = TeamsDomainDNS.recheck(waited: Date().timeIntervalSince(since), cap: settings.inputRecheck)
        return .wait(
            until: Date(timeIntervalSinceNow: Double(next.components.seconds)),
            message: TeamsDomainDNS.waitMessage(
                name: fqdn, value: txt, zone: zone, recheck: next, customer: job.tenantKey))
    }

    /// Whether Microsoft verified the domain (false: it does not see the record yet).
    private func askMicrosoftToVerify(_ fqdn: String, graph: GraphClient) async throws -> Bool {
        do {
            try await graph.verifyDomain(fqdn)
            return true
        } catch let error as GraphError where error.status == 400 {
            return false
        }
    }
}

/// The step's decisions, pure.
enum TeamsDomainDNS {
    /// A provider's failure as the job's next state.
    static func stop(_ error: DNSError) -> StepStop {
        switch error.kind {
        case .needsAttention: .attention(error.message)
        case .retry(let after): .retry(.retry, error.message, after: after)
        case .throttled(let after): .retry(.throttled, error.message, after: after)
        }
    }

    /// Microsoft's domain verification values (`MS=ms12345678`): the only TXT records clean-up touches.
    static func isVerificationValue(_ value: String) -> Bool { value.wholeMatch(of: /MS=ms\d+/) != nil }

    /// When a job waiting for a hand-published record looks again: as long again as it has waited (so
    /// the looks double: 5 s, 10 s, 20 s …), at least 5 seconds, at most `cap` (`onboarding.input_recheck_seconds`).
    static func recheck(waited: TimeInterval, cap: Duration) -> Duration {
        let floor: Duration = .seconds(5)
        let grown = Duration.seconds(Int64(max(0, waited.rounded(.down))))
        return min(max(grown, floor), max(cap, floor))
    }

    static func waitMessage(name: String, value: String, zone: String, recheck: Duration, customer: String) -> String {
        "waiting for input: create the DNS record \(name) TXT \"\(value)\" (name \(name), type TXT, value \(value)) "
            + "in the zone \(zone); the job looks it up again in \(recheck.components.seconds) s and goes on once it "
            + "resolves (onboarder resume \(customer): at once). Once the domain is verified the record may be removed."
    }
}
