import COpenSSL
import COpenSSLShims

/// An OpenSSL failure, with OpenSSL's own error queue drained into `reasons`.
public struct CryptoError: Error, Sendable, CustomStringConvertible {
    public var operation: String
    public var reasons: [String]

    /// Captures and clears OpenSSL's thread-local error queue.
    public init(operation: String) {
        self.operation = operation
        var reasons = [String]()
        while case let code = ERR_get_error(), code != 0 {
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            reasons.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        self.reasons = reasons
    }

    /// An error with reasons of our own (OpenSSL's queue is left alone).
    public init(operation: String, reasons: [String]) {
        self.operation = operation
        self.reasons = reasons
    }

    public var description: String {
        reasons.isEmpty ? "\(operation) failed" : "\(operation) failed: \(reasons.joined(separator: "; "))"
    }
}

/// Message digests through OpenSSL's EVP interface.
public enum Digest {
    /// SHA-256 of `bytes`.
    public static func sha256(_ bytes: some Sequence<UInt8>) throws(CryptoError) -> [UInt8] {
        try digest(EVP_sha256(), Array(bytes), name: "SHA-256")
    }

    /// SHA-1 of `bytes` (certificate thumbprints only; never for security decisions).
    public static func sha1(_ bytes: some Sequence<UInt8>) throws(CryptoError) -> [UInt8] {
        try digest(EVP_sha1(), Array(bytes), name: "SHA-1")
    }

    private static func digest(_ type: OpaquePointer?, _ bytes: [UInt8], name: String) throws(CryptoError) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let ok = bytes.withUnsafeBytes { input in
            EVP_Digest(input.baseAddress, input.count, &output, &length, type, nil)
        }
        guard ok == 1 else { throw CryptoError(operation: name) }
        return Array(output.prefix(Int(length)))
    }
}

/// Cryptographically secure random bytes from OpenSSL's DRBG.
public enum SecureRandom {
    public static func bytes(_ count: Int) throws(CryptoError) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: count)
        guard RAND_bytes(&output, Int32(count)) == 1 else { throw CryptoError(operation: "RAND_bytes") }
        return output
    }
}

extension Sequence<UInt8> {
    /// Lowercase hexadecimal.
    public var hexString: String {
        var text = ""
        for byte in self {
            let digits = Array("0123456789abcdef")
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return text
    }
}

public enum OpenSSLLibrary {
    /// e.g. `OpenSSL 3.0.19 27 Jan 2026`.
    public static var version: String { String(cString: OpenSSL_version(OPENSSL_VERSION)) }
}
