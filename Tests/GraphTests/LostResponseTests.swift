import Foundation
import HTTP
import Simulator
import Testing

@testable import Graph

@Suite("A write whose answer is lost runs once")
struct LostResponseTests {
    func sent(_ cloud: SimulatedCloud) async throws -> Int {
        let stats = try await cloud.http.execute(HTTPRequest(url: "\(cloud.base)/_sim/stats"))
        let counts = try JSONSerialization.jsonObject(with: Data(stats.body)) as? [String: Int]
        return counts?["POST applications"] ?? 0
    }

    /// libcurl sends a request again, silently, when a reused keep-alive connection dies before any
    /// answer. The simulator's lost response applies the request and then drops the connection, so on a
    /// reused connection a POST reaches it twice; addPassword asks for a fresh connection and is sent once.
    @Test func addPasswordIsSentOnceWhenItsAnswerIsLost() async throws {
        let cloud = try await SimulatedCloud.start()
        let graph = cloud.graph(for: cloud.consented)
        let id = try await graph.upsertApplication(
            uniqueName: "lost-answer", ApplicationRegistration(displayName: "lost")
        )
        .id
        var faults = Faults()
        faults.lostResponseRate = 1
        let before = try await sent(cloud)
        cloud.simulator.setFaults(faults)
        // The connection to the simulator is warm (reused) from the calls above.
        let error = await #expect(throws: GraphError.self) {
            _ = try await graph.addPassword(
                applicationID: id, displayName: "PBX Secret", end: Date(timeIntervalSinceNow: 86_400))
        }
        #expect(error?.failure == .transient(retryAfter: nil))
        cloud.simulator.setFaults(Faults())
        #expect(try await sent(cloud) == before + 1, "addPassword reached the service more than once")
        let passwords = cloud.simulator.withWorld { _ in
            cloud.consented.applications.values.first { $0.displayName == "lost" }?.passwords.count
        }
        #expect(passwords == 1)

        // The same request on a reused connection without asking for a fresh one: libcurl sends it twice.
        _ = try await graph.application(id: id)
        let again = try await sent(cloud)
        cloud.simulator.setFaults(faults)
        // The same request without asking for a fresh connection (sendRaw, internal to the client).
        _ = try? await graph.sendRaw(
            "POST", "/applications/\(id)/addPassword",
            body: ["passwordCredential": ["displayName": "plain"]])
        cloud.simulator.setFaults(Faults())
        #expect(
            try await sent(cloud) == again + 2,
            "libcurl no longer resends on a dead reused connection: freshConnection may be unnecessary")
        await cloud.stop()
    }
}
