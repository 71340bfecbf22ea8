import Foundation

/// Publishes TXT records by RFC 2136 dynamic update, signed with TSIG (RFC 8945), over TCP to the zone's
/// primary server: what BIND (`allow-update { key …; }`), PowerDNS, Knot and Windows DNS accept.
///
/// Each update has the zone in its zone section, no prerequisites, and one record in its update section:
/// an addition (which the server ignores when the record exists, RFC 2136 §3.4.2.2) or the deletion of
/// that one record (ignored when it is absent, §3.4.2.4). So both are idempotent and need no read first.
public struct DNSUpdateClient: TXTPublisher {
    public let server: DNSServer
    public let key: TSIGKey
    /// Five minutes: the record lives only until Microsoft has seen it.
    public var ttl: UInt32 = 300
    public var timeout: Duration = .seconds(10)
    /// The time TSIG signs with and checks answers against (RFC 8945 §5.2.3: within 300 s of the server's).
    public var clock: @Sendable () -> Date = { Date() }

    public init(server: DNSServer, key: TSIGKey) {
        self.server = server
        self.key = key
    }

    public func publish(name: String, value: String, zone: String) async throws(DNSError) {
        let record = DNSRecord(name: try Self.name(name), type: .txt, ttl: ttl, data: .txt(value: value))
        try await update(zone: zone, record, what: "add the TXT record of \(name)")
    }

    public func remove(name: String, value: String, zone: String) async throws(DNSError) {
        // Class NONE, TTL 0: delete this one record, leaving the name's other TXT records (RFC 2136 §2.5.4).
        let record = DNSRecord(
            name: try Self.name(name), type: .txt, recordClass: .none, ttl: 0, data: .txt(value: value))
        try await update(zone: zone, record, what: "remove the TXT record of \(name)")
    }

    /// Asked of the primary itself, which holds the update the moment it answered.
    public func values(name: String, zone: String) async throws(DNSError) -> [String] {
        do {
            return try await DNSResolver(servers: [server]).txt(name, zone: zone)
        } catch {
            throw DNSError(.retry(after: nil), "Cannot read the TXT records of \(name) from \(server): \(error)")
        }
    }

    /// The update message for `record` in `zone` (RFC 2136 §2): zone section, no prerequisites, update.
    public static func message(id: UInt16, zone: DNSName, _ record: DNSRecord) -> DNSMessage {
        var message = DNSMessage(id: id, opcode: .update)
        message.questions = [DNSQuestion(name: zone, type: .soa)]
        message.authorities = [record]
        return message
    }

    private func update(zone: String, _ record: DNSRecord, what: String) async throws(DNSError) {
        let zoneName = try Self.name(zone)
        guard record.name.isInside(zoneName) else {
            throw DNSError(
                .needsAttention, "\(record.name) is not inside the zone \(zone): check dns.zone, then onboarder retry.")
        }
        let message = Self.message(id: UInt16.random(in: 0...UInt16.max), zone: zoneName, record)
        let signed: (bytes: [UInt8], mac: [UInt8])
        do {
            signed = try TSIG.sign(message, key: key, time: UInt64(clock().timeIntervalSince1970))
        } catch {
            throw DNSError(.retry(after: nil), "Signing the update with \(key) failed: \(error)")
        }
        let (server, timeout, key) = (self.server, self.timeout, self.key)
        let answer: (bytes: [UInt8], message: DNSMessage)
        do {
            answer = try await DNSTransport.offload {
                let bytes = try DNSTransport.tcp(signed.bytes, to: server, timeout: timeout)
                return (bytes, try DNSMessage.decode(bytes))
            }
        } catch {
            throw DNSError(.retry(after: nil), "The DNS server \(server) did not answer the update (\(what)): \(error)")
        }
        guard answer.message.isResponse, answer.message.id == message.id, answer.message.opcode == .update else {
            throw DNSError(.retry(after: nil), "The DNS server \(server) answered the update with another message")
        }
        let verdict = TSIG.verify(
            response: answer.bytes, message: answer.message, requestMAC: signed.mac, key: key,
            now: UInt64(clock().timeIntervalSince1970))
        if let error = Self.failure(
            code: answer.message.responseCode, verdict: verdict, zone: zone, key: key, server: server, what: what)
        {
            throw error
        }
    }

    /// What an answer to an update means for the job: nil when the update was applied. Pure.
    public static func failure(
        code: DNSResponseCode, verdict: TSIGVerdict, zone: String, key: TSIGKey, server: DNSServer, what: String
    ) -> DNSError? {
        let keyName = "the TSIG key named \(key.name)"
        if case .refused(let error) = verdict {
            let why =
                switch error {
                case .badKey:
                    "the server does not know a key of that name and algorithm (\(key.algorithm.rawValue)): check dns.tsig_key_name and dns.tsig_algorithm against the server's key statement"
                case .badSig:
                    "the signature does not match: dns.tsig_secret is not the server's secret for that key"
                case .badTime:
                    "this host's clock and the server's differ by more than \(TSIG.fudge) seconds: set both by NTP"
                case .badAlgorithm:
                    "the server does not accept \(key.algorithm.rawValue): set dns.tsig_algorithm to the key's algorithm"
                default: "the server says \(error)"
                }
            return DNSError(
                .needsAttention, "\(keyName) was refused by \(server) (\(error)): \(why). Then onboarder retry.")
        }
        switch code {
        case .noError:
            switch verdict {
            case .verified: return nil
            case .unsigned, .refused:
                return DNSError(
                    .needsAttention,
                    "\(server) answered the update without signing it with \(keyName): the answer cannot be trusted. Check that dns.server is the zone's primary, then onboarder retry."
                )
            case .forged(let why):
                return DNSError(
                    .needsAttention,
                    "\(server)'s answer to the update does not carry a valid signature of \(keyName) (\(why)): check dns.server and the key, then onboarder retry."
                )
            }
        case .notAuth:
            return DNSError(
                .needsAttention,
                "\(server) is not authoritative for the zone \(zone) or does not accept \(keyName) for it (NOTAUTH): check dns.server, dns.zone and the key, then onboarder retry."
            )
        case .notZone:
            return DNSError(
                .needsAttention,
                "\(server) says the record is outside the zone \(zone) it was sent for with \(keyName) (NOTZONE): check dns.zone, then onboarder retry."
            )
        case .refused:
            return DNSError(
                .needsAttention,
                "\(server) refused to \(what) in the zone \(zone) with \(keyName) (REFUSED): its update policy (allow-update or update-policy) must let this key change TXT records there. Then onboarder retry."
            )
        case .notImplemented, .formatError:
            return DNSError(
                .needsAttention,
                "\(server) does not accept dynamic updates (\(code)): point dns.server at the zone's primary server, then onboarder retry."
            )
        case .serverFailure:
            return DNSError(.retry(after: nil), "\(server) failed to \(what) in the zone \(zone) (SERVFAIL)")
        default:
            return DNSError(
                .needsAttention, "\(server) refused to \(what) in the zone \(zone) (\(code)). Then onboarder retry.")
        }
    }

    static func name(_ text: String) throws(DNSError) -> DNSName {
        do { return try DNSName(text) } catch {
            throw DNSError(.needsAttention, "\(text) is not a DNS name: \(error)")
        }
    }
}
