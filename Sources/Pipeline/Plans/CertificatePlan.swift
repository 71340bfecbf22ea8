import Foundation
import Graph
import Store

/// The app's `keyCredentials` after a change. Graph's keyCredentials PATCH replaces the whole list, so
/// adding a certificate or removing one means sending every certificate to keep: the ones Onboarder holds
/// (active or superseded) that are on the app now. A certificate on the app that Onboarder does not hold
/// would be dropped by the PATCH, so the plan refuses instead.
struct CertificatePlan: Equatable {
    enum Decision: Equatable {
        /// The app already shows the change: nothing to send.
        case unchanged
        /// PATCH keyCredentials to exactly these, in this order.
        case upload([StoredCertificate])
        /// Certificates on the app (thumbprints) that Onboarder does not hold and the PATCH would remove.
        case refuse(unknown: [String])
    }

    /// The thumbprints (upper-case hex, as Onboarder records them) of the certificates on the app. A
    /// certificate whose identifier is not a thumbprint cannot be one Onboarder holds: it is named by what
    /// Graph shows of it, so the plan counts it as unknown rather than dropping it from the list it sends.
    static func thumbprints(onApp keys: [GraphKeyCredential]) -> Set<String> {
        Set(
            keys.map { key in
                key.customKeyIdentifier.map { thumbprint(customKeyIdentifier: $0) ?? $0 } ?? "keyId \(key.keyId)"
            })
    }

    /// The SHA-1 thumbprint a `customKeyIdentifier` carries. Graph types it `Edm.Binary`, written as base64 of
    /// the bytes: by default the certificate's 20-byte thumbprint; a tool that set it on upload may have
    /// stored the thumbprint's 40 hex characters as text instead. Anything else is not a thumbprint.
    static func thumbprint(customKeyIdentifier: String) -> String? {
        var base64 = customKeyIdentifier.replacingOccurrences(of: "-", with: "+")
            .replacingOccurrences(of: "_", with: "/")
        if base64.count % 4 != 0 { base64 += String(repeating: "=", count: 4 - base64.count % 4) }
        guard let bytes = Data(base64Encoded: base64).map(Array.init) else { return nil }
        if bytes.count == 20 { return bytes.map { String(format: "%02X", $0) }.joined() }
        let text = String(decoding: bytes, as: UTF8.self)
        if text.count == 40, text.allSatisfy(\.isHexDigit) { return text.uppercased() }
        return nil
    }

    /// The keyCredentials that put `adding` on the app and take `removing` (a thumbprint) off it.
    static func decide(
        onApp: Set<String>, stored: [StoredCertificate], adding: StoredCertificate? = nil, removing: String? = nil
    ) -> Decision {
        let needsAdding = adding.map { !onApp.contains($0.thumbprint) } ?? false
        let needsRemoving = removing.map { onApp.contains($0) } ?? false
        guard needsAdding || needsRemoving else { return .unchanged }
        let held = stored.filter {
            ($0.state == .active || $0.state == .superseded) && $0.thumbprint != removing
        }
        let unknown = onApp.subtracting(held.map(\.thumbprint)).subtracting([removing].compactMap { $0 })
        guard unknown.isEmpty else { return .refuse(unknown: unknown.sorted()) }
        var keep: [StoredCertificate] = []
        for certificate in held.sorted(by: { $0.id < $1.id })
        where onApp.contains(certificate.thumbprint)
            && !keep.contains(where: { $0.thumbprint == certificate.thumbprint })
        {
            keep.append(certificate)
        }
        return .upload(keep + (needsAdding ? [adding!] : []))
    }
}

extension CertificatePlan {
    /// Which certificate the `certificate` step puts on the app.
    enum Choice: Equatable {
        /// An earlier onboarding's, active and on the app: nothing to do.
        case keep(thumbprint: String)
        /// The PBX's supplied certificate, or one generated earlier and not yet uploaded.
        case use(StoredCertificate)
        /// Generate one (`certificate.source = generate`).
        case generate
        /// Wait for the PBX's certificate (`certificate.source = file`, `onboarder cert add`).
        case waitForPBX
    }

    /// The supplied certificate first, else a pending one; else, outside a rotation (which wants a new
    /// certificate whatever is on the app), the active one on the app; else a new one by `generate`.
    static func choose(stored: [StoredCertificate], onApp: Set<String>, rotating: Bool, generate: Bool) -> Choice {
        if let candidate = stored.first(where: { $0.state == .supplied })
            ?? stored.first(where: { $0.state == .pending })
        {
            return .use(candidate)
        }
        if !rotating, let active = stored.first(where: { $0.state == .active && onApp.contains($0.thumbprint) }) {
            return .keep(thumbprint: active.thumbprint)
        }
        return generate ? .generate : .waitForPBX
    }
}
