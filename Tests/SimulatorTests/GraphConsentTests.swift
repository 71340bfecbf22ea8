import Crypto
import Foundation
import Graph
import HTTP
import Simulator
import Testing

@Suite("Simulated Graph: service principals and consent", .serialized)
struct GraphConsentTests {
    @Test func adminConsentAsAPIcallsGrantsTheRolesTheNewAppsTokensCarry() async throws {
        let lab = try await GraphLab.start()
        let (_, app, _) = try await lab.call(
            "POST", "applications", json: sampleApplication, schema: "POST:/applications")
        let appID = try #require(app?["appId"]?.string)
        let objectID = try #require(app?["id"]?.string)

        // The service principal, once.
        let (created, principal, _) = try await lab.call(
            "POST", "servicePrincipals", json: #"{"appId": "\#(appID)"}"#, schema: "POST:/servicePrincipals")
        #expect(created == 201)
        let principalID = try #require(principal?["id"]?.string)
        let (again, conflict, _) = try await lab.call(
            "POST", "servicePrincipals", json: #"{"appId": "\#(appID)"}"#, schema: "POST:/servicePrincipals")
        #expect(again == 409 && conflict?["error"]?["code"]?.string == "Request_MultipleObjectsWithSameKeyValue")
        let (invalid, unknownApp, _) = try await lab.call(
            "POST", "servicePrincipals", json: #"{"appId": "\#(UUID().uuidString)"}"#, schema: "POST:/servicePrincipals"
        )
        #expect(
            invalid == 400
                && unknownApp?["error"]?["message"]?.string?.contains("does not reference a valid application object")
                    == true
        )

        // Microsoft Graph's service principal, with the permission ids resolved by value.
        let (_, graph, _) = try await lab.call("GET", "servicePrincipals(appId='00000003-0000-0000-c000-000000000000')")
        let graphID = try #require(graph?["id"]?.string)
        var roleIDs: [String: String] = [:]
        for role in graph?["appRoles"]?.array ?? [] { roleIDs[role["value"]?.string ?? ""] = role["id"]?.string }
        #expect(roleIDs["User.Read.All"] == "df021288-bdef-4463-88db-98f22de89214")
        #expect(graph?["oauth2PermissionScopes"]?.array?.contains { $0["value"]?.string == "User.Read" } == true)

        // One assignment per role; a repeat is refused as Graph words it.
        for name in ["User.Read.All", "Domain.ReadWrite.All"] {
            let body =
                #"{"principalId": "\#(principalID)", "resourceId": "\#(graphID)", "appRoleId": "\#(roleIDs[name]!)"}"#
            #expect(
                try await lab.call(
                    "POST", "servicePrincipals/\(graphID)/appRoleAssignedTo", json: body,
                    schema: "POST:/servicePrincipals/{servicePrincipal-id}/appRoleAssignedTo"
                ).0 == 201)
        }
        let repeatBody =
            #"{"principalId": "\#(principalID)", "resourceId": "\#(graphID)", "appRoleId": "\#(roleIDs["User.Read.All"]!)"}"#
        let (duplicate, duplicateError, _) = try await lab.call(
            "POST", "servicePrincipals/\(graphID)/appRoleAssignedTo", json: repeatBody,
            schema: "POST:/servicePrincipals/{servicePrincipal-id}/appRoleAssignedTo")
        #expect(
            duplicate == 400
                && duplicateError?["error"]?["message"]?.string
                    == "Permission being assigned already exists on the object"
        )
        let (_, assigned, _) = try await lab.call("GET", "servicePrincipals/\(graphID)/appRoleAssignedTo")
        #expect(assigned?["value"]?.array?.filter { $0["principalId"]?.string == principalID }.count == 2)
        let (_, fromClient, _) = try await lab.call("GET", "servicePrincipals/\(principalID)/appRoleAssignments")
        #expect(fromClient?["value"]?.array?.count == 2)

        // The delegated grant for User.Read.
        let grant =
            #"{"clientId": "\#(principalID)", "consentType": "AllPrincipals", "resourceId": "\#(graphID)", "scope": "User.Read"}"#
        #expect(
            try await lab.call("POST", "oauth2PermissionGrants", json: grant, schema: "POST:/oauth2PermissionGrants").0
                == 201)
        let (_, grants, _) = try await lab.call(
            "GET", "oauth2PermissionGrants?$filter=clientId%20eq%20'\(principalID)'")
        #expect(grants?["value"]?.array?.first?["scope"]?.string == "User.Read")
        // Updating the grant's scopes (what the consent step does when one is missing): 204, then listed.
        // (The vendored schema subset has no body for this operation, so the body goes unchecked.)
        let grantID = try #require(grants?["value"]?.array?.first?["id"]?.string)
        #expect(
            try await lab.call(
                "PATCH", "oauth2PermissionGrants/\(grantID)", json: #"{"scope": "User.Read openid"}"#,
                invalidOnPurpose: true
            ).0 == 204)
        let (_, updated, _) = try await lab.call(
            "GET", "oauth2PermissionGrants?$filter=clientId%20eq%20'\(principalID)'")
        #expect(updated?["value"]?.array?.first?["scope"]?.string == "User.Read openid")
        #expect(
            try await lab.call(
                "PATCH", "oauth2PermissionGrants/\(grantID)", json: #"{"scope": "Not.A.Scope"}"#,
                invalidOnPurpose: true
            ).0 == 400)
        #expect(
            try await lab.call(
                "PATCH", "oauth2PermissionGrants/no-such-grant", json: #"{"scope": "User.Read"}"#,
                invalidOnPurpose: true
            ).0 == 404)
        let badScope =
            #"{"clientId": "\#(principalID)", "consentType": "AllPrincipals", "resourceId": "\#(graphID)", "scope": "UserReadWrite.All"}"#
        #expect(
            try await lab.call("POST", "oauth2PermissionGrants", json: badScope, schema: "POST:/oauth2PermissionGrants")
                .0 == 400)

        // The app's own token now carries exactly the granted roles.
        let (_, password, _) = try await lab.call(
            "POST", "applications/\(objectID)/addPassword",
            json: #"{"passwordCredential": {"displayName": "PBX Secret"}}"#,
            schema: "POST:/applications/{application-id}/addPassword")
        let token = try await TokenClient(http: lab.http, loginBaseURL: lab.base).token(
            tenant: lab.tenant.id.uuidString, clientID: appID,
            credential: .secret(try #require(password?["secretText"]?.string)))
        let payload = token.value.split(separator: ".")[1]
        let claims = try JSONSerialization.jsonObject(with: Data(Base64URL.decode(String(payload))!)) as? [String: Any]
        #expect(Set(claims?["roles"] as? [String] ?? []) == ["User.Read.All", "Domain.ReadWrite.All"])
        await lab.stop()
    }

    /// Consent creates the consented app's service principal in the customer tenant, with one app-role
    /// assignment per Graph permission granted; without consent there is none.
    @Test func thePartnerAppHasAServicePrincipalWhereItHoldsConsent() async throws {
        let lab = try await GraphLab.start()
        let partner = lab.simulator.world.partnerApp.appID.uuidString.lowercased()
        let filter = "servicePrincipals?$filter=appId%20eq%20'\(partner)'"
        let listed = try await lab.call("GET", filter).1?["value"]?.array
        #expect(listed?.count == 1 && listed?.first?["appId"]?.string == partner)
        let principalID = try #require(listed?.first?["id"]?.string)
        #expect(try await lab.call("GET", "servicePrincipals(appId='\(partner)')").1?["id"]?.string == principalID)
        let assigned = try await lab.call("GET", "servicePrincipals/\(principalID)/appRoleAssignments").1
        let catalogue = GraphPermissionCatalogue.microsoftGraph
        let roles = Set(
            assigned?["value"]?.array?.compactMap {
                $0["appRoleId"]?.string.flatMap(UUID.init(uuidString:)).flatMap(catalogue.appRole(id:))?.value
            } ?? [])
        #expect(roles == World.partnerRoles)
        let tenant = lab.tenant
        lab.simulator.withWorld { world in world.setConsent(.none, in: tenant) }
        #expect(try await lab.call("GET", filter).1?["value"]?.array?.isEmpty == true)
        #expect(try await lab.call("GET", "servicePrincipals/\(principalID)").0 == 404)
        await lab.stop()
    }
}
