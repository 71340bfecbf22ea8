import COpenSSL
import Foundation

/// A 256-bit key for sealing secrets at rest, with the id stored beside every ciphertext so keys can be
/// rotated. Its description never shows the key.
public struct EncryptionKey: Sendable, CustomStringConvertible {
    public let id: String
    let bytes: [UInt8]

    public init(id: String, bytes: [UInt8]) throws(CryptoError) {
        guard bytes.count == 32 else {
            throw CryptoError(operation: "encryption key \(id)", reasons: ["must be 32 bytes, got \(bytes.count)"])
        }
        guard !id.isEmpty, !id.contains(".") else {
            throw CryptoError(operation: "encryption key", reasons: ["an id must be non-empty and contain no '.'"])
        }
        self.id = id
        self.bytes = bytes
    }

    /// A key from its base64 form (what a key file or environment variable holds).
    public init(id: String, base64: String) throws(CryptoError) {
        guard let data = Data(base64Encoded: base64.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw CryptoError(operation: "encryption key \(id)", reasons: ["not base64"])
        }
        try self.init(id: id, bytes: [UInt8](data))
    }

    public static func generate(id: String) throws(CryptoError) -> EncryptionKey {
        try EncryptionKey(id: id, bytes: SecureRandom.bytes(32))
    }

    public var description: String { "EncryptionKey(\(id), <redacted>)" }

    /// The raw key, for interoperability tests and key export only.
    public var bytesForTestsOnly: [UInt8] { bytes }
}

/// AES-256-GCM with a random 96-bit nonce per message. The key id and the caller's context (e.g. the
/// tenant and column a secret belongs to) are authenticated as associated data, so a ciphertext cannot
/// be moved to another row or relabelled with another key id without failing to open.
public enum AESGCM {
    /// `og1.<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>`.
    public static func seal(_ plaintext: some Sequence<UInt8>, key: EncryptionKey, context: String = "")
        throws(CryptoError) -> String
    {
        let nonce = try SecureRandom.bytes(12)
        let input = Array(plaintext)
        let aad = Array("og1.\(key.id).\(context)".utf8)
        guard let cipher = EVP_CIPHER_CTX_new() else { throw CryptoError(operation: "EVP_CIPHER_CTX_new") }
        defer { EVP_CIPHER_CTX_free(cipher) }
        var output = [UInt8](repeating: 0, count: input.count + 16)
        var length: Int32 = 0
        var total = 0
        guard EVP_EncryptInit_ex(cipher, EVP_aes_256_gcm(), nil, key.bytes, nonce) == 1,
            aad.withUnsafeBufferPointer({ EVP_EncryptUpdate(cipher, nil, &length, $0.baseAddress, Int32($0.count)) })
                == 1
        else { throw CryptoError(operation: "AES-GCM setup") }
        if !input.isEmpty {
            guard EVP_EncryptUpdate(cipher, &output, &length, input, Int32(input.count)) == 1 else {
                throw CryptoError(operation: "AES-GCM encrypt")
            }
            total = Int(length)
        }
        var tag = [UInt8](repeating: 0, count: 16)
        guard
            output.withUnsafeMutableBufferPointer({ EVP_EncryptFinal_ex(cipher, $0.baseAddress! + total, &length) })
                == 1,
            EVP_CIPHER_CTX_ctrl(cipher, EVP_CTRL_GCM_GET_TAG, 16, &tag) == 1
        else { throw CryptoError(operation: "AES-GCM finish") }
        total += Int(length)
        return "og1.\(key.id).\(Base64URL.encode(nonce + output.prefix(total) + tag))"
    }

    /// The key id a sealed value names (to pick the key, or to find values still under an old key).
    public static func keyID(of sealed: String) -> String? {
        let parts = sealed.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 3 && parts[0] == "og1" ? String(parts[1]) : nil
    }

    /// Opens a value sealed under one of `keys` with the same `context`.
    public static func open(_ sealed: String, keys: [EncryptionKey], context: String = "") throws(CryptoError)
        -> [UInt8]
    {
        let parts = sealed.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "og1", let blob = Base64URL.decode(String(parts[2])), blob.count >= 28
        else {
            throw CryptoError(operation: "opening a sealed value", reasons: ["not an og1 sealed value"])
        }
        let keyID = String(parts[1])
        guard let key = keys.first(where: { $0.id == keyID }) else {
            throw CryptoError(operation: "opening a sealed value", reasons: ["no key with id \(keyID) is configured"])
        }
        let nonce = Array(blob.prefix(12))
        var tag = Array(blob.suffix(16))
        let ciphertext = Array(blob.dropFirst(12).dropLast(16))
        let aad = Array("og1.\(keyID).\(context)".utf8)
        guard let cipher = EVP_CIPHER_CTX_new() else { throw CryptoError(operation: "EVP_CIPHER_CTX_new") }
        defer { EVP_CIPHER_CTX_free(cipher) }
        var output = [UInt8](repeating: 0, count: ciphertext.count + 16)
        var length: Int32 = 0
        var total = 0
        guard EVP_DecryptInit_ex(cipher, EVP_aes_256_gcm(), nil, key.bytes, nonce) == 1,
            aad.withUnsafeBufferPointer({ EVP_DecryptUpdate(cipher, nil, &length, $0.baseAddress, Int32($0.count)) })
                == 1
        else { throw CryptoError(operation: "AES-GCM setup") }
        if !ciphertext.isEmpty {
            guard EVP_DecryptUpdate(cipher, &output, &length, ciphertext, Int32(ciphertext.count)) == 1 else {
                throw CryptoError(operation: "AES-GCM decrypt")
            }
            total = Int(length)
        }
        guard EVP_CIPHER_CTX_ctrl(cipher, EVP_CTRL_GCM_SET_TAG, 16, &tag) == 1 else {
            throw CryptoError(operation: "AES-GCM tag")
        }
        let finished = output.withUnsafeMutableBufferPointer {
            EVP_DecryptFinal_ex(cipher, $0.baseAddress! + total, &length)
        }
        guard finished == 1 else {
            ERR_clear_error()
            throw CryptoError(
                operation: "opening a sealed value",
                reasons: ["authentication failed: wrong key, wrong context, or tampered"])
        }
        total += Int(length)
        return Array(output.prefix(total))
    }
}
