import Foundation
import Postgres
import TestSupport
import Testing

/// Waits for the first event matching `predicate`, failing after `seconds`.
func nextEvent(
    _ events: AsyncStream<PostgresListener.Event>, within seconds: Double = 10,
    where predicate: @escaping @Sendable (PostgresListener.Event) -> Bool
) async throws -> PostgresListener.Event? {
    try await withThrowingTaskGroup(of: PostgresListener.Event?.self) { group in
        group.addTask {
            for await event in events where predicate(event) { return event }
            return nil
        }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            return nil
        }
        let first = try await group.next() ?? nil
        group.cancelAll()
        return first
    }
}

@Suite("LISTEN/NOTIFY")
struct ListenNotifyTests {
    @Test func notificationReachesASecondConnection() async throws {
        let channel = "test_\(UUID().uuidString.prefix(8).lowercased())"
        let listener = PostgresListener(configuration: TestDatabase.configuration, channels: [channel])
        #expect(try await nextEvent(listener.events) { $0 == .connected } == .connected)

        let sender = try await PostgresConnection.connect(TestDatabase.configuration)
        // Inside a transaction: delivered only at COMMIT, once.
        try await sender.transaction { connection in
            try await connection.notify(channel: channel, payload: "job 42 ready, Zürich")
        }
        let event = try await nextEvent(listener.events) { if case .notification = $0 { true } else { false } }
        guard case .notification(let gotChannel, let payload, let pid)? = event else {
            Issue.record("no notification within 10 s")
            return
        }
        #expect(gotChannel == channel)
        #expect(payload == "job 42 ready, Zürich")
        let senderPID = try await sender.query("SELECT pg_backend_pid() AS pid").single().decode(
            Int32.self, column: "pid")
        #expect(pid == senderPID)
        await sender.close()
        await listener.stop()
    }
}
