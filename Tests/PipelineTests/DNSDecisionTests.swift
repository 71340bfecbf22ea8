import Crypto
import Foundation
import Testing

@testable import PBX
@testable import Pipeline

/// The DNS code's pure parts: the wire format, TSIG, and every decision, table by table.
@Suite("DNS: wire format, TSIG and decisions")
struct DNSDecisionTests {
    @Test func hmacMatchesRFC4231() throws {
        // RFC 4231 test case 2 (key "Jefe").
        let mac = try HMAC.mac(.sha256, key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8))
        #expect(mac.hexString == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        let sha512 = try HMAC.mac(.sha512, key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8))
        #expect(sha512.hexString.hasPrefix("164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"))
        #expect(HMAC.equal(mac, mac) && !HMAC.equal(mac, Array(mac.dropLast())) && !HMAC.equal(mac, mac.reversed()))
    }

    @Test func aQueryOnTheWireIsRFC1035s() throws {
        var query = DNSMessage(id: 0xbeef)
        query.recursionDesired = true
        query.questions = [DNSQuestion(name: try DNSName("sbc.Example.com."), type: .txt)]
        // ID, flags RD, one question; 3sbc7Example3com0, TXT, IN.
        #expect(
            query.encode().hexString
                == "beef01000001000000000000" + "0373626307" + Array("Example".utf8).hexString + "03636f6d00"
                + "00100001")
        #expect(try DNSMessage.decode(query.encode()) == query)
    }

    @Test func anUpdateHasTheZoneAndOneRecord() throws {
        let zone = try DNSName("sbc.test.example")
        let add = DNSRecord(name: try DNSName("a.sbc.test.example"), type: .txt, ttl: 300, data: .txt(value: "MS=ms1"))
        let message = DNSUpdateClient.message(id: 7, zone: zone, add)
        let decoded = try DNSMessage.decode(message.encode())
        #expect(decoded.opcode == .update && decoded.questions == [DNSQuestion(name: zone, type: .soa)])
        #expect(decoded.answers.isEmpty && decoded.authorities == [add] && decoded.additionals.isEmpty)
        // Deleting one record: class NONE, TTL 0, the record's data (RFC 2136 §2.5.4).
        let delete = DNSRecord(name: add.name, type: .txt, recordClass: .none, ttl: 0, data: .txt(value: "MS=ms1"))
        #expect(
            try DNSMessage.decode(DNSUpdateClient.message(id: 8, zone: zone, delete).encode()).authorities == [delete])
    }

    @Test func txtValuesSplitAt255BytesAndJoinBack() throws {
        let long = String(repeating: "v=spf1 include:x ", count: 40)
        guard case .txt(let strings) = DNSRecordData.txt(value: long) else { Issue.record("not TXT"); return }
        #expect(strings.map(\.count) == [255, 255, 170])
        #expect(DNSRecordData.txt(value: long).text == long)
        #expect(DNSRecordData.txt(value: "").text == "")
    }

    @Test func namesAreCheckedAndComparedWithoutCase() throws {
        #expect(try DNSName("A.Example.COM") == DNSName("a.example.com."))
        #expect(try DNSName("x.sbc.example.com").isInside(DNSName("SBC.example.com")))
        #expect(try !DNSName("xsbc.example.com").isInside(DNSName("sbc.example.com")))
        #expect(try DNSName("sbc.example.com").parent.description == "example.com")
        for bad in ["a..b", String(repeating: "x", count: 64) + ".com", "a b.com", "a/b", "ünï.com"] {
            #expect(throws: DNSFormatError.self, "\(bad)") { try DNSName(bad) }
        }
        #expect(throws: DNSFormatError.self) {
            try DNSName(Array(repeating: "abcdefghi", count: 26).joined(separator: "."))
        }
    }

    /// Bytes from the network: every malformed message is an error, never a crash or a loop.
    @Test func hostileMessagesAreRefused() throws {
        // A name pointer to itself, one forwards, a label past the end, a record running past the end.
        let header = [UInt8]([0, 1, 0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0])
        for body: [UInt8] in [[0xc0, 12, 0, 16, 0, 1], [0xc0, 40, 0, 16, 0, 1], [5, 0x61], [0x40, 0]] {
            #expect(throws: DNSFormatError.self) { try DNSMessage.decode(header + body) }
        }
        var answer = [UInt8]([0, 1, 0x80, 0, 0, 0, 0, 1, 0, 0, 0, 0])
        answer += [0, 0, 16, 0, 1, 0, 0, 0, 60, 0, 10, 3, 0x61]
        #expect(throws: DNSFormatError.self) { try DNSMessage.decode(answer) }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let bytes = (0..<Int.random(in: 0...80, using: &generator)).map { _ in UInt8.random(in: 0...255) }
            _ = try? DNSMessage.decode(header.prefix(Int.random(in: 0...12)) + bytes)
        }
    }

    @Test func tsigSignsAndChecksBothWays() throws {
        let key = try TSIGKey(name: "onboarder-test", algorithm: .hmacSHA256, base64Secret: "c2VjcmV0c2VjcmV0c2VjcmV0")
        let request = DNSUpdateClient.message(
            id: 42, zone: try DNSName("z.example"),
            DNSRecord(name: try DNSName("a.z.example"), type: .txt, ttl: 300, data: .txt(value: "v")))
        let (bytes, mac) = try TSIG.sign(request, key: key, time: 1_000_000)
        let signed = try DNSMessage.decode(bytes)
        #expect(signed.tsig?.data.mac == mac && mac.count == 32 && signed.tsig?.data.fudge == 300)
        // The answer a server makes: the request's MAC first, then the answer and the variables.
        var response = DNSMessage(id: 42, opcode: .update)
        response.isResponse = true
        response.questions = request.questions
        var tsig = TSIGData(
            algorithm: key.algorithm.name, timeSigned: 1_000_010, fudge: 300, mac: [], originalID: 42, error: .noError,
            other: [])
        var input = DNSWriter()
        input.u16(UInt16(mac.count))
        input.bytes(mac)
        input.bytes(response.encode())
        input.bytes(TSIG.variables(key.name, tsig))
        tsig.mac = try HMAC.mac(
            .sha256, key: Array(Data(base64Encoded: "c2VjcmV0c2VjcmV0c2VjcmV0")!), message: input.output)
        var signedResponse = response
        signedResponse.additionals = [
            DNSRecord(name: key.name, type: .tsig, recordClass: .any, ttl: 0, data: .tsig(tsig))
        ]
        let responseBytes = signedResponse.encode()
        let decoded = try DNSMessage.decode(responseBytes)
        func verdict(_ bytes: [UInt8], now: UInt64 = 1_000_020, requestMAC: [UInt8]? = nil) throws -> TSIGVerdict {
            TSIG.verify(
                response: bytes, message: try DNSMessage.decode(bytes), requestMAC: requestMAC ?? mac, key: key,
                now: now)
        }
        #expect(try verdict(responseBytes) == .verified)
        #expect(decoded.tsigOffset == response.encode().count)
        // A flipped bit, another request's MAC, a stale clock, no signature, the server's refusal.
        var tampered = responseBytes
        tampered[3] ^= 0x01
        if case .forged = try verdict(tampered) {} else { Issue.record("a tampered answer verified") }
        if case .forged = try verdict(responseBytes, requestMAC: Array(mac.reversed())) {
        } else {
            Issue.record("an answer to another request verified")
        }
        if case .forged = try verdict(responseBytes, now: 1_000_010 + 301) {
        } else {
            Issue.record("a stale answer verified")
        }
        #expect(try verdict(response.encode()) == .unsigned)
        var refusal = response
        refusal.responseCode = .notAuth
        refusal.additionals = [
            DNSRecord(
                name: key.name, type: .tsig, recordClass: .any, ttl: 0,
                data: .tsig(
                    TSIGData(
                        algorithm: key.algorithm.name, timeSigned: 1_000_010, fudge: 300, mac: [], originalID: 42,
                        error: .badSig, other: [])))
        ]
        #expect(try verdict(refusal.encode()) == .refused(.badSig))
    }

    @Test func keysAndTokensAreNeverShown() throws {
        let key = try TSIGKey(name: "k.example", algorithm: .hmacSHA512, base64Secret: "c2VjcmV0LXZhbHVl")
        #expect("\(key)" == "TSIG key k.example (hmac-sha512)")
        let token = "cf-token-\(UUID())"
        let providers: [DNSProvider] = [
            .rfc2136(server: DNSServer(host: "ns1.example.com"), key: key, zone: nil),
            .cloudflare(baseURL: "https://api.cloudflare.com/client/v4", token: token, zone: "example.com"),
        ]
        for shown in [key] + providers.map({ $0 as Any }) {
            var dumped = ""
            dump(shown, to: &dumped)
            #expect(!dumped.contains("secret"), "\(dumped)")  // the key's bytes field, had it been dumped
            for text in ["\(shown)", String(reflecting: shown), dumped] {
                #expect(!text.contains("c2VjcmV0LXZhbHVl") && !text.contains("secret-value") && !text.contains(token))
            }
        }
        #expect("\(providers[1])" == "cloudflare at https://api.cloudflare.com/client/v4, zone example.com")
        let bad = #expect(throws: DNSFormatError.self) {
            try TSIGKey(name: "k", algorithm: .hmacSHA256, base64Secret: "not base64 ~~ secret-ish")
        }
        #expect(bad?.reason.contains("secret-ish") == false)
    }

    @Test func serverAddresses() throws {
        let cases: [(String, String?, UInt16?)] = [
            ("127.0.0.1:5353", "127.0.0.1", 5353), ("ns1.example.com", "ns1.example.com", 53),
            ("[::1]:53", "::1", 53), ("[2001:db8::1]", "2001:db8::1", 53), ("::1", "::1", 53),
            ("host:0", nil, nil), ("host:70000", nil, nil), ("host:x", nil, nil), ("", nil, nil), ("[::1", nil, nil),
            ("a b:53", nil, nil),
        ]
        for (text, host, port) in cases {
            let server = try? DNSServer(parsing: text)
            #expect(server?.host == host && server?.port == port, "\(text)")
        }
        #expect(DNSServer(host: "::1", port: 53).description == "[::1]:53")
        #expect(
            DNSResolver.systemResolvers(
                "# x\nsearch example.com\nnameserver 10.0.0.2\nnameserver  ::1 \noptions ndots:1")
                == [DNSServer(host: "10.0.0.2"), DNSServer(host: "::1")])
    }

    /// Which answers to a TXT query settle whether the record is there.
    @Test func lookupAnswers() throws {
        let name = try DNSName("c.sbc.example")
        func answer(_ code: DNSResponseCode, aa: Bool = false, ra: Bool = false, values: [String] = []) -> DNSMessage {
            var message = DNSMessage(id: 1)
            message.isResponse = true
            message.responseCode = code
            message.authoritative = aa
            message.recursionAvailable = ra
            message.answers = values.map { DNSRecord(name: name, type: .txt, ttl: 60, data: .txt(value: $0)) }
            message.answers.append(DNSRecord(name: name, type: .a, ttl: 60, data: .address([127, 0, 0, 1])))
            return message
        }
        let cases: [(DNSMessage, [String]?)] = [
            (answer(.noError, aa: true, values: ["MS=ms1", "v=spf1 -all"]), ["MS=ms1", "v=spf1 -all"]),
            (answer(.noError, aa: true), []),  // the name exists, without TXT
            (answer(.noError, ra: true), []),  // a recursive resolver's "none"
            (answer(.nameError), []),
            (answer(.noError), nil),  // a referral: this server does not know
            (answer(.serverFailure, ra: true), nil), (answer(.refused), nil),
        ]
        for (message, expected) in cases {
            #expect(DNSResolver.txtValues(message, name: name) == expected, "\(message.responseCode)")
        }
    }

    @Test func theZoneARecordGoesIn() {
        let cases: [(fqdn: String, configured: String?, parent: String, zone: String?)] = [
            ("contoso.sbc.msp.example", nil, "sbc.msp.example", "sbc.msp.example"),
            ("Contoso.SBC.msp.example", nil, "sbc.msp.example", "sbc.msp.example"),
            ("voice.contoso.com", nil, "sbc.msp.example", "contoso.com"),
            ("voice.contoso.com", "", "", "contoso.com"),
            ("contoso.sbc.msp.example", "msp.example", "sbc.msp.example", "msp.example"),
            ("voice.contoso.com", "msp.example", "sbc.msp.example", nil),
            ("xmsp.example", "msp.example", "", nil),
        ]
        for test in cases {
            let zone = try? DNSZone.choose(fqdn: test.fqdn, configured: test.configured, sbcParent: test.parent).get()
            #expect(zone == test.zone, "\(test)")
        }
    }

    /// What each answer to an update means, and that every message names the key and server, never the secret.
    @Test func updateAnswers() throws {
        let secret = "c2VjcmV0LXZhbHVlLWZvci10ZXN0cw=="
        let key = try TSIGKey(name: "onboarder", algorithm: .hmacSHA256, base64Secret: secret)
        let server = DNSServer(host: "ns1.example.com", port: 53)
        let cases: [(DNSResponseCode, TSIGVerdict, String?)] = [
            (.noError, .verified, nil),
            (.notAuth, .refused(.badSig), "the TSIG key named onboarder was refused by ns1.example.com:53 (BADSIG)"),
            (.notAuth, .refused(.badKey), "the TSIG key named onboarder was refused by ns1.example.com:53 (BADKEY)"),
            (.notAuth, .refused(.badTime), "(BADTIME): this host's clock"),
            (
                .notAuth, .verified,
                "not authoritative for the zone z.example or does not accept the TSIG key named onboarder"
            ),
            (
                .notZone, .verified,
                "outside the zone z.example it was sent for with the TSIG key named onboarder (NOTZONE)"
            ),
            (
                .refused, .verified,
                "refused to add it in the zone z.example with the TSIG key named onboarder (REFUSED)"
            ),
            (.notImplemented, .verified, "does not accept dynamic updates (NOTIMP)"),
            (.noError, .unsigned, "without signing it"),
            (.noError, .forged("its MAC does not verify"), "its MAC does not verify"),
            (.serverFailure, .verified, "(SERVFAIL)"),
        ]
        for (code, verdict, expected) in cases {
            let error = DNSUpdateClient.failure(
                code: code, verdict: verdict, zone: "z.example", key: key, server: server, what: "add it")
            if let expected {
                #expect(error?.message.contains(expected) == true, "\(code) \(verdict): \(error?.message ?? "nil")")
                #expect(error?.message.contains(secret) == false)
                #expect((error?.kind == .retry(after: nil)) == (code == .serverFailure), "\(code)")
            } else {
                #expect(error == nil)
            }
        }
    }

    @Test func cloudflareAnswers() {
        typealias Message = CloudflareMessage
        let cases: [(Int, [Message], DNSError.Kind, String)] = [
            (429, [Message(code: 971, message: "Please wait")], .throttled(after: .seconds(7)), "HTTP 429"),
            (503, [], .retry(after: .seconds(7)), "no error given"),
            (
                403, [Message(code: 9109, message: "Invalid access token")], .needsAttention,
                "dns.api_token is not accepted"
            ),
            (403, [Message(code: 10000, message: "Authentication error")], .needsAttention, "Zone:Read and DNS:Edit"),
            (
                400, [Message(code: 6003, message: "Invalid request headers")], .needsAttention,
                "dns.api_token is missing"
            ),
            (404, [Message(code: 7003, message: "Could not route")], .retry(after: nil), "looked up again"),
            (400, [Message(code: 9005, message: "Content for TXT record is invalid")], .needsAttention, "9005 Content"),
        ]
        for (status, errors, kind, text) in cases {
            let error = CloudflareDNSClient.failure(
                status: status, errors: errors, retryAfter: .seconds(7), doing: "add the TXT record")
            #expect(error.kind == kind, "\(status)")
            #expect(error.message.contains(text), "\(status): \(error.message)")
        }
    }

    @Test func cloudflareTXTContentIsQuoted() {
        let cases = ["MS=ms12345678", #"a "quoted" \ value"#, String(repeating: "x", count: 300), ""]
        for value in cases {
            #expect(CloudflareTXT.unquoted(CloudflareTXT.quoted(value)) == value, "\(value)")
        }
        #expect(CloudflareTXT.quoted("MS=ms1") == #""MS=ms1""#)
        #expect(CloudflareTXT.quoted(String(repeating: "x", count: 300)).components(separatedBy: "\" \"").count == 2)
        #expect(CloudflareTXT.unquoted("MS=ms1") == "MS=ms1")  // bare content, as older records hold it
        #expect(CloudflareTXT.unquoted(#""a" "b""#) == "ab")
        #expect(CloudflareTXT.unquoted(#""a" x "b""#) == #""a" x "b""#)
    }

    @Test func dnsSettings() throws {
        func configure(
            _ provider: String, zone: String = "", token: String = "", server: String = "",
            keyName: String = "", algorithm: String = "hmac-sha256", secret: String = "", resolver: String = ""
        ) -> Result<DNSProvider, DNSFormatError> {
            Result {
                try DNSProvider.configured(
                    provider: provider, zone: zone, baseURL: "https://api.cloudflare.com/client/v4", apiToken: token,
                    server: server, tsigKeyName: keyName, tsigAlgorithm: algorithm, tsigSecret: secret,
                    resolver: resolver)
            }.mapError { $0 as! DNSFormatError }
        }
        let secret = "c2VjcmV0LXZhbHVlLWZvci10ZXN0cw=="
        guard
            case .success(.rfc2136(let server, let key, let zone)) = configure(
                "rfc2136", zone: "SBC.example.com", server: "10.0.0.1:5353", keyName: "k", secret: secret)
        else { Issue.record("rfc2136 not configured"); return }
        #expect(server == DNSServer(host: "10.0.0.1", port: 5353) && key.name.description == "k")
        #expect(zone == "sbc.example.com")
        guard case .success(.manual(let resolvers, nil)) = configure("manual", resolver: "127.0.0.1:53, 10.0.0.1")
        else { Issue.record("manual not configured"); return }
        #expect(resolvers?.count == 2)
        guard case .success(.manual(nil, nil)) = configure("manual") else { Issue.record("manual"); return }
        guard case .success(.cloudflare) = configure("cloudflare", token: "t") else {
            Issue.record("cloudflare"); return
        }
        // Every problem at once, named by its key; the secret never quoted.
        guard case .failure(let missing) = configure("rfc2136") else {
            Issue.record("rfc2136 without settings"); return
        }
        for key in ["dns.server", "dns.tsig_key_name", "dns.tsig_secret"] { #expect(missing.reason.contains(key)) }
        guard
            case .failure(let bad) = configure(
                "rfc2136", zone: "a..b", server: "host:99999", keyName: "k", secret: "%%%%not-base64%%%%")
        else { Issue.record("bad settings accepted"); return }
        for key in ["dns.zone", "dns.server", "dns.tsig_secret"] { #expect(bad.reason.contains(key), "\(bad.reason)") }
        #expect(!bad.reason.contains("not-base64"))
        guard
            case .failure(let algorithm) = configure(
                "rfc2136", server: "h", keyName: "k", algorithm: "hmac-md5", secret: secret)
        else { Issue.record("hmac-md5 accepted"); return }
        #expect(algorithm.reason.contains("dns.tsig_algorithm"))
        guard case .failure(let token) = configure("cloudflare") else { Issue.record("no token accepted"); return }
        #expect(token.reason.contains("dns.api_token"))
    }

    /// The looks at a hand-published record: as long again as the job has waited, from 5 s, capped.
    @Test func manualRechecksBackOff() {
        let cases: [(TimeInterval, Int64, Int64)] = [
            (0, 3600, 5), (3, 3600, 5), (5, 3600, 5), (10.7, 3600, 10), (40, 3600, 40), (5000, 3600, 3600),
            (100, 10, 10), (0, 1, 5),
        ]
        for (waited, cap, expected) in cases {
            #expect(
                TeamsDomainDNS.recheck(waited: waited, cap: .seconds(cap)) == .seconds(expected), "\(waited) \(cap)")
        }
        let message = TeamsDomainDNS.waitMessage(
            name: "c.sbc.example", value: "MS=ms123", zone: "sbc.example", recheck: .seconds(40), customer: "contoso")
        for part in [
            "c.sbc.example TXT \"MS=ms123\"", "name c.sbc.example, type TXT, value MS=ms123", "in 40 s",
            "onboarder resume contoso", "may be removed",
        ] {
            #expect(message.contains(part), "\(part)")
        }
        #expect(message.hasPrefix("waiting for input: "))
        #expect(
            TeamsDomainDNS.isVerificationValue("MS=ms12345678") && !TeamsDomainDNS.isVerificationValue("v=spf1 -all"))
    }
}
