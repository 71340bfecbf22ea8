import Crypto
import Foundation
import Graph
import Store

/// The certificate's custody, shared by onboarding and rotation: a key pair generated and its key
/// sealed, the app's keyCredentials changed by `CertificatePlan`, a recorded certificate turned back into a
/// credential to prove it.
extension Run {
    /// Generates a key pair and a certificate for the app, and records it `pending` with its key sealed.
    func generateCertificate() async throws {
        // RSA key generation is CPU-bound (about 0.3 s on these machines): off Swift's cooperative pool,
        // so other onboardings' network calls keep moving meanwhile.
        let key = try await Self.generateKey()
        let certificate = try Certificate.issue(
            Certificate.Options(
                commonName: "\(settings.appName) \(tenant)", validFor: settings.certificateLifetimeDays),
            for: key)
        let sealed = try vault.seal(
            try key.pem(), context: SecretVault.context(kind: "certificate", tenantID: job.tenantID))
        try await OnboardingStore.insertCertificate(
            tenant: job.tenantID, job: job.id, state: .pending, source: "generated",
            thumbprint: Self.hex(try certificate.sha1Thumbprint), pem: certificate.pem, sealedKey: sealed,
            displayName: "PBX certificate · onboarder job \(job.id)", expires: certificate.notAfter, on: pool)
    }

    /// Applies a `CertificatePlan`: uploads its list, or stops with `refused` (given the unknown
    /// thumbprints) when the PATCH would remove certificates Onboarder does not hold. True when it uploaded.
    func apply(_ decision: CertificatePlan.Decision, to appObject: String, refused: (String) -> String) async throws
        -> Bool
    {
        switch decision {
        case .unchanged:
            return false
        case .refuse(let unknown):
            throw StepStop.attention(refused(unknown.joined(separator: ", ")))
        case .upload(let keep):
            try await graph().setCertificates(
                applicationID: appObject,
                try keep.map { CertificateUpload(try Certificate(pem: $0.pem), displayName: $0.displayName) })
            return true
        }
    }

    /// The credential of a recorded certificate, when Onboarder holds its key (not the PBX's own).
    func credential(of certificate: StoredCertificate) throws -> ClientCredential? {
        guard let sealedKey = certificate.sealedKey else { return nil }
        let key = try PrivateKey(
            pem: try vault.open(sealedKey, context: SecretVault.context(kind: "certificate", tenantID: job.tenantID)))
        return .certificate(try Certificate(pem: certificate.pem), key, preferred: .ps256)
    }

    static func generateKey() async throws -> PrivateKey {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global(qos: .utility).async {
                continuation.resume(with: Result { try PrivateKey.generateRSA(bits: 2048) })
            }
        }
    }

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02X", $0) }.joined() }
}
