import Crypto
import Foundation

// TSIG (RFC 8945): a shared-secret HMAC over a DNS message, the way BIND, PowerDNS, Knot and Windows DNS
// authenticate dynamic updates. Pure: the clock is a parameter.

/// The HMAC algorithms RFC 8945 §6 lists for use; HMAC-MD5 is left out (its use is "MUST NOT").
public enum TSIGAlgorithm: String, Sendable, CaseIterable {
    case hmacSHA1 = "hmac-sha1"
    case hmacSHA224 = "hmac-sha224"
    case hmacSHA256 = "hmac-sha256"
    case hmacSHA384 = "hmac-sha384"
    case hmacSHA512 = "hmac-sha512"

    var hmac: HMAC.Algorithm {
        switch self {
        case .hmacSHA1: .sha1
        case .hmacSHA224: .sha224
        case .hmacSHA256: .sha256
        case .hmacSHA384: .sha384
        case .hmacSHA512: .sha512
        }
    }

    /// The algorithm's name as it goes on the wire (`hmac-sha256.`).
    public var name: DNSName { DNSName(labels: [Array(rawValue.utf8)]) }
}

/// A TSIG key as a server's configuration names it (`key "onboarder" { algorithm hmac-sha256; secret "…"; }`).
/// Its description names the key, never the secret.
public struct TSIGKey: Sendable, CustomStringConvertible, CustomReflectable {
    public let name: DNSName
    public let algorithm: TSIGAlgorithm
    let secret: [UInt8]

    /// `secret` in base64, as `tsig-keygen` prints it.
    public init(name: String, algorithm: TSIGAlgorithm, base64Secret: String) throws(DNSFormatError) {
        do { self.name = try DNSName(name) } catch {
            throw DNSFormatError("the TSIG key name \(name) is not a DNS name: \(error)")
        }
        guard !self.name.labels.isEmpty else { throw DNSFormatError("the TSIG key has no name") }
        // The secret is never quoted back: a message saying what is wrong with it is enough.
        guard let secret = Data(base64Encoded: base64Secret.trimmingCharacters(in: .whitespacesAndNewlines)),
            !secret.isEmpty
        else { throw DNSFormatError("the secret of the TSIG key \(name) is not base64 (as tsig-keygen prints it)") }
        self.algorithm = algorithm
        self.secret = Array(secret)
    }

    public var description: String { "TSIG key \(name) (\(algorithm.rawValue))" }
    public var customMirror: Mirror { Mirror(self, children: ["name": name, "algorithm": algorithm]) }
}

/// What a signed answer's TSIG record says.
public enum TSIGVerdict: Sendable, Equatable {
    /// Signed with the key, in time.
    case verified
    /// No TSIG record: the server did not sign it.
    case unsigned
    /// The server refused our signature: BADSIG, BADKEY, BADTIME, BADALG… (RFC 8945 §5.2).
    case refused(DNSResponseCode)
    /// The answer's own signature does not hold: not from the server that has the key, or replayed.
    case forged(String)
}

public enum TSIG {
    /// How far apart our clock and the server's may be (RFC 8945 §10 recommends 300 seconds).
    public static let fudge: UInt16 = 300

    /// `message` signed: its bytes with the TSIG record appended, and the MAC the answer's signature
    /// covers (RFC 8945 §4.3.1).
    public static func sign(_ message: DNSMessage, key: TSIGKey, time: UInt64) throws(CryptoError) -> (
        bytes: [UInt8], mac: [UInt8]
    ) {
        var tsig = TSIGData(
            algorithm: key.algorithm.name, timeSigned: time, fudge: fudge, mac: [], originalID: message.id,
            error: .noError, other: [])
        let unsigned = message.encode()
        tsig.mac = try HMAC.mac(key.algorithm.hmac, key: key.secret, message: unsigned + variables(key.name, tsig))
        var signed = message
        signed.additionals.append(DNSRecord(name: key.name, type: .tsig, recordClass: .any, ttl: 0, data: .tsig(tsig)))
        return (signed.encode(), tsig.mac)
    }

    /// Checks the TSIG record of an answer to a request signed with `requestMAC` (RFC 8945 §5.3):
    /// digest of the request's MAC, the answer as it was before its TSIG record was added (original ID,
    /// one additional record fewer), and the TSIG variables.
    public static func verify(
        response bytes: [UInt8], message: DNSMessage, requestMAC: [UInt8], key: TSIGKey, now: UInt64
    ) -> TSIGVerdict {
        guard let (name, tsig) = message.tsig, let offset = message.tsigOffset else { return .unsigned }
        if tsig.error != .noError { return .refused(tsig.error) }
        guard name == key.name, tsig.algorithm == key.algorithm.name else {
            return .forged("signed with \(name) (\(tsig.algorithm)), not \(key)")
        }
        var body = Array(bytes[0..<offset])
        body[0] = UInt8(tsig.originalID >> 8)
        body[1] = UInt8(tsig.originalID & 0xff)
        let additionalCount = (UInt16(body[10]) << 8 | UInt16(body[11])) &- 1
        body[10] = UInt8(additionalCount >> 8)
        body[11] = UInt8(additionalCount & 0xff)
        var input = DNSWriter()
        input.u16(UInt16(requestMAC.count))
        input.bytes(requestMAC)
        input.bytes(body)
        input.bytes(variables(key.name, tsig))
        guard let expected = try? HMAC.mac(key.algorithm.hmac, key: key.secret, message: input.output),
            HMAC.equal(expected, tsig.mac)
        else { return .forged("its MAC does not verify") }
        let skew = now > tsig.timeSigned ? now - tsig.timeSigned : tsig.timeSigned - now
        guard skew <= UInt64(tsig.fudge) else {
            return .forged("it was signed \(skew) seconds away from our clock (fudge \(tsig.fudge))")
        }
        return .verified
    }

    /// The TSIG variables (RFC 8945 §4.3.3): the record without its MAC and original ID, names canonical.
    static func variables(_ keyName: DNSName, _ tsig: TSIGData) -> [UInt8] {
        var writer = DNSWriter()
        writer.bytes(keyName.canonical.wire)
        writer.u16(DNSClass.any.rawValue)
        writer.u32(0)
        writer.bytes(tsig.algorithm.canonical.wire)
        writer.u48(tsig.timeSigned)
        writer.u16(tsig.fudge)
        writer.u16(tsig.error.rawValue)
        writer.u16(UInt16(tsig.other.count))
        writer.bytes(tsig.other)
        return writer.output
    }
}
