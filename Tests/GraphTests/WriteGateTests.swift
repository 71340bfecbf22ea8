import Foundation
import Graph
import HTTP
import Simulator
import Testing

/// A gate that counts the writes it admits and can refuse them (the PostgreSQL-backed one is tested with
/// the pipeline: Tests/PipelineTests/PartnerRateTests.swift).
actor CountingGate: WriteGate {
    private(set) var admitted = 0
    var refusing = false

    struct Refused: Error {}

    func admit() async throws {
        if refusing { throw Refused() }
        admitted += 1
    }

    func refuse() { refusing = true }
}

@Suite("GraphClient awaits its write gate before every write, never before a read")
struct WriteGateTests {
    @Test func everyWriteAndNoReadPassesTheGate() async throws {
        let cloud = try await SimulatedCloud.start()
        let gate = CountingGate()
        var graph = cloud.graph(for: cloud.consented)
        graph.writeGate = gate
        _ = try await graph.organizationID()
        _ = try await graph.applications()
        #expect(await gate.admitted == 0)
        let app = try await graph.upsertApplication(uniqueName: "gated", ApplicationRegistration(displayName: "gated"))
        #expect(await gate.admitted == 1)
        let password = try await graph.addPassword(
            applicationID: app.id, displayName: "PBX Secret", end: Date(timeIntervalSinceNow: 86_400))
        try await graph.removePassword(applicationID: app.id, keyID: password.keyID)
        _ = try await graph.createServicePrincipal(appID: app.appId)
        #expect(await gate.admitted == 4)
        _ = try await graph.servicePrincipal(appID: app.appId)
        #expect(await gate.admitted == 4)

        // A write the gate refuses is never sent.
        await gate.refuse()
        let served = cloud.simulator.requestCounts.values.reduce(0, +)
        await #expect(throws: CountingGate.Refused.self) {
            try await graph.upsertApplication(uniqueName: "refused", ApplicationRegistration(displayName: "refused"))
        }
        #expect(cloud.simulator.requestCounts.values.reduce(0, +) == served)
        _ = try await graph.organizationID()  // reads still go
        await cloud.stop()
    }

    /// The gate paces; Graph's 429 is still Graph's: a throttled write is sent once (one permit), not
    /// retried in place, and comes back as a transient failure carrying Retry-After for its step to wait.
    @Test func aThrottledWriteIsStillWaitedOutAsGraphSays() async throws {
        let cloud = try await SimulatedCloud.start()
        let gate = CountingGate()
        var graph = cloud.graph(for: cloud.consented)
        graph.writeGate = gate
        var faults = Faults()
        faults.throttleWrites = 1  // Graph's per-app-and-tenant write limit, scaled down to one write
        cloud.simulator.setFaults(faults)
        _ = try await graph.upsertApplication(uniqueName: "first", ApplicationRegistration(displayName: "first"))
        let throttled = await #expect(throws: GraphError.self) {
            try await graph.upsertApplication(uniqueName: "second", ApplicationRegistration(displayName: "second"))
        }
        #expect(throttled?.status == 429)
        if case .transient(let after)? = throttled?.failure {
            #expect((after ?? .zero) > .zero, "no Retry-After")
        } else {
            Issue.record("a 429 is transient: \(String(describing: throttled?.failure))")
        }
        #expect(await gate.admitted == 2)
        await cloud.stop()
    }
}
