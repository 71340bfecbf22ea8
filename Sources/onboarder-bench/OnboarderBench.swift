import ArgumentParser
import Foundation
import HTTP

/// Load generators for `scripts/bench`: not part of onboarder itself.
@main
struct OnboarderBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "onboarder-bench", abstract: "Load generators for scripts/bench.", subcommands: [HTTPLoad.self])
}

/// GETs `url` `requests` times with `concurrency` in flight through onboarder's HTTP client; prints one
/// JSON line: requests/s, TCP connections opened, CPU seconds of this process.
struct HTTPLoad: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "http")

    @Argument var url: String
    @Option var requests = 10_000
    @Option var concurrency = 16
    @Option(help: "A header, 'Name: value'.") var header: [String] = []

    func run() async throws {
        let client = HTTPClient()
        let headers = header.map { line -> (name: String, value: String) in
            let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            return (parts[0], parts.count > 1 ? parts[1] : "")
        }
        let started = ContinuousClock.now
        let cpuBefore = Self.cpuSeconds()
        let failures = try await withThrowingTaskGroup(of: Int.self) { group in
            var sent = 0
            var failed = 0
            func send() {
                sent += 1
                group.addTask {
                    (try? await client.execute(HTTPRequest(url: url, headers: headers)).status == 200) == true ? 0 : 1
                }
            }
            for _ in 0..<min(concurrency, requests) { send() }
            while let result = try await group.next() {  // one in for each one out
                failed += result
                if sent < requests { send() }
            }
            return failed
        }
        let elapsed = started.duration(to: .now)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let line =
            #"{"tool":"onboarder","concurrency":\#(concurrency),"requests":\#(requests),"failures":\#(failures),"#
            + #""requests_per_s":\#(Int(Double(requests) / seconds)),"connections":\#(client.statistics.connectionsOpened),"#
            + #""cpu_s":\#(String(format: "%.2f", Self.cpuSeconds() - cpuBefore))}"#
        print(line)
        client.shutdown()
    }

    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6 + Double(usage.ru_stime.tv_sec)
            + Double(usage.ru_stime.tv_usec) / 1e6
    }
}
