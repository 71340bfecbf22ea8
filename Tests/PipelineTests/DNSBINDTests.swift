import Foundation
import PBX
import Testing

/// The BIND 9 that `scripts/test` starts (`scripts/dev-dns`): its address, zone and TSIG key.
enum TestBIND {
    static func value(_ name: String) throws -> String {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
            Issue.record("the DNS tests need \(name): run scripts/test, or export $(scripts/dev-dns env)")
            throw CancellationError()
        }
        return value
    }

    static var server: DNSServer { get throws { try DNSServer(parsing: try value("ONBOARDER_TEST_DNS_SERVER")) } }
    static var zone: String { get throws { try value("ONBOARDER_TEST_DNS_ZONE") } }
    static var keyName: String { get throws { try value("ONBOARDER_TEST_DNS_KEY_NAME") } }
    static var algorithm: String { get throws { try value("ONBOARDER_TEST_DNS_KEY_ALGORITHM") } }
    static var secret: String { get throws { try value("ONBOARDER_TEST_DNS_KEY_SECRET") } }

    static var key: TSIGKey {
        get throws {
            try TSIGKey(name: keyName, algorithm: TSIGAlgorithm(rawValue: algorithm)!, base64Secret: secret)
        }
    }

    static var client: DNSUpdateClient { get throws { DNSUpdateClient(server: try server, key: try key) } }

    /// The TXT values of `name`, asked of BIND over UDP by the product's own resolver.
    static func lookup(_ name: String) async throws -> [String] {
        try await DNSResolver(servers: [try server]).txt(name, zone: try zone)
    }

    /// A name of its own in the zone, so runs and tests never see each other's records.
    static func freshName(_ label: String) throws -> String {
        "\(label)-\(UUID().uuidString.prefix(8).lowercased()).\(try zone)"
    }

    /// The worker's settings for publishing into this BIND.
    static func workerEnvironment() throws -> [String: String] {
        [
            "ONBOARDER_DNS_PROVIDER": "rfc2136", "ONBOARDER_DNS_SERVER": try server.description,
            "ONBOARDER_DNS_ZONE": try zone, "ONBOARDER_DNS_TSIG_KEY_NAME": try keyName,
            "ONBOARDER_DNS_TSIG_ALGORITHM": try algorithm, "ONBOARDER_DNS_TSIG_SECRET": try secret,
            "ONBOARDER_ONBOARDING_SBC_PARENT_DOMAIN": try zone,
        ]
    }
}

/// RFC 2136 updates signed with TSIG against a real BIND 9, read back with real DNS queries.
@Suite("DNS: RFC 2136 against BIND 9")
struct DNSBINDTests {
    @Test func publishIsIdempotentAndRemoveRemovesOnlyThatRecord() async throws {
        let client = try TestBIND.client
        let zone = try TestBIND.zone
        let name = try TestBIND.freshName("publish")
        #expect(try await TestBIND.lookup(name) == [])
        try await client.publish(name: name, value: "MS=ms11111111", zone: zone)
        #expect(try await TestBIND.lookup(name) == ["MS=ms11111111"])
        // Adding a record that is there changes nothing (RFC 2136 §3.4.2.2).
        try await client.publish(name: name, value: "MS=ms11111111", zone: zone)
        #expect(try await TestBIND.lookup(name) == ["MS=ms11111111"])
        try await client.publish(name: name, value: "MS=ms22222222", zone: zone)
        #expect(Set(try await TestBIND.lookup(name)) == ["MS=ms11111111", "MS=ms22222222"])
        #expect(Set(try await client.values(name: name, zone: zone)) == ["MS=ms11111111", "MS=ms22222222"])
        // Removing deletes that one record, and removing it again is no error.
        try await client.remove(name: name, value: "MS=ms11111111", zone: zone)
        #expect(try await TestBIND.lookup(name) == ["MS=ms22222222"])
        try await client.remove(name: name, value: "MS=ms11111111", zone: zone)
        try await client.remove(name: name, value: "MS=ms22222222", zone: zone)
        #expect(try await TestBIND.lookup(name) == [])
    }

    /// A value longer than one character-string (255 bytes) goes in several and reads back whole.
    @Test func aLongValueRoundTrips() async throws {
        let client = try TestBIND.client
        let name = try TestBIND.freshName("long")
        let value = (0..<40).map { "part\($0)-" }.joined() + String(repeating: "x", count: 300)
        try await client.publish(name: name, value: value, zone: try TestBIND.zone)
        #expect(try await TestBIND.lookup(name) == [value])
        try await client.remove(name: name, value: value, zone: try TestBIND.zone)
    }

    @Test func aWrongKeyIsRefusedWithAClearMessage() async throws {
        let server = try TestBIND.server
        let zone = try TestBIND.zone
        let name = try TestBIND.freshName("refused")
        let wrongSecret = Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        let cases: [(TSIGKey, String)] = [
            (
                try TSIGKey(name: try TestBIND.keyName, algorithm: .hmacSHA256, base64Secret: wrongSecret),
                "the TSIG key named \(try TestBIND.keyName) was refused by \(server) (BADSIG)"
            ),
            (
                try TSIGKey(name: "nobody-knows-me", algorithm: .hmacSHA256, base64Secret: wrongSecret),
                "the TSIG key named nobody-knows-me was refused by \(server) (BADKEY)"
            ),
            (
                try TSIGKey(name: try TestBIND.keyName, algorithm: .hmacSHA512, base64Secret: try TestBIND.secret),
                "the TSIG key named \(try TestBIND.keyName) was refused by \(server) (BADKEY)"
            ),
        ]
        let secret = try TestBIND.secret
        for (key, expected) in cases {
            let error = await #expect(throws: DNSError.self) {
                try await DNSUpdateClient(server: server, key: key).publish(name: name, value: "MS=ms1", zone: zone)
            }
            #expect(error?.kind == .needsAttention)
            #expect(error?.message.contains(expected) == true, "\(error?.message ?? "")")
            #expect(error?.message.contains(wrongSecret) == false && error?.message.contains(secret) == false)
        }
        // A key the server knows but whose update policy leaves it out; a clock an hour off.
        let denied = try TSIGKey(
            name: try TestBIND.value("ONBOARDER_TEST_DNS_DENIED_KEY_NAME"), algorithm: .hmacSHA256,
            base64Secret: try TestBIND.value("ONBOARDER_TEST_DNS_DENIED_KEY_SECRET"))
        let policy = await #expect(throws: DNSError.self) {
            try await DNSUpdateClient(server: server, key: denied).publish(name: name, value: "MS=ms1", zone: zone)
        }
        #expect(
            policy?.message.contains(
                "refused to add the TXT record of \(name) in the zone \(zone) with the TSIG key named \(denied.name) (REFUSED)"
            ) == true, "\(policy?.message ?? "")")
        var late = try TestBIND.client
        late.clock = { Date().addingTimeInterval(3600) }
        let skewed = await #expect(throws: DNSError.self) {
            try await late.publish(name: name, value: "MS=ms1", zone: zone)
        }
        #expect(
            skewed?.message.contains("was refused by \(server) (BADTIME): this host's clock") == true,
            "\(skewed?.message ?? "")")
        // A zone the server does not serve, with the right key.
        let elsewhere = await #expect(throws: DNSError.self) {
            try await TestBIND.client.publish(name: "a.not-served.example", value: "MS=ms1", zone: "not-served.example")
        }
        #expect(
            elsewhere?.message.contains("not authoritative for the zone not-served.example") == true,
            "\(elsewhere?.message ?? "")")
        #expect(try await TestBIND.lookup(name) == [])
    }

    @Test func aServerThatIsNotThereIsATransientFailure() async throws {
        // A port nothing listens on (BIND's, plus one: scripts/dev-dns takes one port).
        let server = try TestBIND.server
        let closed = DNSServer(host: server.host, port: server.port &+ 1)
        let error = await #expect(throws: DNSError.self) {
            var client = DNSUpdateClient(server: closed, key: try TestBIND.key)
            client.timeout = .seconds(2)
            try await client.publish(name: try TestBIND.freshName("down"), value: "v", zone: try TestBIND.zone)
        }
        #expect(error?.kind == .retry(after: nil), "\(error?.message ?? "")")
        #expect(error?.message.contains("\(closed)") == true)
        var resolver = DNSResolver(servers: [closed])
        resolver.timeout = .seconds(1)
        await #expect(throws: DNSLookupError.self) { try await resolver.txt("x.\(try TestBIND.zone)", zone: "") }
    }
}
