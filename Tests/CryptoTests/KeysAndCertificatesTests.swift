import Crypto
import Foundation
import TestSupport
import Testing

/// Writes `text` to a temporary file and returns its path.
func temporaryFile(_ text: String) throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("crypto-\(UUID().uuidString)").path
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

func temporaryFile(_ bytes: [UInt8]) throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("crypto-\(UUID().uuidString)").path
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    return path
}

/// One key for the suite: RSA generation takes a while.
let sharedKey = try! PrivateKey.generateRSA(bits: 2048)

@Suite("Keys, certificates and signatures, cross-checked with the openssl tool")
struct KeysAndCertificatesTests {
    @Test func generatedKeyPEMIsReadByOpenSSLAndRoundTrips() async throws {
        let pem = try sharedKey.pem()
        #expect(pem.hasPrefix("-----BEGIN PRIVATE KEY-----"))  // PKCS#8
        let path = try temporaryFile(pem)
        let (status, output) = try await runCommand(["openssl", "pkey", "-in", path, "-noout", "-text_pub"])
        #expect(status == 0)
        #expect(output.contains("2048 bit"))
        // And back: the same public key.
        #expect(try PrivateKey(pem: pem).publicKey.pem == sharedKey.publicKey.pem)
        #expect(try sharedKey.publicKey.bits == 2048)
    }

    @Test func encryptedPEMNeedsItsPassphrase() async throws {
        let pem = try sharedKey.pem(passphrase: "correct horse")
        #expect(pem.contains("ENCRYPTED PRIVATE KEY"))
        #expect(try PrivateKey(pem: pem, passphrase: "correct horse").publicKey.pem == sharedKey.publicKey.pem)
        #expect(throws: CryptoError.self) { try PrivateKey(pem: pem, passphrase: "wrong") }
        #expect(throws: CryptoError.self) { try PrivateKey(pem: pem) }
        let path = try temporaryFile(pem)
        let (status, _) = try await runCommand([
            "openssl", "pkey", "-in", path, "-passin", "pass:correct horse", "-noout",
        ])
        #expect(status == 0)
    }

    @Test func selfSignedCertificateParsesInOpenSSLWithMatchingThumbprints() async throws {
        var options = Certificate.Options(commonName: "bvoip PBX Zürich", validFor: 730)
        options.subjectAlternativeNames = ["localhost", "127.0.0.1"]
        let certificate = try Certificate.issue(options, for: sharedKey)
        let path = try temporaryFile(try certificate.pem)
        let (status, output) = try await runCommand([
            "openssl", "x509", "-in", path, "-noout", "-subject", "-fingerprint", "-sha1", "-ext", "subjectAltName",
            "-nameopt", "utf8",
        ])
        #expect(status == 0)
        #expect(output.contains("CN=bvoip PBX Zürich"))
        let fingerprint = try certificate.sha1Thumbprint.map { String(format: "%02X", $0) }.joined(separator: ":")
        #expect(output.lowercased().contains("sha1 fingerprint=\(fingerprint.lowercased())"))
        #expect(output.contains("DNS:localhost") && output.contains("IP Address:127.0.0.1"))
        let (_, sha256) = try await runCommand(["openssl", "x509", "-in", path, "-noout", "-fingerprint", "-sha256"])
        #expect(
            sha256.contains(try certificate.sha256Thumbprint.map { String(format: "%02X", $0) }.joined(separator: ":")))
        // DER round trip, validity, name.
        let reread = try Certificate(der: try certificate.der)
        #expect(try reread.sha1Thumbprint == certificate.sha1Thumbprint)
        #expect(reread.commonName == "bvoip PBX Zürich")
        #expect(abs(reread.notAfter.timeIntervalSinceNow - 730 * 86_400) < 600)
        #expect(try reread.publicKey.pem == sharedKey.publicKey.pem)
    }

    @Test func certificateSignedByATestCAVerifiesAgainstIt() async throws {
        var caOptions = Certificate.Options(commonName: "Onboarder Test CA")
        caOptions.isCertificateAuthority = true
        let ca = try Certificate.issue(caOptions, for: sharedKey)
        let serverKey = try PrivateKey.generateRSA(bits: 2048)
        var serverOptions = Certificate.Options(commonName: "localhost", validFor: 30)
        serverOptions.subjectAlternativeNames = ["localhost", "127.0.0.1"]
        let server = try Certificate.issue(serverOptions, for: serverKey, issuer: (ca, sharedKey))
        let caPath = try temporaryFile(try ca.pem)
        let serverPath = try temporaryFile(try server.pem)
        let (good, goodOutput) = try await runCommand(["openssl", "verify", "-CAfile", caPath, serverPath])
        #expect(good == 0, "\(goodOutput)")
        let otherCA = try Certificate.issue(caOptions, for: serverKey)
        let (bad, _) = try await runCommand([
            "openssl", "verify", "-CAfile", try temporaryFile(try otherCA.pem), serverPath,
        ])
        #expect(bad != 0)
    }

    @Test(arguments: [SignatureAlgorithm.rs256, .ps256])
    func signaturesVerifyWithOpenSSL(algorithm: SignatureAlgorithm) async throws {
        let message = Array("header.payload \(UUID())".utf8)
        let signature = try sharedKey.sign(message, algorithm: algorithm)
        #expect(signature.count == 256)
        #expect(try sharedKey.publicKey.verify(signature, of: message, algorithm: algorithm))
        #expect(try !sharedKey.publicKey.verify(signature, of: message + [0], algorithm: algorithm))
        let other: SignatureAlgorithm = algorithm == .rs256 ? .ps256 : .rs256
        #expect(try !sharedKey.publicKey.verify(signature, of: message, algorithm: other))
        var arguments = [
            "openssl", "dgst", "-sha256", "-verify", try temporaryFile(try sharedKey.publicKey.pem),
            "-signature", try temporaryFile(signature),
        ]
        if algorithm == .ps256 { arguments += ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32"] }
        let (status, output) = try await runCommand(arguments + [try temporaryFile(message)])
        #expect(status == 0 && output.contains("Verified OK"), "\(output)")
    }
}

@Suite("JWT")
struct JWTTests {
    struct Claims: Codable, Equatable {
        var aud: String
        var iss: String
        var sub: String
        var jti: String
        var nbf: Int
        var exp: Int
    }

    @Test(arguments: [SignatureAlgorithm.rs256, .ps256])
    func assertionSignsVerifiesAndNamesTheCertificate(algorithm: SignatureAlgorithm) throws {
        let certificate = try Certificate.issue(.init(commonName: "partner app"), for: sharedKey)
        let now = Int(Date().timeIntervalSince1970)
        let claims = Claims(
            aud: "https://login.microsoftonline.com/t/oauth2/v2.0/token", iss: "client", sub: "client",
            jti: UUID().uuidString, nbf: now, exp: now + 600)
        let token = try JWT.sign(
            claims: claims, header: try JWT.Header(alg: algorithm, certificate: certificate), key: sharedKey)
        #expect(!token.contains("="))  // base64url without padding
        let (header, decoded) = try JWT.verify(token, key: try certificate.publicKey, as: Claims.self)
        #expect(decoded == claims)
        #expect(header.alg == algorithm)
        switch algorithm {
        case .ps256: #expect(header.x5tS256 == Base64URL.encode(try certificate.sha256Thumbprint) && header.x5t == nil)
        case .rs256: #expect(header.x5t == Base64URL.encode(try certificate.sha1Thumbprint) && header.x5tS256 == nil)
        }
        // Another key's signature is refused; so is a tampered payload.
        let stranger = try PrivateKey.generateRSA(bits: 2048)
        let forged = try JWT.sign(claims: claims, header: JWT.Header(alg: algorithm), key: stranger)
        #expect(throws: JWT.Error.self) { try JWT.verify(forged, key: try certificate.publicKey, as: Claims.self) }
        var parts = token.split(separator: ".").map(String.init)
        parts[1] = Base64URL.encode(
            Array(#"{"aud":"x","iss":"evil","sub":"evil","jti":"j","nbf":0,"exp":9999999999}"#.utf8))
        #expect(throws: JWT.Error.self) {
            try JWT.verify(parts.joined(separator: "."), key: try certificate.publicKey, as: Claims.self)
        }
    }

    @Test func pythonCryptographyVerifiesOurPS256() async throws {
        // An independent implementation: the cryptography package checks the PSS signature.
        let token = try JWT.sign(claims: ["hello": "world"], header: JWT.Header(alg: .ps256), key: sharedKey)
        let script = """
            import base64, sys
            from cryptography.hazmat.primitives import hashes, serialization
            from cryptography.hazmat.primitives.asymmetric import padding
            key = serialization.load_pem_public_key(open(sys.argv[1], 'rb').read())
            h, p, s = sys.argv[2].split('.')
            sig = base64.urlsafe_b64decode(s + '=' * (-len(s) % 4))
            key.verify(sig, f'{h}.{p}'.encode(), padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())
            print('verified')
            """
        let (status, output) = try await runCommand([
            "python3", "-c", script, try temporaryFile(try sharedKey.publicKey.pem), token,
        ])
        #expect(status == 0 && output.contains("verified"), "\(output)")
    }
}

@Suite("AES-256-GCM sealing")
struct AESGCMTests {
    @Test func sealOpenAndRefuseTamperingWrongKeyOrContext() throws {
        let key = try EncryptionKey.generate(id: "k2026")
        let secret = Array("client secret ~Zq8Q~abc".utf8)
        let sealed = try AESGCM.seal(secret, key: key, context: "tenant 42/client_secret")
        #expect(sealed.hasPrefix("og1.k2026."))
        #expect(!sealed.contains("client secret"))
        #expect(AESGCM.keyID(of: sealed) == "k2026")
        #expect(try AESGCM.open(sealed, keys: [key], context: "tenant 42/client_secret") == secret)
        // Fresh nonce each time.
        #expect(try AESGCM.seal(secret, key: key, context: "c") != AESGCM.seal(secret, key: key, context: "c"))
        // Another row's context, another key, a flipped bit, a relabelled key id: all refused.
        #expect(throws: CryptoError.self) { try AESGCM.open(sealed, keys: [key], context: "tenant 43/client_secret") }
        #expect(throws: CryptoError.self) {
            try AESGCM.open(
                sealed, keys: [try EncryptionKey(id: "k2026", bytes: SecureRandom.bytes(32))],
                context: "tenant 42/client_secret")
        }
        var blob = Base64URL.decode(String(sealed.split(separator: ".")[2]))!
        blob[20] ^= 1
        #expect(throws: CryptoError.self) {
            try AESGCM.open("og1.k2026.\(Base64URL.encode(blob))", keys: [key], context: "tenant 42/client_secret")
        }
        let other = try EncryptionKey(id: "k2027", bytes: key.bytesForTestsOnly)
        #expect(throws: CryptoError.self) {
            try AESGCM.open(
                sealed.replacingOccurrences(of: "og1.k2026.", with: "og1.k2027."), keys: [other],
                context: "tenant 42/client_secret")
        }
        #expect("\(key)" == "EncryptionKey(k2026, <redacted>)")
        // Empty plaintext works too.
        #expect(try AESGCM.open(AESGCM.seal([], key: key), keys: [key]) == [])
    }

    @Test func pythonCryptographyOpensOurCiphertext() async throws {
        let key = try EncryptionKey.generate(id: "kx")
        let sealed = try AESGCM.seal(Array("interop ✓".utf8), key: key, context: "ctx")
        let script = """
            import base64, sys
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM
            _, kid, b = sys.argv[2].split('.')
            blob = base64.urlsafe_b64decode(b + '=' * (-len(b) % 4))
            key = base64.b64decode(sys.argv[1])
            print(AESGCM(key).decrypt(blob[:12], blob[12:], f'og1.{kid}.ctx'.encode()).decode())
            """
        let (status, output) = try await runCommand([
            "python3", "-c", script, Data(key.bytesForTestsOnly).base64EncodedString(), sealed,
        ])
        #expect(status == 0 && output.contains("interop ✓"), "\(output)")
    }
}

@Suite("Shared-prime RSA keys (the simulated PBXs' key pairs)")
struct SharedPrimeRSATests {
    /// Each key a distinct, consistent RSA-2048 key: openssl's `pkey -check` verifies n = pq, d, and the CRT
    /// parameters; a signature verifies under its own key and no other. Four keys take three primes.
    @Test func everyKeyIsADistinctValidRSA2048Key() async throws {
        let supply = SharedPrimeRSA()
        let keys = try (0..<4).map { _ in try supply.take() }
        let publicKeys = try keys.map { try $0.publicKey }
        #expect(Set(try publicKeys.map { try $0.rsaComponents.modulus }).count == 4)
        let message = Array("a PBX signs in".utf8)
        for (index, key) in keys.enumerated() {
            #expect(publicKeys[index].bits == 2048)
            #expect(try publicKeys[index].rsaComponents.exponent == [0x01, 0x00, 0x01])
            let path = try temporaryFile(try key.pem())
            let (status, output) = try await runCommand(["openssl", "pkey", "-in", path, "-check", "-noout"])
            #expect(status == 0 && output.contains("Key is valid"), "key \(index): \(output)")
            let signature = try key.sign(message, algorithm: .rs256)
            #expect(publicKeys[index].verify(signature, of: message, algorithm: .rs256))
            #expect(!publicKeys[(index + 1) % keys.count].verify(signature, of: message, algorithm: .rs256))
        }
    }
}
