import Crypto
import Foundation

/// A throwaway certificate authority and a `localhost` server certificate it signed, written to a
/// temporary folder, for the TLS tests.
public struct TestCA: Sendable {
    public let ca: Certificate
    public let serverCertificate: Certificate
    public let serverKey: PrivateKey
    /// PEM files: the CA (what a client trusts), the server's certificate and key.
    public let caPath: String
    public let certificatePath: String
    public let keyPath: String

    public init() throws {
        let caKey = try PrivateKey.generateRSA(bits: 2048)
        var caOptions = Certificate.Options(commonName: "Onboarder test CA")
        caOptions.isCertificateAuthority = true
        ca = try Certificate.issue(caOptions, for: caKey)
        serverKey = try PrivateKey.generateRSA(bits: 2048)
        var options = Certificate.Options(commonName: "localhost", validFor: 2)
        options.subjectAlternativeNames = ["localhost", "127.0.0.1"]
        serverCertificate = try Certificate.issue(options, for: serverKey, issuer: (ca, caKey))
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        caPath = directory.appendingPathComponent("ca.pem").path
        certificatePath = directory.appendingPathComponent("server.pem").path
        keyPath = directory.appendingPathComponent("server.key").path
        try ca.pem.write(toFile: caPath, atomically: true, encoding: .utf8)
        try serverCertificate.pem.write(toFile: certificatePath, atomically: true, encoding: .utf8)
        try serverKey.pem().write(toFile: keyPath, atomically: true, encoding: .utf8)
    }
}
