import HTTP
import OnboarderConfig
import PBX
import Testing

@testable import onboarder

@Suite("The PBX client directory")
struct XAPIDirectoryTests {
    @Test func oneClientPerPBXReplacedWhenItsSecretChangesAndDroppedWhenIdle() {
        let http = HTTPClient()
        let directory = XAPIDirectory(http: http)
        let first = directory.client(baseURL: "https://pbx1.example", clientID: "onboarder", secret: "s1")
        // The same PBX and API client: the same instance, so that its one-token rule holds.
        #expect(directory.client(baseURL: "https://pbx1.example", clientID: "onboarder", secret: "s1") === first)
        // An operator changed the PBX's API secret: a client with the new secret, not the stale one.
        let changed = directory.client(baseURL: "https://pbx1.example", clientID: "onboarder", secret: "s2")
        #expect(changed !== first)
        #expect(directory.count == 1)

        // Clients idle past the limit are dropped as new ones arrive: 10,000 customers do not mean 10,000
        // clients held for ever.
        let forgetful = XAPIDirectory(http: http, idleLimit: .zero)
        for i in 0..<1000 {
            _ = forgetful.client(baseURL: "https://pbx\(i).example", clientID: "onboarder", secret: "s")
        }
        #expect(forgetful.count < 256)
        let kept = XAPIDirectory(http: http)
        for i in 0..<1000 {
            _ = kept.client(baseURL: "https://pbx\(i).example", clientID: "onboarder", secret: "s")
        }
        #expect(kept.count == 1000)
    }
}

@Suite("The worker's HTTP client")
struct WorkerHTTPConfigurationTests {
    /// Found by scripts/bench e2e: behind a fixed cap of 64 connections per host, at concurrency 200 every
    /// call waited its turn inside libcurl (3.23× the bound with the cores half idle).
    @Test func connectionsPerHostFollowTheWorkersConcurrency() throws {
        for (concurrency, atLeast) in [(10, 64), (200, 200), (500, 500)] {
            let config = try ResolvedConfiguration.load(
                file: nil, environment: ["ONBOARDER_WORKER_CONCURRENCY": String(concurrency)])
            #expect(config.httpConfiguration.maxConnectionsPerHost >= atLeast, "concurrency \(concurrency)")
        }
    }
}
