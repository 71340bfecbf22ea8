import Foundation

/// Looks a TXT record up in DNS, as Microsoft does before it verifies a domain, so a job waiting for an
/// operator's record goes on by itself once the record is there.
///
/// With `servers`, asks them (recursion desired: a recursive resolver or the zone's own server both do).
/// Without, asks the zone's authoritative name servers directly, found through the system's resolver
/// (`/etc/resolv.conf`): a recursive resolver would keep answering from its cache of the name's absence
/// (the zone's negative TTL) for minutes after the record was published.
public struct DNSResolver: Sendable {
    public let servers: [DNSServer]?
    public var timeout: Duration = .seconds(2)

    public init(servers: [DNSServer]?) { self.servers = servers }

    /// The TXT values of `name`, asking `zone`'s servers when no server is configured.
    public func txt(_ name: String, zone: String) async throws -> [String] {
        let resolver = self
        return try await DNSTransport.offload { try resolver.txtNow(name, zone: zone) }
    }

    /// The same, blocking the calling thread (the simulator's request handler, which has no event loop
    /// to give back).
    public func txtNow(_ name: String, zone: String) throws -> [String] {
        let name = try DNSName(name)
        let servers = try self.servers ?? authoritativeServers(of: try DNSName(zone))
        var problems: [String] = []
        for server in servers {
            do {
                let answer = try query(name, .txt, at: server, recursionDesired: self.servers != nil)
                if let values = Self.txtValues(answer, name: name) { return values }
                problems.append("\(server): \(answer.responseCode)")
            } catch {
                problems.append("\(error)")
            }
        }
        throw DNSLookupError(name: name.description, problems: problems)
    }

    /// The TXT values an answer gives `name`, or nil when the answer says nothing either way (SERVFAIL,
    /// REFUSED, a referral from a server that is not authoritative).
    static func txtValues(_ answer: DNSMessage, name: DNSName) -> [String]? {
        switch answer.responseCode {
        case .nameError: return []
        case .noError:
            let values = answer.answers.filter { $0.type == .txt && $0.name == name }.compactMap(\.data.text)
            if !values.isEmpty || answer.authoritative || answer.recursionAvailable { return values }
            return nil
        default: return nil
        }
    }

    /// One query over UDP, again over TCP when the answer was truncated (RFC 7766).
    public func query(_ name: DNSName, _ type: DNSType, at server: DNSServer, recursionDesired: Bool) throws
        -> DNSMessage
    {
        var message = DNSMessage(id: UInt16.random(in: 0...UInt16.max))
        message.recursionDesired = recursionDesired
        message.questions = [DNSQuestion(name: name, type: type)]
        let query = message.encode()
        var answer = try DNSMessage.decode(try DNSTransport.udp(query, to: server, timeout: timeout))
        if answer.truncated {
            answer = try DNSMessage.decode(try DNSTransport.tcp(query, to: server, timeout: timeout))
        }
        guard answer.isResponse, answer.id == message.id, answer.questions.first?.name == name else {
            throw DNSTransportError(server: server, reason: "the answer does not match the question")
        }
        return answer
    }

    /// The name servers of `zone` (or of the closest enclosing zone that has NS records), asked of the
    /// system's resolvers.
    func authoritativeServers(of zone: DNSName) throws -> [DNSServer] {
        let resolvers = Self.systemResolvers(
            (try? String(contentsOfFile: "/etc/resolv.conf", encoding: .utf8)) ?? "")
        guard !resolvers.isEmpty else {
            throw DNSLookupError(
                name: zone.description, problems: ["/etc/resolv.conf names no nameserver: set dns.resolver"])
        }
        var candidate = zone
        var problems: [String] = []
        while !candidate.labels.isEmpty {
            for resolver in resolvers {
                do {
                    let answer = try query(candidate, .ns, at: resolver, recursionDesired: true)
                    let names = answer.answers.compactMap { record -> DNSName? in
                        guard record.type == .ns, case .name(let server) = record.data else { return nil }
                        return server
                    }
                    if !names.isEmpty { return names.map { DNSServer(host: $0.description) } }
                    break  // this resolver answered: no NS records here, try the parent
                } catch {
                    problems.append("\(error)")
                }
            }
            candidate = candidate.parent
        }
        throw DNSLookupError(name: zone.description, problems: problems + ["no name servers found for \(zone)"])
    }

    /// The `nameserver` lines of resolv.conf(5).
    public static func systemResolvers(_ resolvConf: String) -> [DNSServer] {
        resolvConf.split(whereSeparator: \.isNewline).compactMap { line in
            let fields = line.split(whereSeparator: \.isWhitespace)
            guard fields.count >= 2, fields[0] == "nameserver" else { return nil }
            return DNSServer(host: String(fields[1]))
        }
    }
}

/// No server gave a usable answer.
public struct DNSLookupError: Error, Sendable, CustomStringConvertible {
    public let name: String
    public let problems: [String]

    public var description: String { "DNS lookup of \(name) failed: \(problems.joined(separator: "; "))" }
}
