import Crypto
import Foundation
import HTTP
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The Python peer in Tests/Fixtures, on a loopback port of its own.
struct TestServer {
    let process: ChildProcess
    let base: String

    static func start(tls: (certificate: String, key: String)? = nil) async throws -> TestServer {
        let portFile = FileManager.default.temporaryDirectory.appendingPathComponent("http-\(UUID().uuidString)").path
        let script = TestDatabase.repositoryRoot.appendingPathComponent("Tests/Fixtures/http_test_server.py").path
        var arguments = ["python3", script, "--port-file", portFile]
        if let tls { arguments += ["--tls", tls.certificate, tls.key] }
        let process = try ChildProcess(arguments, logPath: portFile + ".log")
        for _ in 0..<100 {
            if let port = try? String(contentsOfFile: portFile, encoding: .utf8) {
                return TestServer(
                    process: process,
                    base: "\(tls == nil ? "http" : "https")://\(tls == nil ? "127.0.0.1" : "localhost"):\(port)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        process.signal(SIGKILL)
        throw HTTPTestFailure(description: "the test server did not start: \(process.output)")
    }

    func stop() async {
        process.signal(SIGTERM)
        _ = await process.wait()
    }
}

struct HTTPTestFailure: Error, CustomStringConvertible { let description: String }

@Suite("HTTP client over libcurl", .serialized)
struct HTTPClientTests {
    @Test func requestAndResponseRoundTripWithClientRequestID() async throws {
        let server = try await TestServer.start()
        let client = HTTPClient()
        let id = UUID()
        let response = try await client.execute(
            HTTPRequest(
                method: "PATCH", url: "\(server.base)/echo?x=1", headers: [("Content-Type", "application/json")],
                body: Array(#"{"displayName":"Zürich"}"#.utf8), clientRequestID: id))
        #expect(response.status == 200)
        let echoed = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
        #expect(echoed?["method"] as? String == "PATCH")
        #expect(echoed?["body"] as? String == #"{"displayName":"Zürich"}"#)
        let headers = echoed?["headers"] as? [String: String]
        #expect(headers?["client-request-id"] == id.uuidString.lowercased())
        #expect(headers?["content-type"] == "application/json")
        #expect(response.header("Client-Request-Id") == id.uuidString.lowercased())
        #expect(response.clientRequestID == id)
        // Error statuses are responses, with their headers.
        let throttled = try await client.execute(HTTPRequest(url: "\(server.base)/status/429"))
        #expect(throttled.status == 429 && throttled.header("retry-after") == "7")
        client.shutdown()
        await server.stop()
    }

    /// The engine reuses a finished request's libcurl handle for the next: nothing of the earlier request (its
    /// method, body, headers, HEAD's no-body) reaches the later one.
    @Test func aRequestCarriesNothingOfTheOneBefore() async throws {
        let server = try await TestServer.start()
        let client = HTTPClient()
        func echo(_ method: String = "GET") async throws -> (method: String?, body: String?, headers: [String: String])
        {
            let response = try await client.execute(HTTPRequest(method: method, url: "\(server.base)/echo"))
            let echoed = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
            let headers = echoed?["headers"] as? [String: String] ?? [:]
            return (echoed?["method"] as? String, echoed?["body"] as? String, headers)
        }
        _ = try await client.execute(
            HTTPRequest(
                method: "PATCH", url: "\(server.base)/echo", headers: [("Authorization", "Bearer earlier")],
                body: Array(#"{"secret":"s1"}"#.utf8)))
        let after = try await echo()
        #expect(after.method == "GET" && after.body == "", "\(after)")
        #expect(after.headers["authorization"] == nil && after.headers["content-length"] == nil, "\(after.headers)")
        let head = try await client.execute(HTTPRequest(method: "HEAD", url: "\(server.base)/echo"))
        #expect(head.status == 200 && head.body.isEmpty)
        #expect(try await echo().method == "GET")  // with its body again: the JSON decoded
        #expect(try await echo("DELETE").method == "DELETE")
        #expect(try await echo().method == "GET")
        client.shutdown()
        await server.stop()
    }

    @Test func connectionsAreReusedAndManyRequestsRunAtOnce() async throws {
        let server = try await TestServer.start()
        let client = HTTPClient()
        for _ in 0..<50 { _ = try await client.execute(HTTPRequest(url: "\(server.base)/echo")) }
        let stats = try await client.execute(HTTPRequest(url: "\(server.base)/_stats"))
        let serverConnections = (try JSONSerialization.jsonObject(with: Data(stats.body)) as? [String: Int])?[
            "connections"]
        #expect(serverConnections == 1)  // 51 sequential requests, one TCP connection
        #expect(client.statistics.connectionsOpened == 1)
        // 200 at once: all answered, on a bounded number of connections.
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<200 {
                group.addTask { try await client.execute(HTTPRequest(url: "\(server.base)/slow?ms=20")).status }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(statuses.count == 200 && statuses.allSatisfy { $0 == 200 })
        #expect(client.statistics.connectionsOpened <= 65)
        #expect(client.statistics.requests == 251)
        client.shutdown()
        await server.stop()
    }

    @Test func timeoutsLostResponsesAndRefusedConnectionsAreTypedErrors() async throws {
        let server = try await TestServer.start()
        let client = HTTPClient()
        let slow = await #expect(throws: HTTPError.self) {
            try await client.execute(HTTPRequest(url: "\(server.base)/slow?ms=3000", timeout: .milliseconds(300)))
        }
        #expect(slow?.code == .timedOut && slow?.isTransient == true)
        let dropped = await #expect(throws: HTTPError.self) {
            try await client.execute(HTTPRequest(method: "POST", url: "\(server.base)/drop", body: [1]))
        }
        #expect(dropped?.code == .connectionLost && dropped?.isTransient == true)
        #expect(dropped?.description.contains("client-request-id") == true)
        // The client is fine afterwards.
        #expect(try await client.execute(HTTPRequest(url: "\(server.base)/echo")).status == 200)
        await server.stop()
        let refused = await #expect(throws: HTTPError.self) {
            try await client.execute(HTTPRequest(url: "\(server.base)/echo"))
        }
        #expect(refused?.code == .couldNotConnect)
        client.shutdown()
    }

    @Test func cancellationAbortsTheTransfer() async throws {
        let server = try await TestServer.start()
        let client = HTTPClient()
        let started = ContinuousClock.now
        // The answer would come after a minute: a transfer that was not aborted ends there, an aborted one long
        // before, however loaded the machine running the tests (a bound of 3 s against 5 s failed under load).
        let task = Task { try await client.execute(HTTPRequest(url: "\(server.base)/slow?ms=60000")) }
        try await Task.sleep(for: .milliseconds(200))
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(ContinuousClock.now - started < .seconds(30))
        client.shutdown()
        await server.stop()
    }

    @Test func tlsIsVerifiedAgainstTheConfiguredCA() async throws {
        let tls = try TestCA()
        let server = try await TestServer.start(tls: (tls.certificatePath, tls.keyPath))

        let untrusting = HTTPClient()
        let refused = await #expect(throws: HTTPError.self) {
            try await untrusting.execute(HTTPRequest(url: "\(server.base)/echo"))
        }
        #expect(refused?.code == .tls)
        untrusting.shutdown()

        var configuration = HTTPClientConfiguration()
        configuration.caBundlePath = tls.caPath
        let trusting = HTTPClient(configuration: configuration)
        #expect(try await trusting.execute(HTTPRequest(url: "\(server.base)/echo")).status == 200)
        // Redirects are followed to HTTPS only.
        let downgrade = await #expect(throws: HTTPError.self) {
            try await trusting.execute(HTTPRequest(url: "\(server.base)/redirect?to=http://127.0.0.1:1/echo"))
        }
        #expect(downgrade?.code == .invalidRequest)  // libcurl refuses to follow to plain HTTP
        #expect(downgrade?.message.contains("http") == true)
        let upgrade = try await trusting.execute(HTTPRequest(url: "\(server.base)/redirect?to=\(server.base)/echo"))
        #expect(upgrade.status == 200)
        // A request with a body never follows one: libcurl would post the body (a client secret) again to
        // wherever a 307 or 308 points.
        for code in [307, 308, 302] {
            let bounced = try await trusting.execute(
                HTTPRequest(
                    method: "POST", url: "\(server.base)/redirect?code=\(code)&to=\(server.base)/echo",
                    headers: [("Content-Type", "application/x-www-form-urlencoded")],
                    body: Array("client_secret=s3cret".utf8)))
            #expect(bounced.status == code, "a POST followed a \(code)")
            #expect(!bounced.bodyText.contains("s3cret"))
        }
        trusting.shutdown()
        await server.stop()
    }
}
