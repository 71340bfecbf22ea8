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

    /// Primes made ahead are used first, in order — three primes, three keys, each a valid key made of the two the
    /// pairing names — and a search takes over when they run out.
    @Test func primesMadeAheadMakeTheFirstKeys() async throws {
        let listed = try madeAheadPrimes(3)
        let supply = SharedPrimeRSA(madeAhead: listed)
        for pair in [(1, 0), (2, 0), (2, 1)] {
            let pem = try supply.take().pem()
            #expect(try await rsaPrimes(ofKeyPEM: pem) == [listed[pair.0], listed[pair.1]])
            let (status, output) = try await runCommand([
                "openssl", "pkey", "-in", try temporaryFile(pem), "-check", "-noout",
            ])
            #expect(status == 0 && output.contains("Key is valid"), "\(output)")
        }
        let searched = try await rsaPrimes(ofKeyPEM: try supply.take().pem())
        #expect(searched.count == 2 && searched.contains(listed[0]) && searched.isDisjoint(with: listed[1...]))
    }

    /// A listed number that is not a usable prime fails the key that needs it, naming which one: a damaged list
    /// is an error, never a weak key.
    @Test func aDamagedPrimeMadeAheadIsRefused() throws {
        let listed = try madeAheadPrimes(1)
        let damaged = [
            // 2¹⁰²⁴ − 1: 1,024 bits, the top two set, odd, and divisible by 3.
            "composite": String(repeating: "F", count: 256),
            // A 512-bit prime (made with Python's Miller-Rabin for this test): prime, but half the size.
            "short": "C4F59A805D490E886F18C1FF879CB2E357FBBAB86BB3E5996877B570302AC24FDBEE697B510A615CF78B83D16DC88C9B"
                + "8210199A7280A27CDE744DCABB46F6A7",
            // A 1,024-bit prime p with p ≡ 1 (mod 65537): e = 65537 has no inverse modulo p − 1.
            "p - 1 shares e":
                "C00000000000000000000000000390C52391667C685BA3D0ECD84A63B6D3D737FBDF86070F12357554C029061D71769C"
                + "BFA8C39ED65D7D5AB95AACF35A7187CEACC2F7B3D0DD37D846766C6D134E99A72D8EF5FB2795E211002A7141195B626A"
                + "DA631AAF41BE3B8F8C2D26744AF409638C214DAC33D5FFDF408BA0CB0C777991",
            "not hexadecimal": "0x" + listed[0],
        ]
        for (name, number) in damaged {
            let supply = SharedPrimeRSA(madeAhead: [listed[0], number])
            do {
                _ = try supply.take()
                Issue.record("\(name): a key was made of it")
            } catch {
                #expect(error.operation.contains("number 2"), "\(name): \(error)")
            }
        }
    }

    /// The simulator's vendored primes, read from the repository (the tests run from its root).
    private func madeAheadPrimes(_ count: Int) throws -> [String] {
        let text = try String(contentsOfFile: "Sources/Simulator/Resources/pbx-primes.txt", encoding: .utf8)
        return Array(text.split(separator: "\n").filter { !$0.hasPrefix("#") }.prefix(count).map(String.init))
    }
}
