import Foundation

/// An app registration as the drift audit reads it back: its redirect URIs, the permissions it asks for and
/// its credentials (never their secrets).
public struct GraphApplicationConfiguration: Decodable, Sendable {
    public struct Web: Decodable, Sendable {
        public var redirectUris: [String]?
    }
    public struct ResourceAccess: Decodable, Sendable {
        public struct Access: Decodable, Sendable {
            public var id: String
            /// `Role` (application permission) or `Scope` (delegated).
            public var type: String
        }
        public var resourceAppId: String
        public var resourceAccess: [Access]?
    }
    public var id: String
    public var appId: String
    public var web: Web?
    public var requiredResourceAccess: [ResourceAccess]?
    public var passwordCredentials: [GraphPasswordCredential]?
    public var keyCredentials: [GraphKeyCredential]?

    /// What the app asks of `resourceAppId` (Microsoft Graph's, by default).
    public func access(of resourceAppId: String = KnownGraphPermissions.resourceAppID) -> [ResourceAccess.Access] {
        (requiredResourceAccess ?? []).filter { $0.resourceAppId.lowercased() == resourceAppId.lowercased() }
            .flatMap { $0.resourceAccess ?? [] }
    }
}

extension GraphClient {
    /// The app `id` (its object id) with what the audit compares: one read, nothing written.
    public func applicationConfiguration(id: String, context: FailureContext = FailureContext()) async throws
        -> GraphApplicationConfiguration
    {
        try await send(
            GraphApplicationConfiguration.self, "GET", "/applications/\(id)",
            query: [("$select", "id,appId,web,requiredResourceAccess,passwordCredentials,keyCredentials")],
            context: context)
    }
}
