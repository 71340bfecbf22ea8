import Foundation
import HTTP
import Simulator
import Testing

@testable import Graph

/// Microsoft Graph's permission lists are read in full once per process and Graph endpoint, then each tenant's
/// service principal by its id alone; a name or role id the remembered lists lack is read again.
@Suite("Microsoft Graph's permission lists, remembered")
struct GraphPermissionMemoryTests {
    /// A simulator that journals every request, and the `$select` of each read of Graph's service principal.
    struct JournaledCloud {
        let cloud: SimulatedCloud
        let journal: String

        static func start() async throws -> JournaledCloud {
            let journal = FileManager.default.temporaryDirectory
                .appendingPathComponent("graph-memory-\(UUID().uuidString).jsonl").path
            let simulator = try Simulator(world: World(customers: 5, seed: 7), journal: journal)
            let base = try simulator.start()
            return JournaledCloud(
                cloud: SimulatedCloud(simulator: simulator, base: base, http: HTTPClient()), journal: journal)
        }

        /// What each read of Microsoft Graph's service principal selected, in order.
        func graphReads() throws -> [String] {
            let text = try String(contentsOfFile: journal, encoding: .utf8)
            return text.split(separator: "\n").compactMap { line in
                guard let entry = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                    (entry["path"] as? String)?.contains(
                        "servicePrincipals(appId='\(KnownGraphPermissions.resourceAppID)')")
                        == true
                else { return nil }
                return (entry["query"] as? [String: String])?["$select"] ?? "(everything)"
            }
        }

        func stop() async {
            await cloud.stop()
            try? FileManager.default.removeItem(atPath: journal)
        }
    }

    static let full = "id,appId,appRoles,oauth2PermissionScopes"

    @Test func theListsAreReadOnceAndEachTenantsServicePrincipalByItsId() async throws {
        let lab = try await JournaledCloud.start()
        let first = lab.cloud.graph(for: lab.cloud.simulator.world.customers[2])
        let second = lab.cloud.graph(for: lab.cloud.simulator.world.customers[3])
        let read = try await first.microsoftGraphServicePrincipal(fresh: true)
        #expect(!read.remembered && (read.appRoles?.count ?? 0) > 100)
        let other = try await second.microsoftGraphServicePrincipal()
        // The other tenant's own service principal, with the lists remembered from the first.
        #expect(other.remembered && other.id != read.id)
        #expect(other.appRoles?.map(\.id) == read.appRoles?.map(\.id))
        #expect(other.oauth2PermissionScopes?.map(\.id) == read.oauth2PermissionScopes?.map(\.id))
        let resolved = try await second.resolvePermissions(roles: ["User.Read.All"], scopes: ["User.Read"])
        #expect(resolved.roles["User.Read.All"] == KnownGraphPermissions.appRoles["User.Read.All"])
        #expect(try lab.graphReads() == [Self.full, "id,appId", "id,appId"])
        await lab.stop()
    }

    /// Lists remembered before Microsoft added a permission: resolving its name, or naming a role granted
    /// under its id, reads the lists again, and the fresh ones are remembered.
    @Test func aNameOrRoleTheRememberedListsLackIsReadAgain() async throws {
        let lab = try await JournaledCloud.start()
        let tenant = lab.cloud.simulator.world.customers[2]
        let graph = lab.cloud.graph(for: tenant)
        let read = try await graph.microsoftGraphServicePrincipal(fresh: true)
        let added = try #require(read.appRoles?.first { $0.value == "User.Read.All" })
        let older = GraphPermissionMemory.Lists(
            appRoles: (read.appRoles ?? []).filter { $0.id != added.id }, scopes: read.oauth2PermissionScopes ?? [])
        await GraphPermissionMemory.shared.remember(older, for: graph.baseURL)

        let resolved = try await graph.resolvePermissions(roles: ["User.Read.All"], scopes: [])
        #expect(resolved.roles["User.Read.All"] == added.id)
        #expect(try lab.graphReads() == [Self.full, "id,appId", Self.full])
        #expect(
            await GraphPermissionMemory.shared.lists(for: graph.baseURL)?.appRoles.contains { $0.id == added.id }
                == true)

        await GraphPermissionMemory.shared.remember(older, for: graph.baseURL)
        let stale = try await graph.microsoftGraphServicePrincipal()
        let granted = GraphAppRoleAssignment(
            id: nil, principalId: UUID().uuidString, resourceId: stale.id, appRoleId: added.id)
        let named = try await graph.appRoleNames(naming: [granted], offeredBy: stale)
        #expect(named.names[added.id] == "User.Read.All" && !named.graph.remembered)
        // A role the lists name already, or another resource's, needs no second read.
        await GraphPermissionMemory.shared.remember(older, for: graph.baseURL)
        let known = try #require(older.appRoles.first)
        let unchanged = try await graph.appRoleNames(
            naming: [
                GraphAppRoleAssignment(id: nil, principalId: "p", resourceId: stale.id, appRoleId: known.id),
                GraphAppRoleAssignment(id: nil, principalId: "p", resourceId: UUID().uuidString, appRoleId: added.id),
            ],
            offeredBy: try await graph.microsoftGraphServicePrincipal())
        #expect(unchanged.graph.remembered)
        #expect(try lab.graphReads() == [Self.full, "id,appId", Self.full, "id,appId", Self.full, "id,appId"])
        await lab.stop()
    }
}
