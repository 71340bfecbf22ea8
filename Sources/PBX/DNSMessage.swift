// DNS messages on the wire (RFC 1035 §4), as far as publishing and checking a TXT record needs: queries,
// dynamic updates (RFC 2136, whose zone / prerequisite / update sections reuse the question / answer /
// authority layout) and their TSIG signatures (RFC 8945). Pure: bytes in, values out; the transport is
// `DNSTransport`.

/// A resource record type.
public struct DNSType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let a = DNSType(rawValue: 1)
    public static let ns = DNSType(rawValue: 2)
    public static let cname = DNSType(rawValue: 5)
    public static let soa = DNSType(rawValue: 6)
    public static let txt = DNSType(rawValue: 16)
    public static let aaaa = DNSType(rawValue: 28)
    public static let tsig = DNSType(rawValue: 250)
    /// In an update: every RRset of a name.
    public static let any = DNSType(rawValue: 255)

    public var description: String {
        switch self {
        case .a: "A"
        case .ns: "NS"
        case .cname: "CNAME"
        case .soa: "SOA"
        case .txt: "TXT"
        case .aaaa: "AAAA"
        case .tsig: "TSIG"
        case .any: "ANY"
        default: "TYPE\(rawValue)"
        }
    }
}

/// A record's class. Updates use NONE and ANY to say "delete" (RFC 2136 §2.5).
public struct DNSClass: RawRepresentable, Hashable, Sendable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let internet = DNSClass(rawValue: 1)
    public static let none = DNSClass(rawValue: 254)
    public static let any = DNSClass(rawValue: 255)
}

/// A response code: the header's four bits, or a TSIG record's error field (which extends them).
public struct DNSResponseCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let noError = DNSResponseCode(rawValue: 0)
    public static let formatError = DNSResponseCode(rawValue: 1)
    public static let serverFailure = DNSResponseCode(rawValue: 2)
    public static let nameError = DNSResponseCode(rawValue: 3)
    public static let notImplemented = DNSResponseCode(rawValue: 4)
    public static let refused = DNSResponseCode(rawValue: 5)
    public static let yxDomain = DNSResponseCode(rawValue: 6)
    public static let yxRRSet = DNSResponseCode(rawValue: 7)
    public static let nxRRSet = DNSResponseCode(rawValue: 8)
    public static let notAuth = DNSResponseCode(rawValue: 9)
    public static let notZone = DNSResponseCode(rawValue: 10)
    public static let badSig = DNSResponseCode(rawValue: 16)
    public static let badKey = DNSResponseCode(rawValue: 17)
    public static let badTime = DNSResponseCode(rawValue: 18)
    public static let badMode = DNSResponseCode(rawValue: 19)
    public static let badName = DNSResponseCode(rawValue: 20)
    public static let badAlgorithm = DNSResponseCode(rawValue: 21)
    public static let badTruncation = DNSResponseCode(rawValue: 22)

    /// The mnemonic of the IANA registry (`NOTAUTH`, `BADSIG`), as servers' logs and `dig` print it.
    public var description: String {
        let names = [
            "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET", "NXRRSET",
            "NOTAUTH", "NOTZONE",
        ]
        if Int(rawValue) < names.count { return names[Int(rawValue)] }
        let tsigNames = [
            16: "BADSIG", 17: "BADKEY", 18: "BADTIME", 19: "BADMODE", 20: "BADNAME", 21: "BADALG", 22: "BADTRUNC",
        ]
        return tsigNames[Int(rawValue)] ?? "RCODE\(rawValue)"
    }
}

/// Why bytes are not a DNS message, or a name or value cannot be one.
public struct DNSFormatError: Error, Sendable, Equatable, CustomStringConvertible {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// A domain name as labels. Compared case-insensitively (RFC 4343), as servers compare them.
public struct DNSName: Hashable, Sendable, CustomStringConvertible {
    public let labels: [[UInt8]]

    public init(labels: [[UInt8]]) { self.labels = labels }

    /// `sbc.example.com` or `sbc.example.com.`; letters, digits, `-`, `_` and `*` only (no escapes: every
    /// name Onboarder handles is a host name or a key name).
    public init(_ text: String) throws(DNSFormatError) {
        var text = Substring(text)
        if text.hasSuffix(".") { text = text.dropLast() }
        if text.isEmpty {
            labels = []
            return
        }
        var labels: [[UInt8]] = []
        for label in text.split(separator: ".", omittingEmptySubsequences: false) {
            let bytes = Array(label.utf8)
            guard !bytes.isEmpty else { throw DNSFormatError("\(text) has an empty label") }
            guard bytes.count <= 63 else { throw DNSFormatError("\(text) has a label longer than 63 characters") }
            guard
                bytes.allSatisfy({
                    (0x30...0x39).contains($0) || (0x41...0x5a).contains($0) || (0x61...0x7a).contains($0)
                        || $0 == 0x2d || $0 == 0x5f || $0 == 0x2a
                })
            else { throw DNSFormatError("\(text) is not a DNS name (letters, digits, - and _ only)") }
            labels.append(bytes)
        }
        self.labels = labels
        guard wireLength <= 255 else { throw DNSFormatError("\(text) is longer than 255 bytes on the wire") }
    }

    public static let root = DNSName(labels: [])

    /// Length-prefixed labels and the root's zero byte, uncompressed.
    public var wire: [UInt8] {
        var bytes: [UInt8] = []
        for label in labels {
            bytes.append(UInt8(label.count))
            bytes += label
        }
        bytes.append(0)
        return bytes
    }

    var wireLength: Int { labels.reduce(1) { $0 + 1 + $1.count } }

    /// Lower-case ASCII: the form TSIG signs (RFC 8945 §4.3.3) and names are compared in.
    public var canonical: DNSName {
        DNSName(labels: labels.map { $0.map { (0x41...0x5a).contains($0) ? $0 | 0x20 : $0 } })
    }

    public static func == (lhs: DNSName, rhs: DNSName) -> Bool { lhs.canonical.labels == rhs.canonical.labels }
    public func hash(into hasher: inout Hasher) { hasher.combine(canonical.labels) }

    /// Whether this name is `zone` or below it.
    public func isInside(_ zone: DNSName) -> Bool {
        labels.count >= zone.labels.count && DNSName(labels: Array(labels.suffix(zone.labels.count))) == zone
    }

    /// The name one label up (`example.com` for `sbc.example.com`); the root's parent is the root.
    public var parent: DNSName { DNSName(labels: Array(labels.dropFirst())) }

    public var description: String {
        labels.isEmpty ? "." : labels.map { String(decoding: $0, as: UTF8.self) }.joined(separator: ".")
    }
}

/// A record's data, decoded for the types read here; anything else stays bytes.
public enum DNSRecordData: Sendable, Equatable {
    /// TXT: its character-strings (each at most 255 bytes).
    case txt([[UInt8]])
    /// NS, CNAME: a name.
    case name(DNSName)
    case soa(
        primary: DNSName, mailbox: DNSName, serial: UInt32, refresh: UInt32, retry: UInt32, expire: UInt32,
        minimum: UInt32)
    /// A (4 bytes) and AAAA (16 bytes).
    case address([UInt8])
    case tsig(TSIGData)
    case raw([UInt8])

    /// A TXT value as one string: its character-strings joined, as verifiers read them.
    public var text: String? {
        guard case .txt(let strings) = self else { return nil }
        return String(decoding: strings.joined(), as: UTF8.self)
    }

    /// TXT data for `value`, split into 255-byte character-strings.
    public static func txt(value: String) -> DNSRecordData {
        let bytes = Array(value.utf8)
        guard !bytes.isEmpty else { return .txt([[]]) }
        return .txt(stride(from: 0, to: bytes.count, by: 255).map { Array(bytes[$0..<min($0 + 255, bytes.count)]) })
    }
}

/// The RDATA of a TSIG record (RFC 8945 §4.2).
public struct TSIGData: Sendable, Equatable {
    public var algorithm: DNSName
    /// Seconds since 1970, 48 bits on the wire.
    public var timeSigned: UInt64
    public var fudge: UInt16
    public var mac: [UInt8]
    public var originalID: UInt16
    public var error: DNSResponseCode
    public var other: [UInt8]

    public init(
        algorithm: DNSName, timeSigned: UInt64, fudge: UInt16, mac: [UInt8], originalID: UInt16,
        error: DNSResponseCode, other: [UInt8]
    ) {
        self.algorithm = algorithm
        self.timeSigned = timeSigned
        self.fudge = fudge
        self.mac = mac
        self.originalID = originalID
        self.error = error
        self.other = other
    }
}

/// A resource record. In an update, class and TTL say what to do with it (RFC 2136 §2.5).
public struct DNSRecord: Sendable, Equatable {
    public var name: DNSName
    public var type: DNSType
    public var recordClass: DNSClass
    public var ttl: UInt32
    public var data: DNSRecordData

    public init(name: DNSName, type: DNSType, recordClass: DNSClass = .internet, ttl: UInt32, data: DNSRecordData) {
        self.name = name
        self.type = type
        self.recordClass = recordClass
        self.ttl = ttl
        self.data = data
    }
}

public struct DNSQuestion: Sendable, Equatable {
    public var name: DNSName
    public var type: DNSType
    public var questionClass: DNSClass

    public init(name: DNSName, type: DNSType, questionClass: DNSClass = .internet) {
        self.name = name
        self.type = type
        self.questionClass = questionClass
    }
}

public struct DNSMessage: Sendable, Equatable {
    public enum Opcode: UInt8, Sendable {
        case query = 0
        case update = 5
    }

    public var id: UInt16
    public var isResponse = false
    public var opcode: Opcode = .query
    public var authoritative = false
    public var truncated = false
    public var recursionDesired = false
    public var recursionAvailable = false
    public var responseCode: DNSResponseCode = .noError
    /// Updates: the zone section.
    public var questions: [DNSQuestion] = []
    /// Updates: the prerequisite section.
    public var answers: [DNSRecord] = []
    /// Updates: the update section.
    public var authorities: [DNSRecord] = []
    public var additionals: [DNSRecord] = []
    /// Where the last additional record, when it is a TSIG record, starts in the bytes decoded: what its
    /// MAC covers ends there (RFC 8945 §4.3).
    public var tsigOffset: Int?

    public init(id: UInt16, opcode: Opcode = .query) {
        self.id = id
        self.opcode = opcode
    }

    /// The wire form, names uncompressed (a few bytes longer, and the canonical form TSIG needs anyway).
    public func encode() -> [UInt8] {
        var writer = DNSWriter()
        writer.u16(id)
        var flags = UInt16(opcode.rawValue) << 11
        if isResponse { flags |= 0x8000 }
        if authoritative { flags |= 0x0400 }
        if truncated { flags |= 0x0200 }
        if recursionDesired { flags |= 0x0100 }
        if recursionAvailable { flags |= 0x0080 }
        flags |= responseCode.rawValue & 0x000f
        writer.u16(flags)
        for count in [questions.count, answers.count, authorities.count, additionals.count] {
            writer.u16(UInt16(count))
        }
        for question in questions {
            writer.bytes(question.name.wire)
            writer.u16(question.type.rawValue)
            writer.u16(question.questionClass.rawValue)
        }
        for record in answers + authorities + additionals { writer.record(record) }
        return writer.output
    }

    /// Decodes a message; every length and pointer is checked against the bytes (they come from the
    /// network).
    public static func decode(_ bytes: [UInt8]) throws(DNSFormatError) -> DNSMessage {
        var reader = DNSReader(bytes)
        var message = DNSMessage(id: try reader.u16())
        let flags = try reader.u16()
        message.isResponse = flags & 0x8000 != 0
        guard let opcode = Opcode(rawValue: UInt8((flags >> 11) & 0x0f)) else {
            throw DNSFormatError("unsupported opcode \((flags >> 11) & 0x0f)")
        }
        message.opcode = opcode
        message.authoritative = flags & 0x0400 != 0
        message.truncated = flags & 0x0200 != 0
        message.recursionDesired = flags & 0x0100 != 0
        message.recursionAvailable = flags & 0x0080 != 0
        message.responseCode = DNSResponseCode(rawValue: flags & 0x000f)
        let counts = [try reader.u16(), try reader.u16(), try reader.u16(), try reader.u16()].map(Int.init)
        for _ in 0..<counts[0] {
            message.questions.append(
                DNSQuestion(
                    name: try reader.name(), type: DNSType(rawValue: try reader.u16()),
                    questionClass: DNSClass(rawValue: try reader.u16())))
        }
        for _ in 0..<counts[1] { message.answers.append(try reader.record()) }
        for _ in 0..<counts[2] { message.authorities.append(try reader.record()) }
        for index in 0..<counts[3] {
            let start = reader.offset
            let record = try reader.record()
            if index == counts[3] - 1, record.type == .tsig { message.tsigOffset = start }
            message.additionals.append(record)
        }
        return message
    }

    /// The TSIG record that signs the message: the last additional record (RFC 8945 §5.1).
    public var tsig: (name: DNSName, data: TSIGData)? {
        guard let last = additionals.last, case .tsig(let data) = last.data else { return nil }
        return (last.name, data)
    }
}

/// Appends big-endian fields.
struct DNSWriter {
    var output: [UInt8] = []

    mutating func u16(_ value: UInt16) { output += [UInt8(value >> 8), UInt8(value & 0xff)] }
    mutating func u32(_ value: UInt32) {
        output += [UInt8(value >> 24), UInt8((value >> 16) & 0xff), UInt8((value >> 8) & 0xff), UInt8(value & 0xff)]
    }
    mutating func u48(_ value: UInt64) {
        u16(UInt16((value >> 32) & 0xffff))
        u32(UInt32(value & 0xffff_ffff))
    }
    mutating func bytes(_ bytes: [UInt8]) { output += bytes }

    mutating func record(_ record: DNSRecord) {
        bytes(record.name.wire)
        u16(record.type.rawValue)
        u16(record.recordClass.rawValue)
        u32(record.ttl)
        let data = Self.rdata(record.data)
        u16(UInt16(data.count))
        bytes(data)
    }

    static func rdata(_ data: DNSRecordData) -> [UInt8] {
        var writer = DNSWriter()
        switch data {
        case .txt(let strings):
            for string in strings {
                writer.output.append(UInt8(string.count))
                writer.bytes(string)
            }
        case .name(let name): writer.bytes(name.wire)
        case .soa(let primary, let mailbox, let serial, let refresh, let retry, let expire, let minimum):
            writer.bytes(primary.wire)
            writer.bytes(mailbox.wire)
            for value in [serial, refresh, retry, expire, minimum] { writer.u32(value) }
        case .address(let bytes), .raw(let bytes): writer.bytes(bytes)
        case .tsig(let tsig):
            writer.bytes(tsig.algorithm.canonical.wire)
            writer.u48(tsig.timeSigned)
            writer.u16(tsig.fudge)
            writer.u16(UInt16(tsig.mac.count))
            writer.bytes(tsig.mac)
            writer.u16(tsig.originalID)
            writer.u16(tsig.error.rawValue)
            writer.u16(UInt16(tsig.other.count))
            writer.bytes(tsig.other)
        }
        return writer.output
    }
}

/// Reads big-endian fields and (possibly compressed) names, never past the end.
struct DNSReader {
    let bytes: [UInt8]
    var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func take(_ count: Int) throws(DNSFormatError) -> ArraySlice<UInt8> {
        guard count >= 0, offset + count <= bytes.count else {
            throw DNSFormatError("the message ends inside a field (\(bytes.count) bytes)")
        }
        defer { offset += count }
        return bytes[offset..<offset + count]
    }

    mutating func u8() throws(DNSFormatError) -> UInt8 { try take(1).first! }
    mutating func u16() throws(DNSFormatError) -> UInt16 {
        let field = try take(2)
        return UInt16(field[field.startIndex]) << 8 | UInt16(field[field.startIndex + 1])
    }
    mutating func u32() throws(DNSFormatError) -> UInt32 {
        UInt32(try u16()) << 16 | UInt32(try u16())
    }
    mutating func u48() throws(DNSFormatError) -> UInt64 {
        UInt64(try u16()) << 32 | UInt64(try u32())
    }

    /// A name at the current offset; compression pointers (RFC 1035 §4.1.4) must point backwards, so a
    /// hostile message cannot loop.
    mutating func name() throws(DNSFormatError) -> DNSName {
        var labels: [[UInt8]] = []
        var position = offset
        var jumped = false
        var length = 1
        while true {
            guard position < bytes.count else { throw DNSFormatError("a name runs past the end of the message") }
            let byte = bytes[position]
            switch byte & 0xc0 {
            case 0x00:
                if byte == 0 {
                    if !jumped { offset = position + 1 }
                    return DNSName(labels: labels)
                }
                let end = position + 1 + Int(byte)
                guard end <= bytes.count else { throw DNSFormatError("a label runs past the end of the message") }
                labels.append(Array(bytes[(position + 1)..<end]))
                length += 1 + Int(byte)
                guard length <= 255 else { throw DNSFormatError("a name is longer than 255 bytes") }
                position = end
            case 0xc0:
                guard position + 1 < bytes.count else { throw DNSFormatError("a name pointer is cut off") }
                let target = Int(byte & 0x3f) << 8 | Int(bytes[position + 1])
                guard target < position else { throw DNSFormatError("a name pointer does not point backwards") }
                if !jumped { offset = position + 2 }
                jumped = true
                position = target
            default:
                throw DNSFormatError("unsupported label type \(byte >> 6)")
            }
        }
    }

    mutating func record() throws(DNSFormatError) -> DNSRecord {
        let name = try self.name()
        let type = DNSType(rawValue: try u16())
        let recordClass = DNSClass(rawValue: try u16())
        let ttl = try u32()
        let length = Int(try u16())
        let start = offset
        guard start + length <= bytes.count else { throw DNSFormatError("a record's data runs past the end") }
        let data: DNSRecordData
        switch type {
        case .txt:
            var strings: [[UInt8]] = []
            while offset < start + length {
                let count = Int(try u8())
                guard offset + count <= start + length else {
                    throw DNSFormatError("a TXT string runs past its record")
                }
                strings.append(Array(try take(count)))
            }
            data = .txt(strings)
        case .ns, .cname: data = .name(try self.name())
        case .soa:
            data = .soa(
                primary: try self.name(), mailbox: try self.name(), serial: try u32(), refresh: try u32(),
                retry: try u32(), expire: try u32(), minimum: try u32())
        case .a where length == 4, .aaaa where length == 16: data = .address(Array(try take(length)))
        case .tsig:
            let algorithm = try self.name()
            let time = try u48()
            let fudge = try u16()
            let mac = Array(try take(Int(try u16())))
            let originalID = try u16()
            let error = DNSResponseCode(rawValue: try u16())
            let other = Array(try take(Int(try u16())))
            data = .tsig(
                TSIGData(
                    algorithm: algorithm, timeSigned: time, fudge: fudge, mac: mac, originalID: originalID,
                    error: error, other: other))
        default: data = .raw(Array(try take(length)))
        }
        guard offset == start + length else { throw DNSFormatError("a \(type) record's data has the wrong length") }
        return DNSRecord(name: name, type: type, recordClass: recordClass, ttl: ttl, data: data)
    }
}
