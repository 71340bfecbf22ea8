import COpenSSL
import COpenSSLShims
import Foundation

/// JWS signature algorithms Entra ID accepts for client assertions.
public enum SignatureAlgorithm: String, Sendable, Codable {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    case rs256 = "RS256"
    /// RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt (RFC 7518 §3.5).
    case ps256 = "PS256"
}

/// An RSA private key (an `EVP_PKEY`). Sendable: immutable after creation, and OpenSSL allows
/// concurrent use of a key for signing.
public final class PrivateKey: @unchecked Sendable {
    /// `package`: the simulator's TLS server (SimTLS) loads it into its context.
    package let raw: OpaquePointer

    /// Takes ownership of `raw` (`package`: SharedPrimeRSA makes its keys itself).
    package init(raw: OpaquePointer) { self.raw = raw }
    deinit { EVP_PKEY_free(raw) }

    /// A new RSA key of `bits` (2048 or 3072; Entra ID requires at least 2048).
    public static func generateRSA(bits: Int = 2048) throws(CryptoError) -> PrivateKey {
        guard [2048, 3072, 4096].contains(bits) else {
            throw CryptoError(
                operation: "RSA key generation", reasons: ["unsupported size \(bits); use 2048, 3072 or 4096"])
        }
        guard let key = COpenSSLShims_EVP_RSA_gen(UInt32(bits)) else { throw CryptoError(operation: "EVP_RSA_gen") }
        return PrivateKey(raw: key)
    }

    /// Reads a PEM private key: PKCS#8 (`BEGIN PRIVATE KEY`), traditional RSA, or encrypted PKCS#8 with
    /// `passphrase`.
    public convenience init(pem: String, passphrase: String? = nil) throws(CryptoError) {
        let bio = try MemoryBIO(bytes: Array(pem.utf8))
        let key: OpaquePointer? =
            if let passphrase {
                passphrase.withCString {
                    PEM_read_bio_PrivateKey(bio.raw, nil, nil, UnsafeMutableRawPointer(mutating: $0))
                }
            } else {
                // An empty passphrase callback result: an encrypted key without a passphrase fails cleanly
                // instead of prompting on the terminal.
                "".withCString { PEM_read_bio_PrivateKey(bio.raw, nil, nil, UnsafeMutableRawPointer(mutating: $0)) }
            }
        guard let key else { throw CryptoError(operation: "reading the PEM private key") }
        self.init(raw: key)
    }

    /// PKCS#8 PEM; encrypted with AES-256-CBC under `passphrase` when given.
    public func pem(passphrase: String? = nil) throws(CryptoError) -> String {
        let bio = try MemoryBIO()
        let ok: Int32 =
            if let passphrase {
                passphrase.withCString {
                    PEM_write_bio_PKCS8PrivateKey(bio.raw, raw, EVP_aes_256_cbc(), $0, Int32(strlen($0)), nil, nil)
                }
            } else {
                PEM_write_bio_PrivateKey(bio.raw, raw, nil, nil, 0, nil, nil)
            }
        guard ok == 1 else { throw CryptoError(operation: "writing the private key") }
        return bio.string
    }

    /// The public half.
    public var publicKey: PublicKey {
        get throws(CryptoError) {
            let bio = try MemoryBIO()
            guard PEM_write_bio_PUBKEY(bio.raw, raw) == 1 else {
                throw CryptoError(operation: "writing the public key")
            }
            return try PublicKey(pem: bio.string)
        }
    }

    /// Signs `data` (hashing it with SHA-256).
    public func sign(_ data: some Sequence<UInt8>, algorithm: SignatureAlgorithm) throws(CryptoError) -> [UInt8] {
        let message = Array(data)
        guard let context = EVP_MD_CTX_new() else { throw CryptoError(operation: "EVP_MD_CTX_new") }
        defer { EVP_MD_CTX_free(context) }
        var keyContext: OpaquePointer?
        guard EVP_DigestSignInit(context, &keyContext, EVP_sha256(), nil, raw) == 1 else {
            throw CryptoError(operation: "EVP_DigestSignInit")
        }
        if algorithm == .ps256 {
            guard EVP_PKEY_CTX_set_rsa_padding(keyContext, RSA_PKCS1_PSS_PADDING) == 1,
                EVP_PKEY_CTX_set_rsa_pss_saltlen(keyContext, RSA_PSS_SALTLEN_DIGEST) == 1
            else { throw CryptoError(operation: "setting PSS padding") }
        }
        var length = 0
        guard message.withUnsafeBufferPointer({ EVP_DigestSign(context, nil, &length, $0.baseAddress, $0.count) }) == 1
        else {
            throw CryptoError(operation: "EVP_DigestSign")
        }
        var signature = [UInt8](repeating: 0, count: length)
        guard
            message.withUnsafeBufferPointer({ EVP_DigestSign(context, &signature, &length, $0.baseAddress, $0.count) })
                == 1
        else { throw CryptoError(operation: "EVP_DigestSign") }
        return Array(signature.prefix(length))
    }
}

/// An RSA public key. Sendable: immutable.
public final class PublicKey: @unchecked Sendable {
    let raw: OpaquePointer

    init(raw: OpaquePointer) { self.raw = raw }
    deinit { EVP_PKEY_free(raw) }

    /// Reads `BEGIN PUBLIC KEY` PEM (SubjectPublicKeyInfo).
    public convenience init(pem: String) throws(CryptoError) {
        let bio = try MemoryBIO(bytes: Array(pem.utf8))
        guard let key = PEM_read_bio_PUBKEY(bio.raw, nil, nil, nil) else {
            throw CryptoError(operation: "reading the public key")
        }
        self.init(raw: key)
    }

    public var pem: String {
        get throws(CryptoError) {
            let bio = try MemoryBIO()
            guard PEM_write_bio_PUBKEY(bio.raw, raw) == 1 else {
                throw CryptoError(operation: "writing the public key")
            }
            return bio.string
        }
    }

    /// Key size in bits.
    public var bits: Int { Int(EVP_PKEY_get_bits(raw)) }

    /// The RSA modulus and public exponent, big-endian without leading zeros: what a JSON Web Key's `n`
    /// and `e` carry (RFC 7518 §6.3.1).
    public var rsaComponents: (modulus: [UInt8], exponent: [UInt8]) {
        get throws(CryptoError) {
            func parameter(_ name: String) throws(CryptoError) -> [UInt8] {
                var number: OpaquePointer?
                guard EVP_PKEY_get_bn_param(raw, name, &number) == 1, let number else {
                    throw CryptoError(operation: "reading the RSA key's \(name)")
                }
                defer { BN_free(number) }
                var bytes = [UInt8](repeating: 0, count: (Int(BN_num_bits(number)) + 7) / 8)
                _ = BN_bn2bin(number, &bytes)
                return bytes
            }
            return (try parameter("n"), try parameter("e"))
        }
    }

    /// Whether `signature` is a valid signature of `data` under this key.
    public func verify(
        _ signature: some Sequence<UInt8>, of data: some Sequence<UInt8>, algorithm: SignatureAlgorithm
    ) -> Bool {
        let message = Array(data)
        let signatureBytes = Array(signature)
        guard let context = EVP_MD_CTX_new() else { return false }
        defer {
            EVP_MD_CTX_free(context)
            ERR_clear_error()  // a failed verification leaves reasons we do not report
        }
        var keyContext: OpaquePointer?
        guard EVP_DigestVerifyInit(context, &keyContext, EVP_sha256(), nil, raw) == 1 else { return false }
        if algorithm == .ps256 {
            guard EVP_PKEY_CTX_set_rsa_padding(keyContext, RSA_PKCS1_PSS_PADDING) == 1,
                EVP_PKEY_CTX_set_rsa_pss_saltlen(keyContext, RSA_PSS_SALTLEN_DIGEST) == 1
            else { return false }
        }
        return signatureBytes.withUnsafeBufferPointer { sig in
            message.withUnsafeBufferPointer { msg in
                EVP_DigestVerify(context, sig.baseAddress, sig.count, msg.baseAddress, msg.count) == 1
            }
        }
    }
}
