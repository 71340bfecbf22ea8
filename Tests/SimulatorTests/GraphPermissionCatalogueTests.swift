import Foundation
import Graph
import Simulator
import Testing

/// The client's permission table (`KnownGraphPermissions`) and the simulator's vendored copy of Microsoft's
/// list are independent: a GUID mistyped on either side fails here instead of passing both.
@Suite("Graph permissions: the client's table against the simulator's vendored catalogue")
struct GraphPermissionCatalogueTests {
    let catalogue = GraphPermissionCatalogue.microsoftGraph

    @Test func everyApplicationPermissionOfTheClientHasTheSameIDAndKind() {
        for (name, id) in KnownGraphPermissions.appRoles.sorted(by: { $0.key < $1.key }) {
            let role = catalogue.appRole(named: name)
            #expect(
                role?.id == id.lowercased(), "\(name): the client says \(id), Microsoft's list \(role?.id ?? "nothing")"
            )
            #expect(role?.kind == .role && role?.type == "Application", "\(name) is not an application permission")
        }
    }

    @Test func everyDelegatedPermissionOfTheClientHasTheSameIDAndKind() {
        for (name, id) in KnownGraphPermissions.scopes.sorted(by: { $0.key < $1.key }) {
            let scope = catalogue.scope(named: name)
            #expect(
                scope?.id == id.lowercased(),
                "\(name): the client says \(id), Microsoft's list \(scope?.id ?? "nothing")")
            #expect(scope?.kind == .scope, "\(name) is not a delegated permission")
        }
    }

    @Test func theResourceIsMicrosoftGraphOnBothSides() {
        #expect(GraphPermissionCatalogue.resourceAppID == KnownGraphPermissions.resourceAppID)
    }

    @Test func theCatalogueIsMicrosoftsWholeList() {
        // The vendored dump lists 716 application and 807 delegated permissions; a truncated or misparsed
        // file would leave the simulated Graph service principal short of roles.
        #expect(catalogue.appRoles.count == 716 && catalogue.scopes.count == 807)
        #expect(Set(catalogue.appRoles.map(\.id)).count == catalogue.appRoles.count)
        #expect(catalogue.appRole(named: "User.Read") == nil, "User.Read is delegated only")
        #expect(catalogue.scope(named: "User.Read")?.type == "User")
    }

    @Test func theSimulatedGraphServicePrincipalListsEveryRoleAndScope() async throws {
        let lab = try await GraphLab.start()
        let (status, graph, _) = try await lab.call(
            "GET", "servicePrincipals(appId='\(GraphPermissionCatalogue.resourceAppID)')")
        #expect(status == 200)
        #expect(graph?["appRoles"]?.array?.count == catalogue.appRoles.count)
        #expect(graph?["oauth2PermissionScopes"]?.array?.count == catalogue.scopes.count)
        await lab.stop()
    }

    @Test func parsingSkipsCommentsAndReadsEveryColumn() {
        let parsed = GraphPermissionCatalogue(
            parsing: """
                # a comment
                role\t1BFEFB4E-E0B5-418B-A88F-73C46D2CC8E9\tApplication.ReadWrite.All\tApplication\t1\tRead and write all applications
                scope\te1fe6dd8-ba31-4d61-89e7-88639da4683d\tUser.Read\tUser\t0\tSign in and read user profile
                """)
        #expect(
            parsed.appRoles == [
                GraphPermission(
                    kind: .role, id: "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9", value: "Application.ReadWrite.All",
                    type: "Application", isEnabled: true, displayName: "Read and write all applications")
            ])
        #expect(parsed.scope(named: "User.Read")?.isEnabled == false)
        #expect(
            parsed.appRole(id: UUID(uuidString: "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9")!)?.value
                == "Application.ReadWrite.All")
    }
}
