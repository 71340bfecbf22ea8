import Crypto
import Foundation
import HTTP

/// The app registration Onboarder keeps in a customer tenant: the body of the idempotent upsert.
public struct ApplicationRegistration: Encodable, Sendable, Equatable {
    public struct Web: Encodable, Sendable, Equatable {
        public var redirectUris: [String]
    }
    public var displayName: String
    public var signInAudience: String?
    public var web: Web?
    public var requiredResourceAccess: [RequiredResourceAccess]?

    public init(
        displayName: String, signInAudience: String? = nil, redirectURIs: [String]? = nil,
        requiredResourceAccess: [RequiredResourceAccess]? = nil
    ) {
        self.displayName = displayName
        self.signInAudience = signInAudience
        self.web = redirectURIs.map(Web.init(redirectUris:))
        self.requiredResourceAccess = requiredResourceAccess
    }
}

/// `requiredResourceAccess`: the permissions of one resource (Microsoft Graph) the app asks for.
public struct RequiredResourceAccess: Encodable, Sendable, Equatable {
    public struct Access: Encodable, Sendable, Equatable {
        public var id: String
        /// `Role` (application permission) or `Scope` (delegated).
        public var type: String
    }
    public var resourceAppId: String
    public var resourceAccess: [Access]
}

/// What `addPassword` answered: the only time Graph shows the secret.
public struct AddedPassword: Sendable {
    public var keyID: String
    public var secret: String
    /// As Graph wrote it (empty when it wrote none).
    public var end: String
}

/// A certificate for the app's `keyCredentials`, with the name it is listed under.
public struct CertificateUpload: Sendable {
    public var certificate: Certificate
    public var displayName: String

    public init(_ certificate: Certificate, displayName: String) {
        self.certificate = certificate
        self.displayName = displayName
    }
}

/// `/applications`: the app registration, its passwords and its certificates.
extension GraphClient {
    private static func path(uniqueName: String) -> String {
        "/applications(uniqueName='\(uniqueName.replacingOccurrences(of: "'", with: "''"))')"
    }

    /// Creates the application, or updates the one with `uniqueName` (the idempotent upsert: a retried
    /// create after a lost response cannot make a second app). Returns the app as Graph shows it.
    @discardableResult
    public func upsertApplication(
        uniqueName: String, _ registration: ApplicationRegistration, context: FailureContext = FailureContext()
    ) async throws -> GraphApplication {
        let key = Self.path(uniqueName: uniqueName)
        _ = try await sendRaw(
            "PATCH", key, body: registration, headers: [("Prefer", "create-if-missing")], context: context)
        // Read back by the same key: the upsert's answer is 201 or 204 and carries no body on update; the
        // app may be that new that a replica does not know it yet.
        var readContext = context
        readContext.recentlyCreatedObject = true
        return try await send(
            GraphApplication.self, "GET", key, query: [("$select", "id,appId,displayName,uniqueName")],
            context: readContext)
    }

    public func application(id: String, context: FailureContext = FailureContext()) async throws -> GraphApplication {
        try await send(GraphApplication.self, "GET", "/applications/\(id)", context: context)
    }

    /// Every application of the tenant (Onboarder's and others'), page by page.
    public func applications(filter: ODataFilter? = nil, pageSize: Int? = nil) async throws -> [GraphApplication] {
        try await items(GraphApplication.self, "/applications", filter: filter, top: pageSize)
    }

    /// The passwords on the app (never their secrets).
    public func passwords(applicationID: String, context: FailureContext = FailureContext()) async throws
        -> [GraphPasswordCredential]
    {
        try await send(
            GraphApplication.self, "GET", "/applications/\(applicationID)",
            query: [("$select", "id,appId,passwordCredentials")], context: context
        ).passwordCredentials ?? []
    }

    /// The certificates on the app. Graph answers a `$select` with the named properties only, so it names
    /// every property `GraphApplication` requires (`appId` too); this single-object `$select` is also the
    /// one answer where Graph fills each certificate's `key`, which Onboarder does not read.
    public func certificates(applicationID: String, context: FailureContext = FailureContext()) async throws
        -> [GraphKeyCredential]
    {
        try await send(
            GraphApplication.self, "GET", "/applications/\(applicationID)",
            query: [("$select", "id,appId,keyCredentials")], context: context
        ).keyCredentials ?? []
    }

    /// `addPassword`: the response is the only time Graph shows `secretText`.
    public func addPassword(
        applicationID: String, displayName: String, end: Date, context: FailureContext = FailureContext()
    ) async throws -> AddedPassword {
        struct Body: Encodable, Sendable {
            struct Credential: Encodable, Sendable {
                var displayName: String
                var endDateTime: String
            }
            var passwordCredential: Credential
        }
        let body = Body(
            passwordCredential: .init(
                displayName: displayName, endDateTime: ISO8601DateFormatter().string(from: end)))
        // Never sent twice by the transport: a second run would add a second secret nobody receives.
        let response = try await sendRaw(
            "POST", "/applications/\(applicationID)/addPassword", body: body, context: context, freshConnection: true)
        guard let added = try? JSONDecoder().decode(GraphPasswordCredential.self, from: Data(response.body)),
            let secret = added.secretText
        else {
            throw GraphError(
                failure: .transient(retryAfter: nil), status: response.status, code: nil,
                message: "addPassword answered without a secret",
                clientRequestID: response.clientRequestID, serverRequestID: response.header("request-id"))
        }
        return AddedPassword(keyID: added.keyId, secret: secret, end: added.endDateTime ?? "")
    }

    public func removePassword(applicationID: String, keyID: String, context: FailureContext = FailureContext())
        async throws
    {
        struct Body: Encodable, Sendable { var keyId: String }
        _ = try await sendRaw(
            "POST", "/applications/\(applicationID)/removePassword", body: Body(keyId: keyID), context: context)
    }

    /// Sets the app's certificates to exactly `certificates`. A keyCredentials PATCH replaces the whole
    /// list, so the caller passes every certificate to keep, not just the new one (`CertificatePlan`).
    public func setCertificates(
        applicationID: String, _ certificates: [CertificateUpload], context: FailureContext = FailureContext()
    ) async throws {
        struct Key: Encodable, Sendable {
            var type = "AsymmetricX509Cert"
            var usage = "Verify"
            var displayName: String
            var key: String
        }
        struct Body: Encodable, Sendable { var keyCredentials: [Key] }
        let keys = try certificates.map {
            Key(displayName: $0.displayName, key: Data(try $0.certificate.der).base64EncodedString())
        }
        _ = try await sendRaw(
            "PATCH", "/applications/\(applicationID)", body: Body(keyCredentials: keys), context: context)
    }
}
