import COpenSSL

/// HMAC (RFC 2104) through OpenSSL, for signing DNS updates with TSIG (RFC 8945).
public enum HMAC {
    public enum Algorithm: String, Sendable, CaseIterable {
        case sha1, sha224, sha256, sha384, sha512

        var digest: OpaquePointer? {
            switch self {
            case .sha1: EVP_sha1()
            case .sha224: EVP_sha224()
            case .sha256: EVP_sha256()
            case .sha384: EVP_sha384()
            case .sha512: EVP_sha512()
            }
        }
    }

    /// The MAC of `message` under `key`.
    public static func mac(_ algorithm: Algorithm, key: [UInt8], message: [UInt8]) throws(CryptoError) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        // OpenSSL wants non-null pointers even for empty input: one-byte buffers of which nothing is read.
        let keyBuffer = key.isEmpty ? [0] : key
        let messageBuffer = message.isEmpty ? [0] : message
        let ok = keyBuffer.withUnsafeBufferPointer { keyBytes in
            messageBuffer.withUnsafeBufferPointer { messageBytes in
                COpenSSL.HMAC(
                    algorithm.digest, keyBytes.baseAddress, Int32(key.count), messageBytes.baseAddress, message.count,
                    &output, &length)
            }
        }
        guard ok != nil else { throw CryptoError(operation: "HMAC-\(algorithm.rawValue.uppercased())") }
        return Array(output.prefix(Int(length)))
    }

    /// Compares two MACs in time that does not depend on where they differ (a MAC checked byte by byte
    /// with an early exit tells an attacker how much of a forgery is right).
    public static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        if a.isEmpty { return true }
        return a.withUnsafeBytes { a in b.withUnsafeBytes { b in CRYPTO_memcmp(a.baseAddress, b.baseAddress, a.count) }
        }
            == 0
    }
}
