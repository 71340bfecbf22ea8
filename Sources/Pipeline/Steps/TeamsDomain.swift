import Foundation
import Graph
import Store

extension Run {
    /// `teams-domain`: the SBC domain (`SBCName`) added to the tenant and verified (`TeamsDomainDNS`).
    mutating func teamsDomain() async throws -> StepResult {
        let graph = try graph()
        guard
            let fqdn = SBCName.fqdn(
                sbcDomain: payload.sbcDomain, defaultDomain: facts.defaultDomain, tenantKey: job.tenantKey,
                parent: settings.sbcParentDomain)
        else {
            throw StepStop.attention(
                "The Teams path needs an SBC domain: give sbc_domain when enqueuing, or set onboarding.sbc_parent_domain, then onboarder retry."
            )
        }
        if facts.sbcFQDN != fqdn {
            facts.sbcFQDN = fqdn
            // Recorded now, not with the checkpoint: the step may wait for its DNS record for days.
            try await OnboardingStore.record(IntegrationRecord(sbcFQDN: fqdn), tenant: job.tenantID, on: pool)
        }
        var domain: GraphDomain
        do {
            domain = try await graph.domain(fqdn)
        } catch let error as GraphError where error.status == 404 {
            do {
                domain = try await graph.createDomain(fqdn)
            } catch let error as GraphError where error.message.contains("already exists") {
                domain = try await graph.domain(fqdn, context: context(createdAt: Date()))
            }
        }
        if domain.isVerified == true {
            // Tidying only: DNS settings that do not fit do not stop a verified domain.
            if let dns = try? await dnsProvider(), let zone = try? dnsZone(for: fqdn, dns: dns) {
                await removeLeftoverVerificationRecords(of: fqdn, zone: zone, dns: dns)
            }
            return .done
        }
        let dns = try await dnsProvider()
        let zone = try dnsZone(for: fqdn, dns: dns)
        let records = try await graph.verificationRecords(of: fqdn, context: context(createdAt: Date()))
        guard let txt = records.txt else {
            throw StepStop.retry(.replication, "the domain \(fqdn) shows no TXT verification record yet")
        }
        return try await publishAndVerify(fqdn, txt: txt, zone: zone, dns: dns, graph: graph)
    }
}
