import Testing

@testable import Pipeline

@Suite("WritePermitPlan: how a worker takes a partner app's write permits")
struct WritePermitPlanTests {
    struct BatchCase: CustomTestStringConvertible, Sendable {
        var name: String
        var waiting: Int
        var recent = 0
        var burst: Double?
        var expected: Int
        var testDescription: String { name }
    }

    static let batchCases: [BatchCase] = [
        BatchCase(name: "one write: it and the prefetch", waiting: 1, burst: nil, expected: 3),
        BatchCase(
            name: "nobody counted waiting still asks for one and the prefetch", waiting: 0, burst: nil, expected: 3),
        BatchCase(name: "every write waiting, in one statement", waiting: 10, burst: 200, expected: 12),
        BatchCase(name: "never more than the most a batch takes", waiting: 500, burst: 200, expected: 16),
        BatchCase(name: "never more than the bucket holds", waiting: 10, burst: 4, expected: 4),
        BatchCase(name: "a burst under one permit still asks for one", waiting: 3, burst: 0.5, expected: 5),
        BatchCase(name: "a burst of one: one at a time", waiting: 30, burst: 1, expected: 1),
        BatchCase(
            name: "a steady flow: a quarter second of it beyond the writes waiting", waiting: 2, recent: 40,
            burst: 100, expected: 12),
        BatchCase(name: "a trickle: the prefetch still", waiting: 1, recent: 3, burst: 100, expected: 3),
        BatchCase(name: "a flood: the most a batch takes", waiting: 4, recent: 400, burst: 100, expected: 16),
    ]

    @Test(arguments: batchCases)
    func batch(_ c: BatchCase) {
        #expect(WritePermitPlan().batch(waiting: c.waiting, recent: c.recent, burst: c.burst) == c.expected)
    }

    struct DelayCase: CustomTestStringConvertible, Sendable {
        var name: String
        var wanted: Int
        var granted: Int
        var waitSeconds: Double
        var rate: Double
        var expected: Duration?
        var testDescription: String { name }
    }

    static let delayCases: [DelayCase] = [
        DelayCase(name: "all granted: no wait", wanted: 5, granted: 5, waitSeconds: 0, rate: 10, expected: nil),
        DelayCase(
            name: "nothing granted: until the permits missing accumulate", wanted: 3, granted: 0, waitSeconds: 0.05,
            rate: 100, expected: .milliseconds(50)),
        DelayCase(
            name: "the next permit further off than gathering: until it", wanted: 2, granted: 0, waitSeconds: 0.4,
            rate: 2, expected: .milliseconds(400)),
        DelayCase(
            name: "gathering many at a low rate stops at 100 ms", wanted: 16, granted: 0, waitSeconds: 0.01,
            rate: 20, expected: .milliseconds(100)),
        DelayCase(
            name: "some granted: the rest gathered", wanted: 12, granted: 2, waitSeconds: 0.001, rate: 200,
            expected: .milliseconds(50)),
        DelayCase(name: "no rate: no wait", wanted: 3, granted: 0, waitSeconds: 1, rate: 0, expected: nil),
    ]

    @Test(arguments: delayCases)
    func retryDelay(_ c: DelayCase) {
        let delay = WritePermitPlan().retryDelay(
            wanted: c.wanted, granted: c.granted, waitSeconds: c.waitSeconds, rate: c.rate)
        #expect(delay == c.expected)
    }
}
