import Crypto
import Foundation
import Graph
import HTTP
import Simulator
import TestSupport
import Testing

extension GraphLab {
    func faults(_ configure: (inout Faults) -> Void) {
        var faults = Faults()
        configure(&faults)
        simulator.setFaults(faults)
    }
}

@Suite("Simulated failure modes", .serialized)
struct FaultTests {
    @Test func offByDefaultThenErrorsAtTheirRateWithRetryAfter() async throws {
        let lab = try await GraphLab.start()
        for _ in 0..<50 { #expect(try await lab.call("GET", "organization").0 == 200) }
        lab.faults {
            $0.errorRate = 0.3; $0.seed = 42
        }
        var injected = 0
        for _ in 0..<300 {
            let (status, _, response) = try await lab.call("GET", "organization")
            guard status != 200 else { continue }
            injected += 1
            #expect([429, 500, 502, 503, 504].contains(status))
            let error = FailureClassifier.classify(response)
            if case .transient(let retryAfter) = error.failure {
                if status == 429 || status == 503 { #expect(retryAfter == .seconds(2)) }
            } else {
                Issue.record("an injected \(status) must classify as transient")
            }
        }
        #expect(injected > 60 && injected < 120, "30 % of 300, got \(injected)")
        #expect(lab.simulator.requestCounts.filter { $0.key.hasPrefix("injected") }.values.reduce(0, +) == injected)
        await lab.stop()
    }

    @Test func aLostResponseIsAppliedThenTheConnectionDrops() async throws {
        let lab = try await GraphLab.start()
        lab.faults { $0.lostResponseRate = 1 }
        let error = await #expect(throws: HTTPError.self) {
            try await lab.call("POST", "applications", json: #"{"displayName": "lost but made"}"#)
        }
        #expect(error?.code == .connectionLost)
        #expect(FailureClassifier.classify(try #require(error)).failure == .transient(retryAfter: nil))
        lab.faults { _ in }
        let (_, apps, _) = try await lab.call("GET", "applications?$filter=displayName%20eq%20'lost%20but%20made'")
        #expect(apps?["value"]?.array?.count == 1)  // the create happened: a blind retry would duplicate it
        await lab.stop()
    }

    @Test func replicationLagHidesNewObjectsForItsWindow() async throws {
        let lab = try await GraphLab.start()
        // Long enough that the schema validation of each body (a Python process) cannot outlast it.
        lab.faults { $0.replicationLagMs = 6000 }
        let (_, app, _) = try await lab.call("POST", "applications", json: #"{"displayName": "fresh"}"#)
        let id = try #require(app?["id"]?.string)
        let (status, _, response) = try await lab.call("GET", "applications/\(id)")
        #expect(status == 404)
        #expect(
            FailureClassifier.classify(response, context: FailureContext(recentlyCreatedObject: true)).failure
                == .replication)
        #expect(try await lab.call("GET", "applications").1?["value"]?.array?.isEmpty == true)
        let (spStatus, spError, _) = try await lab.call(
            "POST", "servicePrincipals", json: #"{"appId": "\#(app?["appId"]?.string ?? "")"}"#)
        #expect(
            spStatus == 400
                && spError?["error"]?["message"]?.string?.contains("does not reference a valid application object")
                    == true
        )
        try await Task.sleep(for: .milliseconds(6100))
        #expect(try await lab.call("GET", "applications/\(id)").0 == 200)
        #expect(
            try await lab.call("POST", "servicePrincipals", json: #"{"appId": "\#(app?["appId"]?.string ?? "")"}"#).0
                == 201)
        await lab.stop()
    }

    @Test func aNewSecretIsRefusedUntilItPropagates() async throws {
        let lab = try await GraphLab.start()
        lab.faults { $0.propagationMs = 4000 }
        let (_, app, _) = try await lab.call("POST", "applications", json: #"{"displayName": "secretive"}"#)
        let (_, password, _) = try await lab.call(
            "POST", "applications/\(app?["id"]?.string ?? "")/addPassword",
            json: #"{"passwordCredential": {"displayName": "PBX Secret"}}"#)
        let secret = try #require(password?["secretText"]?.string)
        let appID = try #require(app?["appId"]?.string)
        let tenant = lab.tenant.id.uuidString
        let early = await #expect(throws: GraphError.self) {
            try await TokenClient(http: lab.http, loginBaseURL: lab.base).token(
                tenant: tenant, clientID: appID, credential: .secret(secret),
                context: FailureContext(recentlyCreatedCredential: true))
        }
        #expect(early?.failure == .propagation)
        try await Task.sleep(for: .milliseconds(4100))
        _ = try await TokenClient(http: lab.http, loginBaseURL: lab.base).token(
            tenant: tenant, clientID: appID, credential: .secret(secret))
        await lab.stop()
    }

    @Test func throttlingAnswers429WithRetryAfterAndScope() async throws {
        let lab = try await GraphLab.start()
        lab.faults {
            $0.throttleWrites = 5; $0.throttleWindowS = 60
        }
        for index in 0..<5 {
            #expect(try await lab.call("POST", "applications", json: #"{"displayName": "w\#(index)"}"#).0 == 201)
        }
        let (status, _, response) = try await lab.call(
            "POST", "applications", json: #"{"displayName": "one too many"}"#)
        #expect(status == 429)
        #expect(response.header("x-ms-throttle-scope")?.hasPrefix("Tenant_Application/ReadWrite/") == true)
        let retryAfter = try #require(response.header("retry-after").flatMap(Int.init))
        #expect(retryAfter > 0 && retryAfter <= 60)
        #expect(try await lab.call("GET", "organization").0 == 200)  // reads are not counted
        await lab.stop()
    }

    @Test func theTenantWideLimitCountsEveryApp() async throws {
        let lab = try await GraphLab.start()
        lab.faults {
            $0.throttleTenantWrites = 3; $0.throttleTenantWindowS = 60
        }
        for index in 0..<3 {
            #expect(try await lab.call("POST", "applications", json: #"{"displayName": "t\#(index)"}"#).0 == 201)
        }
        let (status, _, response) = try await lab.call("POST", "applications", json: #"{"displayName": "t4"}"#)
        #expect(status == 429)
        #expect(response.header("x-ms-throttle-scope") == "Tenant/ReadWrite/\(lab.tenant.id.uuidString.lowercased())")
        await lab.stop()
    }

    @Test func latencyIsAddedWithoutHoldingOtherRequests() async throws {
        let lab = try await GraphLab.start()
        lab.faults { $0.latencyMs = 300 }
        let started = ContinuousClock.now
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<20 { group.addTask { try await lab.call("GET", "organization").0 } }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(statuses.allSatisfy { $0 == 200 })
        #expect(ContinuousClock.now - started >= .milliseconds(300))  // never faster than the injected latency
        await lab.stop()
    }

    @Test func theJournalRecordsEverythingButSecrets() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("journal-\(UUID().uuidString).jsonl")
            .path
        let simulator = try Simulator(world: World(customers: 5, seed: 9), journal: path)
        let base = try simulator.start()
        let http = HTTPClient()
        let tenant = simulator.world.customers[3]
        let token = try await TokenClient(http: http, loginBaseURL: base).token(
            tenant: tenant.id.uuidString, clientID: simulator.world.partnerApp.appID.uuidString,
            credential: .secret(simulator.world.partnerSecret))
        let created = try await http.execute(
            HTTPRequest(
                method: "POST", url: "\(base)/v1.0/applications",
                headers: [("Authorization", "Bearer \(token.value)"), ("Content-Type", "application/json")],
                body: Array(#"{"displayName": "j"}"#.utf8)))
        let id = try #require(try JSONDecoder().decode(JSONValue.self, from: Data(created.body))["id"]?.string)
        let password = try await http.execute(
            HTTPRequest(
                method: "POST", url: "\(base)/v1.0/applications/\(id)/addPassword",
                headers: [("Authorization", "Bearer \(token.value)"), ("Content-Type", "application/json")],
                body: Array("{}".utf8)))
        let secret = try #require(
            try JSONDecoder().decode(JSONValue.self, from: Data(password.body))["secretText"]?.string)
        http.shutdown()
        await simulator.stop()
        let journal = try String(contentsOfFile: path, encoding: .utf8)
        let lines = journal.split(separator: "\n")
        #expect(lines.count == 3)
        #expect(!journal.contains(secret))
        #expect(!journal.contains(simulator.world.partnerSecret))
        #expect(!journal.contains(token.value))
        #expect(journal.contains("<redacted>"))
        let first = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any]
        #expect(first?["status"] as? Int == 200 && first?["method"] as? String == "POST")
    }
}
