import Foundation

/// Compact JWS (RFC 7515) signing and verification with RS256 / PS256, enough for Entra client
/// assertions and the simulator's access tokens.
public enum JWT {
    /// The JOSE header. `x5t` / `x5t#S256` carry the certificate's SHA-1 / SHA-256 thumbprint
    /// (base64url), which is how Entra picks the key to verify with.
    public struct Header: Codable, Sendable, Equatable {
        public var alg: SignatureAlgorithm
        public var typ: String? = "JWT"
        public var kid: String?
        public var x5t: String?
        public var x5tS256: String?

        enum CodingKeys: String, CodingKey {
            case alg, typ, kid, x5t
            case x5tS256 = "x5t#S256"
        }

        public init(alg: SignatureAlgorithm, kid: String? = nil, x5t: String? = nil, x5tS256: String? = nil) {
            self.alg = alg
            self.kid = kid
            self.x5t = x5t
            self.x5tS256 = x5tS256
        }

        /// A header naming `certificate` the way Entra expects for `alg`: PS256 with `x5t#S256`, RS256
        /// with `x5t`.
        public init(alg: SignatureAlgorithm, certificate: Certificate) throws(CryptoError) {
            self.init(alg: alg)
            switch alg {
            case .ps256: x5tS256 = Base64URL.encode(try certificate.sha256Thumbprint)
            case .rs256: x5t = Base64URL.encode(try certificate.sha1Thumbprint)
            }
        }
    }

    public struct Error: Swift.Error, Sendable, CustomStringConvertible, Equatable {
        public let description: String
    }

    /// `header.claims.signature`, each part base64url.
    public static func sign(claims: some Encodable, header: Header, key: PrivateKey) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let signingInput =
            Base64URL.encode(try encoder.encode(header)) + "." + Base64URL.encode(try encoder.encode(claims))
        let signature = try key.sign(Array(signingInput.utf8), algorithm: header.alg)
        return signingInput + "." + Base64URL.encode(signature)
    }

    /// Splits a token and decodes its header, without verifying anything.
    public static func decodeHeader(_ token: String) throws -> Header {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let bytes = Base64URL.decode(String(parts[0])) else {
            throw Error(description: "not a compact JWS (header.payload.signature)")
        }
        return try JSONDecoder().decode(Header.self, from: Data(bytes))
    }

    /// Verifies the signature with `key` and decodes the claims. Checking `aud`, `exp` and the rest is
    /// the caller's business: the rules differ between an assertion and an access token.
    public static func verify<Claims: Decodable>(_ token: String, key: PublicKey, as type: Claims.Type) throws -> (
        Header, Claims
    ) {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let claimBytes = Base64URL.decode(String(parts[1])),
            let signature = Base64URL.decode(String(parts[2]))
        else { throw Error(description: "not a compact JWS (header.payload.signature)") }
        let header = try decodeHeader(token)
        let signingInput = Array("\(parts[0]).\(parts[1])".utf8)
        guard key.verify(signature, of: signingInput, algorithm: header.alg) else {
            throw Error(description: "the signature does not verify")
        }
        return (header, try JSONDecoder().decode(Claims.self, from: Data(claimBytes)))
    }
}
