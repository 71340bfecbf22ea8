import Crypto
import Foundation

/// What a technician does on a PBX's Microsoft 365 page, which the XAPI has no call for — served under
/// `/_sim/pbx/{pbx}/m365/…` so that tests, the demo and the benchmark can play the technician — and the
/// PBX's state as the chaos run checks it.
extension PBXService {
    /// "Generate New Key Pair": a new RSA key and self-signed certificate, replacing the previous pair.
    func generateKeyPair(_ pbx: SimPBX) -> SimResponse {
        guard let key = try? keyPairs.take(),
            let certificate = try? Certificate.issue(
                Certificate.Options(commonName: "\(pbx.name).pbx.example.com", validFor: 3650), for: key),
            let thumbprint = try? certificate.sha1Thumbprint, let pem = try? certificate.pem
        else { return .json(500, #"{"error":"the key pair could not be generated"}"#) }
        settings.withLock { $0[pbx.name, default: PBXSettings()].custody.keyPair = (key, certificate) }
        return .json(
            200,
            JSONValue.object([
                "certificate_pem": .string(pem), "thumbprint": .string(Self.hex(thumbprint)),
            ]).text)
    }

    /// The certificate of the PBX's key pair, as the page's download gives it.
    func certificate(_ pbx: SimPBX) -> SimResponse {
        guard let pem = try? read(pbx).custody.keyPair?.certificate.pem else {
            return .json(404, #"{"error":"no key pair has been generated on this PBX"}"#)
        }
        return SimResponse(
            status: 200, headers: [("Content-Type", "application/x-pem-file")], body: Array(pem.utf8))
    }

    /// The client secret pasted into the page (the body, as text; surrounding whitespace is not part of it).
    func pasteSecret(_ pbx: SimPBX, _ body: [UInt8]) -> SimResponse {
        let secret = String(decoding: body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !secret.isEmpty else { return .json(400, #"{"error":"the body must be the client secret"}"#) }
        settings.withLock { $0[pbx.name, default: PBXSettings()].custody.secret = secret }
        return SimResponse(status: 204)
    }

    /// "Log into Microsoft 365": the customer's administrator signs in and consents in a browser, which
    /// Entra refuses as it would: ids not set, a tenant not theirs, an app not there (or not replicated
    /// yet), the PBX's callback not among the app's redirect URIs, no admin consent.
    func signIn(_ pbx: SimPBX, host: String) -> SimResponse {
        let current = read(pbx)
        let (tenantText, appText) = (current.tenantID, current.applicationID)
        guard !tenantText.isEmpty else {
            return EntraErrors.response(
                400, "invalid_request", 900023,
                "Specified tenant identifier '' is neither a valid DNS name, nor a valid external domain.")
        }
        guard !appText.isEmpty else {
            return EntraErrors.response(
                400, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'.")
        }
        let callback = "/pbx/\(pbx.name)/api/microsoft365/callback"
        let refusal: SimResponse? = directory.withWorld { world in
            guard let tenantID = UUID(uuidString: tenantText), let tenant = world.tenants[tenantID] else {
                return EntraErrors.response(
                    400, "invalid_tenant", 90002,
                    "Tenant '\(tenantText)' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
                )
            }
            guard tenantID == pbx.tenantID, let home = world.tenants[pbx.tenantID] else {
                return EntraErrors.response(
                    400, "invalid_request", 50020,
                    "User account 'admin@\(world.tenants[pbx.tenantID]?.defaultDomain ?? "customer")' from identity provider 'https://sts.windows.net/\(pbx.tenantID.uuidString.lowercased())/' does not exist in tenant '\(tenant.displayName)' and cannot access the application '\(appText)' in that tenant."
                )
            }
            guard let appID = UUID(uuidString: appText), let app = home.application(appID: appID),
                faults.visible(app.createdDateTime)
            else {
                return EntraErrors.response(
                    400, "unauthorized_client", 700016,
                    "Application with identifier '\(appText)' was not found in the directory '\(home.displayName)'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant."
                )
            }
            let redirects = app.properties["web"]?["redirectUris"]?.array?.compactMap(\.string) ?? []
            guard redirects.contains(where: { $0.hasSuffix(callback) }) else {
                return EntraErrors.response(
                    400, "invalid_request", 50011,
                    "The redirect URI '\(scheme())://\(host)\(callback)' specified in the request does not match the redirect URIs configured for the application '\(appText)'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal."
                )
            }
            guard !home.roles(appID: appID).isEmpty else {
                return EntraErrors.response(
                    400, "consent_required", 65001,
                    "The user or administrator has not consented to use the application with ID '\(appText)' named '\(app.displayName)'. Send an interactive authorization request for this user and resource."
                )
            }
            return nil
        }
        if let refusal { return refusal }
        settings.withLock {
            $0[pbx.name, default: PBXSettings()].custody.signedIn = PBXCustody.SignIn(
                tenantID: tenantText, applicationID: appText)
        }
        return SimResponse(status: 204)
    }

    /// `GET /_sim/pbx/{pbx}`: what the PBX holds, as what it matches — never the secret or the key.
    func state(_ pbx: SimPBX) -> JSONValue {
        let current = read(pbx)
        let secretHash = current.custody.secret.flatMap { try? Digest.sha256(Array($0.utf8)) }
        let thumbprint = current.custody.keyPair.flatMap { try? $0.certificate.sha1Thumbprint }
        let (secretKeyID, certificateOnApp): (UUID?, Bool) = directory.withWorld { world in
            guard let appID = UUID(uuidString: current.applicationID),
                let app = world.tenants[pbx.tenantID]?.application(appID: appID)
            else { return (nil, false) }
            let password = secretHash.flatMap { hash in app.passwords.first { $0.secretHash == hash } }
            let onApp = thumbprint.map { thumbprint in app.keys.contains { $0.sha1Thumbprint == thumbprint } }
            return (password?.keyID, onApp ?? false)
        }
        return .object([
            "name": .string(pbx.name), "tenant_id": .string(current.tenantID),
            "application_id": .string(current.applicationID), "secret_held": .bool(current.custody.secret != nil),
            "secret_key_id": secretKeyID.map { .string($0.uuidString.lowercased()) } ?? .null,
            "certificate_thumbprint": thumbprint.map { .string(Self.hex($0)) } ?? .null,
            "certificate_on_app": .bool(certificateOnApp), "signed_in": .bool(current.signedIn),
        ])
    }

    /// A thumbprint as the portal and the certificate stores show it: upper-case hex.
    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02X", $0) }.joined() }
}
