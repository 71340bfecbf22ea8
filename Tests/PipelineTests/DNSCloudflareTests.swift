import Foundation
import HTTP
import Simulator
import Testing

@testable import PBX

/// The Cloudflare client against the simulator's Cloudflare-shaped API, over real loopback HTTP.
@Suite("DNS: Cloudflare API v4 against the simulator")
struct DNSCloudflareTests {
    /// The simulator (a small world: only its DNS provider is used) and an HTTP client.
    final class Lab: Sendable {
        let simulator: Simulator
        let base: String
        let http = HTTPClient()

        init() async throws {
            simulator = try Simulator(
                world: World(WorldDescription(seed: 3, tenants: [WorldDescription.Tenant(domain: "c.onmicrosoft.com")]))
            )
            base = try simulator.start()
        }

        func client(token: String) -> CloudflareDNSClient {
            CloudflareDNSClient(http: http, baseURL: "\(base)/client/v4", token: token)
        }

        /// The records as Cloudflare shows them (content quoted).
        func stored(zone: String, name: String, token: String) async throws -> [String] {
            let zones = try await json("/zones?name=\(zone)", token: token)["result"] as? [[String: Any]]
            let id = try #require(zones?.first?["id"] as? String)
            let records = try await json("/zones/\(id)/dns_records?type=TXT&name=\(name)", token: token)
            return (records["result"] as? [[String: Any]] ?? []).compactMap { $0["content"] as? String }
        }

        func json(_ path: String, token: String) async throws -> [String: Any] {
            let response = try await http.execute(
                HTTPRequest(url: "\(base)/client/v4\(path)", headers: [("Authorization", "Bearer \(token)")]))
            return try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any] ?? [:]
        }

        func close() async {
            http.shutdown()
            await simulator.stop()
        }
    }

    @Test func publishIsIdempotentAndRemoveRemovesIt() async throws {
        let lab = try await Lab()
        let token = UUID().uuidString
        lab.simulator.setDNSAccount(SimDNSAccount(zones: ["sbc.msp.example", "other.example"], tokens: [token]))
        let client = lab.client(token: token)
        let name = "contoso.sbc.msp.example"
        try await client.publish(name: name, value: "MS=ms11111111", zone: "sbc.msp.example")
        #expect(try await lab.stored(zone: "sbc.msp.example", name: name, token: token) == [#""MS=ms11111111""#])
        // Publishing again: Cloudflare says "already exists" (81058), which is done.
        try await client.publish(name: name, value: "MS=ms11111111", zone: "sbc.msp.example")
        try await client.publish(name: name, value: "MS=ms22222222", zone: "sbc.msp.example")
        #expect(
            Set(try await client.values(name: name, zone: "sbc.msp.example")) == ["MS=ms11111111", "MS=ms22222222"])
        try await client.remove(name: name, value: "MS=ms11111111", zone: "sbc.msp.example")
        #expect(try await lab.stored(zone: "sbc.msp.example", name: name, token: token) == [#""MS=ms22222222""#])
        try await client.remove(name: name, value: "MS=ms11111111", zone: "sbc.msp.example")
        // Records of the same name in another zone are that zone's.
        #expect(try await client.values(name: name, zone: "other.example") == [])
        let counts = lab.simulator.requestCounts
        // Each zone's id looked up once by the client (two more lookups are this test's own reads).
        #expect(counts["GET dns zones"] == 2 + 2, "\(counts)")
        await lab.close()
    }

    /// Listing goes through every page `result_info` announces.
    @Test func listingPages() async throws {
        let lab = try await Lab()
        var client = lab.client(token: "any")
        client.pageSize = 5
        let name = "paged.sbc.msp.example"
        let values = (1...12).map { "MS=ms\(10_000_000 + $0)" }
        for value in values { try await client.publish(name: name, value: value, zone: "sbc.msp.example") }
        let before = lab.simulator.requestCounts["GET dns records"] ?? 0
        #expect(Set(try await client.values(name: name, zone: "sbc.msp.example")) == Set(values))
        #expect((lab.simulator.requestCounts["GET dns records"] ?? 0) - before == 3)
        await lab.close()
    }

    @Test func refusalsSayWhatToFixWithoutTheToken() async throws {
        let lab = try await Lab()
        let token = UUID().uuidString
        lab.simulator.setDNSAccount(SimDNSAccount(zones: ["sbc.msp.example"], tokens: [token]))
        let wrong = UUID().uuidString
        let refused = await #expect(throws: DNSError.self) {
            try await lab.client(token: wrong).publish(name: "a.sbc.msp.example", value: "v", zone: "sbc.msp.example")
        }
        #expect(refused?.kind == .needsAttention)
        #expect(refused?.message.contains("9109 Invalid access token") == true, "\(refused?.message ?? "")")
        #expect(refused?.message.contains("dns.api_token") == true && refused?.message.contains(wrong) == false)
        let missing = await #expect(throws: DNSError.self) {
            try await lab.client(token: "").publish(name: "a.sbc.msp.example", value: "v", zone: "sbc.msp.example")
        }
        #expect(missing?.message.contains("6003") == true, "\(missing?.message ?? "")")
        let unknown = await #expect(throws: DNSError.self) {
            try await lab.client(token: token).publish(
                name: "a.elsewhere.example", value: "v", zone: "elsewhere.example")
        }
        #expect(unknown?.kind == .needsAttention)
        #expect(
            unknown?.message.contains("The zone elsewhere.example is not in the Cloudflare account") == true,
            "\(unknown?.message ?? "")")
        await lab.close()
    }

    @Test func throttlingAndAStaleZoneIDAreWaitedOut() async throws {
        let lab = try await Lab()
        let client = lab.client(token: "any")
        try await client.publish(name: "t.sbc.msp.example", value: "MS=ms1", zone: "sbc.msp.example")
        lab.simulator.setDNSAccount(SimDNSAccount(throttleRequests: 1, retryAfterSeconds: 7))
        let throttled = await #expect(throws: DNSError.self) {
            try await client.values(name: "t.sbc.msp.example", zone: "sbc.msp.example")
        }
        #expect(throttled?.kind == .throttled(after: .seconds(7)), "\(throttled?.message ?? "")")
        #expect(try await client.values(name: "t.sbc.msp.example", zone: "sbc.msp.example") == ["MS=ms1"])
        // The zone leaves the account: the id this process knew is forgotten, and the next try looks again.
        lab.simulator.setDNSAccount(SimDNSAccount(zones: ["other.example"]))
        let stale = await #expect(throws: DNSError.self) {
            try await client.publish(name: "t.sbc.msp.example", value: "MS=ms2", zone: "sbc.msp.example")
        }
        #expect(stale?.kind == .retry(after: nil), "\(stale?.message ?? "")")
        let gone = await #expect(throws: DNSError.self) {
            try await client.publish(name: "t.sbc.msp.example", value: "MS=ms2", zone: "sbc.msp.example")
        }
        #expect(gone?.message.contains("not in the Cloudflare account") == true, "\(gone?.message ?? "")")
        await lab.close()
    }
}
