import Foundation
import Postgres
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Runs `scripts/dev-db` against a private cluster, so restarting it disturbs no other test.
struct PrivateCluster {
    let directory: String
    let port: Int

    init() {
        directory =
            TestDatabase.repositoryRoot.appendingPathComponent(".local/pg-restart-\(UUID().uuidString.prefix(8))").path
        port = Self.unusedLoopbackPort()
    }

    /// A loopback port nothing is bound to now, below Linux's ephemeral range (32768–60999): a random port in that
    /// range was at times taken, before the cluster could bind it, by one of the suite's outgoing connections or
    /// a server started on port 0.
    static func unusedLoopbackPort() -> Int {
        for _ in 0..<100 {
            let port = Int.random(in: 20_000..<30_000)
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            if bound == 0 { return port }
        }
        return 20_000 + Int.random(in: 0..<10_000)
    }

    @discardableResult
    func devDB(_ command: String) async throws -> String {
        let script = TestDatabase.repositoryRoot.appendingPathComponent("scripts/dev-db").path
        let (status, output) = try await runCommand(
            ["/bin/bash", script, command],
            environment: ["ONBOARDER_PG_DIR": directory, "ONBOARDER_PG_PORT": String(port)])
        guard status == 0 else {
            throw PostgresError(
                code: .connectionFailed, message: "scripts/dev-db \(command) exited \(status): \(output)")
        }
        return output.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

@Suite("Recovery after a server restart", .serialized)
struct ServerRestartTests {
    @Test func poolAndListenerRecoverAfterRestart() async throws {
        let cluster = PrivateCluster()
        do {
            try await cluster.devDB("start")  // a failed start leaves a directory behind too
            try await exercise(cluster)
        } catch {
            _ = try? await cluster.devDB("destroy")
            throw error
        }
        try await cluster.devDB("destroy")
    }

    func exercise(_ cluster: PrivateCluster) async throws {
        let configuration = PostgresConfiguration(connectionString: try await cluster.devDB("url"), connectTimeout: 5)

        let pool = PostgresPool(configuration: configuration, maxConnections: 2)
        let before = try await pool.query("SELECT pg_backend_pid() AS pid").single().decode(Int.self, column: "pid")
        let listener = PostgresListener(configuration: configuration, channels: ["restart_test"])
        #expect(try await nextEvent(listener.events) { $0 == .connected } == .connected)

        try await cluster.devDB("restart")

        // The pooled connection died with the old server; the pool notices and reconnects.
        let after = try await pool.query("SELECT pg_backend_pid() AS pid").single().decode(Int.self, column: "pid")
        #expect(after != before)
        // The listener reconnects, says so, and hears notifications again.
        #expect(try await nextEvent(listener.events, within: 20) { $0 == .connected } == .connected)
        try await pool.query("SELECT pg_notify('restart_test', 'after restart')")
        let event = try await nextEvent(listener.events) { if case .notification = $0 { true } else { false } }
        #expect(event == .notification(channel: "restart_test", payload: "after restart", senderPID: Int32(after)))

        // While the server is down, calls fail with a connection error instead of hanging; then recover.
        try await cluster.devDB("stop")
        let error = await #expect(throws: PostgresError.self) { try await pool.query("SELECT 1") }
        #expect(error?.isConnectionError == true)
        try await cluster.devDB("start")
        #expect(try await pool.query("SELECT 1 AS one").single().decode(Int.self, column: "one") == 1)

        await listener.stop()
        await pool.close()
    }
}
