import COpenSSL
import COpenSSLShims
import Foundation

/// An X.509 certificate (`X509`). Sendable: immutable after creation.
public final class Certificate: @unchecked Sendable {
    /// `package`: the simulator's TLS server (SimTLS) loads it into its context.
    package let raw: OpaquePointer

    private init(raw: OpaquePointer) { self.raw = raw }
    deinit { X509_free(raw) }

    /// What to put in a new certificate.
    public struct Options: Sendable {
        public var commonName: String
        /// DNS names and IP addresses (`localhost`, `127.0.0.1`) for a TLS server certificate.
        public var subjectAlternativeNames: [String] = []
        public var notBefore: Date = Date(timeIntervalSinceNow: -300)  // tolerate small clock skew
        public var notAfter: Date
        /// May sign other certificates (a test CA).
        public var isCertificateAuthority = false

        public init(commonName: String, validFor days: Int = 730) {
            self.commonName = commonName
            self.notAfter = Date(timeIntervalSinceNow: TimeInterval(days) * 86_400)
        }
    }

    /// A certificate for `key`, signed with SHA-256 by `issuer` (its certificate and key), or self-signed.
    public static func issue(
        _ options: Options, for key: PrivateKey, issuer: (certificate: Certificate, key: PrivateKey)? = nil
    ) throws(CryptoError) -> Certificate {
        guard let x509 = X509_new() else { throw CryptoError(operation: "X509_new") }
        let certificate = Certificate(raw: x509)
        guard X509_set_version(x509, 2) == 1 else { throw CryptoError(operation: "X509_set_version") }
        // A random positive 63-bit serial: unique enough, and RFC 5280's 20-octet limit is far away.
        let serial = try SecureRandom.bytes(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) } & 0x7fff_ffff_ffff_ffff
        guard ASN1_INTEGER_set_uint64(X509_get_serialNumber(x509), serial) == 1,
            ASN1_TIME_set(X509_getm_notBefore(x509), time_t(options.notBefore.timeIntervalSince1970)) != nil,
            ASN1_TIME_set(X509_getm_notAfter(x509), time_t(options.notAfter.timeIntervalSince1970)) != nil,
            X509_set_pubkey(x509, key.raw) == 1
        else { throw CryptoError(operation: "filling in the certificate") }
        let name = X509_get_subject_name(x509)
        guard X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, options.commonName, -1, -1, 0) == 1 else {
            throw CryptoError(operation: "setting the subject")
        }
        guard X509_set_issuer_name(x509, issuer.map { X509_get_subject_name($0.certificate.raw) } ?? name) == 1 else {
            throw CryptoError(operation: "setting the issuer")
        }
        var extensions = [
            (NID_basic_constraints, options.isCertificateAuthority ? "critical,CA:TRUE" : "critical,CA:FALSE")
        ]
        extensions.append(
            (
                NID_key_usage,
                options.isCertificateAuthority
                    ? "critical,keyCertSign,cRLSign,digitalSignature" : "critical,digitalSignature,keyEncipherment"
            ))
        if !options.subjectAlternativeNames.isEmpty {
            let names = options.subjectAlternativeNames.map { name in
                name.allSatisfy({ $0.isNumber || $0 == "." || $0 == ":" }) ? "IP:\(name)" : "DNS:\(name)"
            }
            extensions.append((NID_subject_alt_name, names.joined(separator: ",")))
            extensions.append((NID_ext_key_usage, "serverAuth,clientAuth"))
        }
        extensions.append((NID_subject_key_identifier, "hash"))
        var context = X509V3_CTX()
        X509V3_set_ctx(&context, issuer?.certificate.raw ?? x509, x509, nil, nil, 0)
        for (nid, value) in extensions {
            guard let ext = X509V3_EXT_conf_nid(nil, &context, nid, value) else {
                throw CryptoError(operation: "adding extension \(nid)")
            }
            defer { X509_EXTENSION_free(ext) }
            guard X509_add_ext(x509, ext, -1) == 1 else { throw CryptoError(operation: "adding extension \(nid)") }
        }
        guard X509_sign(x509, (issuer?.key ?? key).raw, EVP_sha256()) > 0 else {
            throw CryptoError(operation: "X509_sign")
        }
        return certificate
    }

    /// Reads a `BEGIN CERTIFICATE` PEM.
    public convenience init(pem: String) throws(CryptoError) {
        let bio = try MemoryBIO(bytes: Array(pem.utf8))
        guard let x509 = PEM_read_bio_X509(bio.raw, nil, nil, nil) else {
            throw CryptoError(operation: "reading the PEM certificate")
        }
        self.init(raw: x509)
    }

    /// Reads DER (what Entra's `keyCredentials[].key` carries, base64-encoded).
    public convenience init(der: [UInt8]) throws(CryptoError) {
        let x509: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var pointer: UnsafePointer<UInt8>? = buffer.baseAddress
            return d2i_X509(nil, &pointer, buffer.count)
        }
        guard let x509 else { throw CryptoError(operation: "reading the DER certificate") }
        self.init(raw: x509)
    }

    public var der: [UInt8] {
        get throws(CryptoError) {
            let length = i2d_X509(raw, nil)
            guard length > 0 else { throw CryptoError(operation: "i2d_X509") }
            var bytes = [UInt8](repeating: 0, count: Int(length))
            let written = bytes.withUnsafeMutableBufferPointer { buffer -> Int32 in
                var pointer: UnsafeMutablePointer<UInt8>? = buffer.baseAddress
                return i2d_X509(raw, &pointer)
            }
            guard written == length else { throw CryptoError(operation: "i2d_X509") }
            return bytes
        }
    }

    public var pem: String {
        get throws(CryptoError) {
            let bio = try MemoryBIO()
            guard PEM_write_bio_X509(bio.raw, raw) == 1 else { throw CryptoError(operation: "PEM_write_bio_X509") }
            return bio.string
        }
    }

    /// SHA-1 of the DER: the `x5t` header and Entra's `customKeyIdentifier` thumbprint.
    public var sha1Thumbprint: [UInt8] { get throws(CryptoError) { try Digest.sha1(der) } }
    /// SHA-256 of the DER: the `x5t#S256` header.
    public var sha256Thumbprint: [UInt8] { get throws(CryptoError) { try Digest.sha256(der) } }

    public var notBefore: Date { Self.date(X509_get0_notBefore(raw)) }
    public var notAfter: Date { Self.date(X509_get0_notAfter(raw)) }

    /// The subject's common name.
    public var commonName: String? {
        let name = X509_get_subject_name(raw)
        let index = X509_NAME_get_index_by_NID(name, NID_commonName, -1)
        guard index >= 0, let entry = X509_NAME_get_entry(name, index), let data = X509_NAME_ENTRY_get_data(entry)
        else {
            return nil
        }
        var utf8: UnsafeMutablePointer<UInt8>?
        let length = ASN1_STRING_to_UTF8(&utf8, data)
        guard length >= 0, let utf8 else { return nil }
        defer { COpenSSLShims_free(utf8) }
        return String(decoding: UnsafeBufferPointer(start: utf8, count: Int(length)), as: UTF8.self)
    }

    public var publicKey: PublicKey {
        get throws(CryptoError) {
            guard let key = X509_get_pubkey(raw) else { throw CryptoError(operation: "X509_get_pubkey") }
            return PublicKey(raw: key)
        }
    }

    private static func date(_ time: UnsafePointer<ASN1_TIME>?) -> Date {
        var parts = tm()
        guard let time, ASN1_TIME_to_tm(time, &parts) == 1 else { return .distantPast }
        return Date(timeIntervalSince1970: TimeInterval(timegm(&parts)))
    }
}
