import Foundation
import Testing

/// What a tenant administrator does to make drift by hand: revoking an application permission
/// (`DELETE /servicePrincipals/{id}/appRoleAssignedTo/{id}`, or the same from the client's side).
@Suite("Simulated Graph: revoking an application permission", .serialized)
struct DriftRevocationTests {
    @Test func anAssignmentKeepsItsIdAndIsDeletedFromEitherSideOnce() async throws {
        let lab = try await GraphLab.start()
        let (_, app, _) = try await lab.call(
            "POST", "applications", json: sampleApplication, schema: "POST:/applications")
        let appID = try #require(app?["appId"]?.string)
        let (_, principal, _) = try await lab.call(
            "POST", "servicePrincipals", json: #"{"appId": "\#(appID)"}"#, schema: "POST:/servicePrincipals")
        let principalID = try #require(principal?["id"]?.string)
        let (_, graph, _) = try await lab.call("GET", "servicePrincipals(appId='00000003-0000-0000-c000-000000000000')")
        let graphID = try #require(graph?["id"]?.string)
        var ids: [String] = []
        for role in ["df021288-bdef-4463-88db-98f22de89214", "798ee544-9d2d-430c-a058-570e29e34338"] {
            let body = #"{"principalId": "\#(principalID)", "resourceId": "\#(graphID)", "appRoleId": "\#(role)"}"#
            let (status, created, _) = try await lab.call(
                "POST", "servicePrincipals/\(graphID)/appRoleAssignedTo", json: body,
                schema: "POST:/servicePrincipals/{servicePrincipal-id}/appRoleAssignedTo")
            #expect(status == 201)
            ids.append(try #require(created?["id"]?.string))
        }
        // Graph's ids: 43 base64url characters, the same in every answer that lists the assignment.
        #expect(ids.allSatisfy { $0.count == 43 && $0.wholeMatch(of: /[A-Za-z0-9_-]+/) != nil })
        let (_, listed, _) = try await lab.call("GET", "servicePrincipals/\(principalID)/appRoleAssignments")
        #expect(Set(listed?["value"]?.array?.compactMap { $0["id"]?.string } ?? []) == Set(ids))

        // From the resource's side: 204, then gone; a second time, or an id of another principal, 404.
        let (deleted, body, _) = try await lab.call(
            "DELETE", "servicePrincipals/\(graphID)/appRoleAssignedTo/\(ids[0])")
        #expect(deleted == 204 && body == nil)
        #expect(
            try await lab.call("DELETE", "servicePrincipals/\(graphID)/appRoleAssignedTo/\(ids[0])").0 == 404)
        #expect(
            try await lab.call("DELETE", "servicePrincipals/\(graphID)/appRoleAssignments/\(ids[1])").0 == 404,
            "Graph's principal holds no assignment of its own: the id is not one of its appRoleAssignments")
        // From the client's side.
        #expect(try await lab.call("DELETE", "servicePrincipals/\(principalID)/appRoleAssignments/\(ids[1])").0 == 204)
        let (_, left, _) = try await lab.call("GET", "servicePrincipals/\(graphID)/appRoleAssignedTo")
        #expect(left?["value"]?.array?.filter { $0["principalId"]?.string == principalID }.count == 0)
    }
}
