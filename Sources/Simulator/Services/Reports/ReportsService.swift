import Foundation

/// Microsoft Graph beta's application credential sign-in report,
/// `GET /beta/reports/appCredentialSignInActivities` (`$filter` on `appId` or `keyId`): one
/// `appCredentialSignInActivity` per credential of the tenant's own apps that signed in with client
/// credentials, with its last sign-in. Needs AuditLog.Read.All (or Directory.Read.All) and a tenant with
/// Entra ID P1/P2, refused as Graph refuses each.
struct ReportsService: Sendable {
    static let metadata = "https://graph.microsoft.com/beta/$metadata#"

    var routes: [Route<GraphCall>] {
        [Route("GET", "/beta/reports/appCredentialSignInActivities") { call in Self.credentialSignIns(call) }]
    }

    /// `$filter` as the report takes it: `appId eq '…'` or `keyId eq '…'` (nil: everything).
    enum Filter: Equatable {
        case appID(UUID)
        case keyID(UUID)

        /// nil when `text` is not a filter the report accepts.
        static func parse(_ text: String) -> Filter? {
            guard
                let match = text.trimmingCharacters(in: .whitespaces).wholeMatch(
                    of: /(appId|keyId)\s+eq\s+'([0-9A-Fa-f-]{36})'/)
            else { return nil }
            guard let id = UUID(uuidString: String(match.output.2)) else { return nil }
            return match.output.1 == "appId" ? .appID(id) : .keyID(id)
        }

        func admits(_ signIn: CredentialSignIn) -> Bool {
            switch self {
            case .appID(let id): signIn.appID == id
            case .keyID(let id): signIn.keyID == id
            }
        }
    }

    private static func credentialSignIns(_ call: GraphCall) -> SimResponse {
        if let denied = call.require(["AuditLog.Read.All", "Directory.Read.All"]) { return denied }
        guard call.tenant.entraIDPremium else {
            return call.error(
                403, "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
                "Neither tenant is B2C or tenant doesn't have premium license")
        }
        var filter: Filter?
        if let text = call.request.query["$filter"] {
            guard let parsed = Filter.parse(text) else { return call.error(400, "BadRequest", "Invalid filter clause") }
            filter = parsed
        }
        let items = call.tenant.credentialSignIns.values
            .filter { filter?.admits($0) ?? true }
            .sorted { $0.lastSignIn > $1.lastSignIn }
            .map(representation)
        return .json(
            200,
            JSONValue.object([
                "@odata.context": .string(metadata + "reports/appCredentialSignInActivities"),
                "value": .array(items),
            ]).text)
    }

    /// An `appCredentialSignInActivity`. Its `id` is the keyId and the credential's origin, base64, as
    /// Graph's are; a certificate is used to verify the client's assertion, a secret to sign in.
    static func representation(_ signIn: CredentialSignIn) -> JSONValue {
        let keyID = signIn.keyID.uuidString.lowercased()
        let lastSignIn = JSONValue.string(Timestamp.string(signIn.lastSignIn))
        let requestID = JSONValue.string(signIn.lastRequestID.uuidString.lowercased())
        return .object([
            "id": .string(Data("\(keyID)|application".utf8).base64EncodedString()),
            "keyId": .string(keyID), "keyType": .string(signIn.keyType.rawValue),
            "keyUsage": .string(signIn.keyType == .certificate ? "verify" : "sign"),
            "appId": .string(signIn.appID.uuidString.lowercased()),
            "appObjectId": .string(signIn.appObjectID.uuidString.lowercased()),
            "servicePrincipalObjectId": signIn.servicePrincipalID.map { .string($0.uuidString.lowercased()) } ?? .null,
            "resourceId": .string(signIn.resourceID.uuidString.lowercased()),
            "credentialOrigin": .string("application"),
            "createdDateTime": .string(Timestamp.string(signIn.credentialCreated)),
            "expirationDateTime": .string(Timestamp.string(signIn.credentialExpires)),
            "signInActivity": .object([
                "lastSignInDateTime": lastSignIn, "lastSignInRequestId": requestID,
                "lastNonInteractiveSignInDateTime": lastSignIn, "lastNonInteractiveSignInRequestId": requestID,
                "lastSuccessfulSignInDateTime": lastSignIn, "lastSuccessfulSignInRequestId": requestID,
            ]),
        ])
    }
}
