import Simulator
import Testing

/// The fault middleware's decision for one request, as a pure function of the settings, the generator's
/// state and the request's kind; the HTTP-level behaviour is in FaultTests.
@Suite("Fault decisions")
struct FaultDecisionTests {
    func faults(_ configure: (inout Faults) -> Void) -> FaultState {
        var faults = Faults()
        configure(&faults)
        return FaultState(faults: faults)
    }

    @Test func aSeedReplaysTheSameDecisions() {
        func run() -> [Int?] {
            var state = faults {
                $0.errorRate = 0.5
                $0.seed = 7
            }
            return (0..<200).map { _ in
                FaultInjection.decide(&state, isGraph: true, write: false, caller: nil).injected
            }
        }
        let first = run()
        #expect(first == run())
        #expect(first.contains(nil) && first.contains { $0 != nil })
    }

    @Test func injectedStatusesDependOnTheSurfaceAndTheMethod() {
        var state = faults { $0.errorRate = 1 }
        let graphWrites = Set(
            (0..<400).compactMap { _ in FaultInjection.decide(&state, isGraph: true, write: true, caller: nil).injected
            })
        let tokenRequests = Set(
            (0..<400).compactMap { _ in FaultInjection.decide(&state, isGraph: false, write: true, caller: nil).injected
            })
        #expect(graphWrites == [429, 500, 502, 503, 504, 507])
        #expect(tokenRequests == [429, 500, 502, 503, 504])
        var chosen = faults {
            $0.errorRate = 1
            $0.errorStatuses = [503]
        }
        #expect(FaultInjection.decide(&chosen, isGraph: true, write: false, caller: nil).injected == 503)
    }

    @Test func throttlingCountsWritesPerAppAndTenantAndNamesTheScope() {
        var state = faults {
            $0.throttleWrites = 2
            $0.throttleWindowS = 60
        }
        let decisions = (0..<4).map { _ in
            FaultInjection.decide(&state, isGraph: true, write: true, caller: "tenant-a/app-1")
        }
        #expect(decisions.map { $0.throttled == nil } == [true, true, false, false])
        #expect(decisions[2].throttled?.1 == "Tenant_Application/ReadWrite/tenant-a/app-1")
        #expect(decisions[2].throttled.map { $0.0 > 0 && $0.0 <= 60 } == true)
        #expect(decisions.map(\.again) == [false, false, false, true])
        // Another app of the same tenant has its own window; reads are never throttled.
        #expect(FaultInjection.decide(&state, isGraph: true, write: true, caller: "tenant-a/app-2").throttled == nil)
        #expect(FaultInjection.decide(&state, isGraph: true, write: false, caller: "tenant-a/app-1").throttled == nil)
    }

    @Test func onlyGraphWritesAreLostAndLatencyAddsItsJitter() {
        var state = faults {
            $0.lostResponseRate = 1
            $0.latencyMs = 100
            $0.jitterMs = 10
        }
        #expect(FaultInjection.decide(&state, isGraph: true, write: true, caller: nil).lost)
        #expect(!FaultInjection.decide(&state, isGraph: true, write: false, caller: nil).lost)
        #expect(!FaultInjection.decide(&state, isGraph: false, write: true, caller: nil).lost)
        let delay = FaultInjection.decide(&state, isGraph: false, write: false, caller: nil).delay
        #expect(delay >= .milliseconds(100) && delay <= .milliseconds(110))
    }
}
