import Foundation
import Graph
import HTTP
import Testing

@testable import Simulator

@Suite("Simulated Graph: deletions and Deleted items (offboarding)", .serialized)
struct GraphDeletionsTests {
    /// A deleted app goes to Deleted applications with its service principal and consent gone, and keeps its
    /// unique name there until it is purged.
    @Test func aDeletedAppTakesItsConsentAlongAndKeepsItsUniqueNameUntilPurged() async throws {
        let lab = try await GraphLab.start()
        let path = "applications(uniqueName='offboard-\(lab.tenant.id.uuidString.lowercased())')"
        let upsert = #"{"displayName": "bvoip-msteams-integration", "signInAudience": "AzureADMyOrg"}"#
        let (created, app, _) = try await lab.call(
            "PATCH", path, json: upsert, headers: [("Prefer", "create-if-missing")])
        #expect(created == 201)
        let (objectID, appID) = (try #require(app?["id"]?.string), try #require(app?["appId"]?.string))
        let (_, principal, _) = try await lab.call(
            "POST", "servicePrincipals", json: #"{"appId": "\#(appID)"}"#, schema: "POST:/servicePrincipals")
        let principalID = try #require(principal?["id"]?.string)
        let graphID = lab.tenant.graphPrincipal.id.uuidString.lowercased()
        let assignment =
            #"{"principalId": "\#(principalID)", "resourceId": "\#(graphID)", "appRoleId": "df021288-bdef-4463-88db-98f22de89214"}"#
        #expect(try await lab.call("POST", "servicePrincipals/\(graphID)/appRoleAssignedTo", json: assignment).0 == 201)
        let grant =
            #"{"clientId": "\#(principalID)", "consentType": "AllPrincipals", "resourceId": "\#(graphID)", "scope": "User.Read"}"#
        #expect(try await lab.call("POST", "oauth2PermissionGrants", json: grant).0 == 201)

        #expect(try await lab.call("DELETE", "applications/\(objectID)").0 == 204)
        #expect(try await lab.call("DELETE", "applications/\(objectID)").0 == 404)
        #expect(try await lab.call("GET", "servicePrincipals(appId='\(appID)')").0 == 404)
        #expect(lab.tenant.appRoleAssignments.allSatisfy { $0.principalID.uuidString.lowercased() != principalID })
        #expect(lab.tenant.permissionGrants.allSatisfy { $0.clientID.uuidString.lowercased() != principalID })
        let (taken, refusal, _) = try await lab.call(
            "PATCH", path, json: upsert, headers: [("Prefer", "create-if-missing")])
        #expect(taken == 400 && refusal?["error"]?["message"]?.string?.contains("uniqueName") == true)
        let (_, deleted, _) = try await lab.call("GET", "directory/deletedItems/microsoft.graph.application")
        let listed = deleted?["value"]?.array ?? []
        #expect(listed.count == 1 && listed.first?["id"]?.string == objectID && listed.first?["deletedDateTime"] != nil)
        #expect(try await lab.call("DELETE", "directory/deletedItems/\(objectID)").0 == 204)
        #expect(try await lab.call("DELETE", "directory/deletedItems/\(objectID)").0 == 404)
        #expect(try await lab.call("PATCH", path, json: upsert, headers: [("Prefer", "create-if-missing")]).0 == 201)
        await lab.stop()
    }

    /// A domain is refused while a user's name is on it — a deleted user's too — and deleted once none is.
    @Test func aDomainIsDeletedOnlyOnceNoNameUsesIt() async throws {
        let lab = try await GraphLab.start()
        let domain = "sbc\(Int.random(in: 1000...9999)).contoso-voice.com"
        lab.tenant.domains[domain] = SimDomain(
            name: domain, isVerified: true, isDefault: false, isInitial: false, verificationCode: "MS=ms1")
        func user(_ name: String) -> String {
            #"{"accountEnabled": true, "displayName": "x", "mailNickname": "\#(name)", "userPrincipalName": "\#(name)@\#(domain)", "passwordProfile": {"forceChangePasswordNextSignIn": false, "password": "Zq8!\#(UUID().uuidString)"}}"#
        }
        let (_, parked, _) = try await lab.call("POST", "users", json: user("parked"), schema: "POST:/users")
        let (_, dropped, _) = try await lab.call("POST", "users", json: user("dropped"), schema: "POST:/users")
        let (parkedID, droppedID) = (try #require(parked?["id"]?.string), try #require(dropped?["id"]?.string))
        let (refused, refusal, _) = try await lab.call("DELETE", "domains/\(domain)")
        #expect(refused == 400 && refusal?["error"]?["message"]?.string?.contains("2 object(s)") == true)
        // Renamed onto the default domain, then deleted: no longer on the domain. Deleted as it is: still on it.
        let rename = #"{"userPrincipalName": "parked-1@\#(lab.tenant.defaultDomain)"}"#
        #expect(try await lab.call("PATCH", "users/\(parkedID)", json: rename).0 == 204)
        #expect(try await lab.call("DELETE", "users/\(parkedID)").0 == 204)
        #expect(try await lab.call("DELETE", "users/\(droppedID)").0 == 204)
        #expect(try await lab.call("GET", "users/\(droppedID)").0 == 404)
        let (still, stillRefusal, _) = try await lab.call("DELETE", "domains/\(domain)")
        #expect(still == 400 && stillRefusal?["error"]?["message"]?.string?.contains("1 object(s)") == true)
        // Purging a deleted user needs User.DeleteRestore.All, which the partner app does not hold.
        #expect(try await lab.call("DELETE", "directory/deletedItems/\(droppedID)").0 == 403)
        lab.tenant.deletedUsers[UUID(uuidString: droppedID)!] = nil  // as an administrator would purge it
        #expect(try await lab.call("DELETE", "domains/\(domain)").0 == 204)
        #expect(try await lab.call("GET", "domains/\(domain)").0 == 404)
        #expect(try await lab.call("DELETE", "domains/\(domain)").0 == 404)
        #expect(try await lab.call("DELETE", "domains/\(lab.tenant.defaultDomain)").0 == 400)
        await lab.stop()
    }
}
