import Foundation
import Graph
import HTTP
import Simulator
import Testing

@Suite("Graph beta: the per-credential sign-in report")
struct ReportsTests {
    /// A token with a new secret is a sign-in of that credential: the report names its keyId, as a secret,
    /// with the time.
    @Test func aSecretsSignInIsReportedByKeyId() async throws {
        let cloud = try await SimulatedCloud.start()
        let graph = cloud.graph(for: cloud.consented)
        let app = try await graph.upsertApplication(
            uniqueName: "bvoip-report", ApplicationRegistration(displayName: "bvoip"))
        let principal = try await graph.createServicePrincipal(appID: app.appId)
        let graphID = try await graph.microsoftGraphServicePrincipal().id
        let roles = try await graph.resolvePermissions(roles: ["User.Read.All"], scopes: []).roles
        for (_, role) in roles {
            try await graph.assignAppRole(principalID: principal.id, resourceID: graphID, appRoleID: role)
        }
        let password = try await graph.addPassword(
            applicationID: app.id, displayName: "PBX Secret", end: Date(timeIntervalSinceNow: 86_400))
        let before = Date().addingTimeInterval(-5)
        var signedIn = false
        for _ in 0..<20 where !signedIn {  // the new secret propagates first
            do {
                _ = try await TokenClient(http: cloud.http, loginBaseURL: cloud.base).freshToken(
                    tenant: cloud.consented.id.uuidString, clientID: app.appId, credential: .secret(password.secret))
                signedIn = true
            } catch { try await Task.sleep(for: .milliseconds(200)) }
        }
        #expect(signedIn)
        let report = try await graph.credentialSignInActivities(appID: app.appId, reportsBaseURL: "\(cloud.base)/beta")
        guard case .activities(let rows) = report else {
            Issue.record("the report is unavailable: \(report)")
            await cloud.stop()
            return
        }
        let row = try #require(rows.first { $0.keyId.lowercased() == password.keyID.lowercased() })
        #expect(row.keyType == "clientSecret" && row.appId?.lowercased() == app.appId.lowercased())
        let at = try #require(row.signInActivity?.lastSignInDateTime)
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let date = formatter.date(from: at) ?? ISO8601DateFormatter().date(from: at)
        #expect(date.map { $0 >= before } == true, "\(at)")
        await cloud.stop()
    }

    /// A base that does not serve the report (a national cloud, a proxy without beta) is an answer the
    /// rotation falls back from, not a failure of the step.
    @Test func aBaseWithoutTheReportIsUnavailableNotAFailure() async throws {
        let cloud = try await SimulatedCloud.start()
        let graph = cloud.graph(for: cloud.consented)
        let report = try await graph.credentialSignInActivities(
            appID: UUID().uuidString, reportsBaseURL: "\(cloud.base)/no-such-version")
        guard case .unavailable(let why) = report else {
            Issue.record("expected unavailable, got \(report)")
            await cloud.stop()
            return
        }
        #expect(why.contains("404"), "\(why)")
        await cloud.stop()
    }
}
