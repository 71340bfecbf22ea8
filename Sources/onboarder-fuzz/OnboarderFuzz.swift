import Foundation
import Graph
import HTTP
import OnboarderConfig
import Pipeline
import Queue
import Simulator

#if canImport(Glibc)
    import Glibc
#endif

/// `onboarder-fuzz TARGET --inputs N --seed S --corpus DIR`: feeds the enqueue parser and validator, the
/// configuration loader, or the decoders of what Graph / Entra / the PBX answer with random and mutated
/// inputs from a seeded generator, and checks that each input is either accepted or rejected with a reason
/// (and never crashes or hangs). Run through `scripts/fuzz`, which prints the report.
///
/// A crash (a Swift trap is a signal) or an input running longer than the hang limit writes the input to
/// `<out>/crash-<target>` or `<out>/hang-<target>` and exits with 70 / 71.
#if LIBFUZZER
    /// Built by `scripts/fuzz` with `-sanitize=fuzzer -DLIBFUZZER`: libFuzzer's own main drives the same
    /// checks with coverage guidance; the target comes from `ONBOARDER_FUZZ_TARGET`.
    nonisolated(unsafe) private var libFuzzer: Fuzzer = {
        var options = try! Options([
            "onboarder-fuzz", ProcessInfo.processInfo.environment["ONBOARDER_FUZZ_TARGET"] ?? "enqueue",
        ])
        options.out = ProcessInfo.processInfo.environment["ONBOARDER_FUZZ_OUT"] ?? ".local/fuzz"
        return Fuzzer(options: options)
    }()

    @_silgen_name("LLVMFuzzerRunDriver")
    func LLVMFuzzerRunDriver(
        _ argc: UnsafeMutablePointer<CInt>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
    ) -> CInt

    /// SwiftPM links an executable's entry point under this name; libFuzzer's driver takes it from there.
    @_cdecl("onboarder_fuzz_main")
    public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
        var count = argc
        var vector = argv
        return LLVMFuzzerRunDriver(&count, &vector, fuzzOneInput)
    }

    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
        let input = size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size))
        let before = libFuzzer.violations.count
        _ = try? libFuzzer.attempt(input)
        if libFuzzer.violations.count > before {
            FileHandle.standardError.write(Data("violation: \(libFuzzer.violations[before])\n".utf8))
            try? Data(input).write(
                to: URL(fileURLWithPath: "\(libFuzzer.options.out)/violation-\(libFuzzer.options.target)"))
            abort()  // libFuzzer keeps the input as a crash
        }
        return 0
    }
#else
    @main
    struct OnboarderFuzz {
        static func main() throws {
            let options = try Options(CommandLine.arguments)
            var fuzzer = Fuzzer(options: options)
            try fuzzer.run()
        }
    }
#endif

struct Options {
    var target = ""
    var inputs = 20_000
    var seed: UInt64 = 1
    var corpus = "config"
    var out = ".local/fuzz"
    var hangSeconds = 5

    init(_ arguments: [String]) throws {
        var rest = arguments.dropFirst()
        guard let target = rest.popFirst(), ["enqueue", "config", "responses"].contains(target) else {
            throw FuzzUsage()
        }
        self.target = target
        while let flag = rest.popFirst() {
            guard let value = rest.popFirst() else { throw FuzzUsage() }
            switch flag {
            case "--inputs": inputs = Int(value) ?? inputs
            case "--seed": seed = UInt64(value) ?? seed
            case "--corpus": corpus = value
            case "--out": out = value
            case "--hang-seconds": hangSeconds = Int(value) ?? hangSeconds
            default: throw FuzzUsage()
            }
        }
    }
}

struct FuzzUsage: Error, CustomStringConvertible {
    var description: String {
        "usage: onboarder-fuzz enqueue|config|responses [--inputs N] [--seed S] [--corpus DIR] [--out DIR]"
    }
}

/// The simulator's seeded generator (SplitMix64): a run, and a crash it finds, replays.
extension SeededRandom {
    mutating func below(_ n: Int) -> Int { n <= 1 ? 0 : Int(next() % UInt64(n)) }
    mutating func chance(_ p: Double) -> Bool { Double(next() >> 11) / Double(1 << 53) < p }
}

// MARK: Crash and hang capture

/// The input being tried, where a signal handler can reach it without allocating.
nonisolated(unsafe) private var currentInput = UnsafeMutablePointer<UInt8>.allocate(capacity: 1 << 22)
nonisolated(unsafe) private var currentLength = 0
nonisolated(unsafe) private var crashPath = [CChar](repeating: 0, count: 4096)
nonisolated(unsafe) private var inputStarted = 0.0

private func writeCurrentInput(to path: UnsafePointer<CChar>) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    if fd >= 0 {
        _ = write(fd, currentInput, currentLength)
        close(fd)
    }
}

private func installCrashHandler(path: String) {
    _ = path.withCString { strncpy(&crashPath, $0, 4095) }
    for signal in [SIGILL, SIGTRAP, SIGSEGV, SIGBUS, SIGABRT, SIGFPE] {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in
            crashPath.withUnsafeBufferPointer { writeCurrentInput(to: $0.baseAddress!) }
            _exit(70)
        }
        action.sa_flags = Int32(bitPattern: UInt32(SA_RESETHAND))
        sigaction(signal, &action, nil)
    }
}

struct Fuzzer {
    let options: Options
    var random: SeededRandom
    var corpus: [[UInt8]] = []
    var outcomes: [String: Int] = [:]
    var reasons: [String: Int] = [:]
    var violations: [String] = []
    var largest = 0
    let scratch: String

    init(options: Options) {
        self.options = options
        random = SeededRandom(seed: options.seed)
        scratch = "\(options.out)/input-\(getpid()).toml"
    }

    mutating func run() throws {
        try FileManager.default.createDirectory(atPath: options.out, withIntermediateDirectories: true)
        installCrashHandler(path: "\(options.out)/crash-\(options.target)")
        startWatchdog(path: "\(options.out)/hang-\(options.target)", limit: Double(options.hangSeconds))
        corpus = try seeds()
        let started = Date()
        for index in 0..<options.inputs {
            var input = index < corpus.count ? corpus[index] : mutate()
            if input.count > (1 << 22) { input.removeLast(input.count - (1 << 22)) }
            largest = max(largest, input.count)
            input.withUnsafeBufferPointer { currentInput.update(from: $0.baseAddress!, count: $0.count) }
            currentLength = input.count
            inputStarted = Date().timeIntervalSince1970
            let outcome = try attempt(input)
            inputStarted = 0
            outcomes[outcome, default: 0] += 1
            // Some accepted inputs join the corpus to mutate, so mutations reach past the first rejection.
            if outcome == "accepted" && corpus.count < 2000 && random.chance(0.05) { corpus.append(input) }
        }
        try? FileManager.default.removeItem(atPath: scratch)
        let seconds = Date().timeIntervalSince(started)
        var report: [String: Any] = [
            "target": options.target, "seed": options.seed, "inputs": options.inputs, "seconds": seconds,
            "outcomes": outcomes, "largest_input_bytes": largest, "crashes": 0, "hangs": 0,
            "violations": violations.prefix(20).map { $0 },
            "top_reasons": reasons.sorted { $0.value > $1.value }.prefix(8).map { "\($0.value)× \($0.key)" },
        ]
        report["violation_count"] = violations.count
        let data = try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
        if !violations.isEmpty { exit(1) }
    }

    /// Arms a thread that writes the current input and exits when one input runs longer than `limit`.
    func startWatchdog(path: String, limit: Double) {
        let thread = Thread {
            while true {
                Thread.sleep(forTimeInterval: 0.25)
                let started = inputStarted
                if started > 0 && Date().timeIntervalSince1970 - started > limit {
                    path.withCString { writeCurrentInput(to: $0) }
                    _exit(71)
                }
            }
        }
        thread.start()
    }

    mutating func reason(_ text: String) {
        // Group reasons by their shape: digits and quoted parts vary per input.
        var shape = ""
        var quoted = false
        for ch in text.prefix(90) {
            if ch == "`" || ch == "\"" { quoted.toggle(); if quoted { shape += "…" }; continue }
            if quoted { continue }
            shape.append(ch.isNumber ? "#" : ch)
        }
        reasons[shape, default: 0] += 1
    }

    mutating func violation(_ text: String, _ input: [UInt8]) {
        if violations.count < 200 {
            violations.append("\(text) — input (base64): \(Data(input.prefix(300)).base64EncodedString())")
        }
    }

    // MARK: Targets

    mutating func attempt(_ input: [UInt8]) throws -> String {
        switch options.target {
        case "enqueue": return enqueue(input)
        case "config": return try config(input)
        default: return responses(input)
        }
    }

    /// The enqueue file: every problem names a line (and a column when it is a field's) and a reason, no
    /// accepted row sits on a rejected line, and rows + rejected lines never exceed the records read.
    mutating func enqueue(_ input: [UInt8]) -> String {
        let name = random.chance(0.3) ? "customers.jsonl" : "customers.csv"
        let result = EnqueueFile.read(Data(input), name: name, rules: Self.enqueueRules)
        for problem in result.problems {
            if problem.reason.isEmpty || problem.line < 1 { violation("a problem without a reason or line", input) }
            reason(problem.reason)
        }
        let accepted = Set(result.rows.map(\.line))
        if !accepted.isDisjoint(with: result.rejectedLines) {
            violation("a row both accepted and rejected", input)
        }
        if !result.problems.isEmpty && result.rejectedLines.isEmpty && !result.rows.isEmpty {
            violation("problems reported, rows accepted, but no line rejected", input)
        }
        // A rejected line has a problem naming it, unless the header (the first line with text in a CSV file)
        // is what is wrong: then no row can be read, and the header's problems say why.
        let firstRecord = (result.rejectedLines.union(accepted)).min() ?? Int.max
        let headerProblem = !name.hasSuffix(".jsonl") && result.problems.contains { $0.line < firstRecord }
        for line in result.rejectedLines where !headerProblem && !result.problems.contains(where: { $0.line == line }) {
            violation("line \(line) rejected without a problem naming it", input)
        }
        if result.rows.contains(where: { $0.tenant.isEmpty || $0.msp.isEmpty }) {
            violation("an accepted row without tenant or MSP", input)
        }
        if result.problems.isEmpty { return result.rows.isEmpty ? "accepted (no rows)" : "accepted" }
        return result.rows.isEmpty ? "rejected" : "rejected in part (valid rows kept)"
    }

    /// The configuration file: loads, or fails with errors that each name the file and say why.
    mutating func config(_ input: [UInt8]) throws -> String {
        try Data(input).write(to: URL(fileURLWithPath: scratch))
        do {
            _ = try ResolvedConfiguration.load(file: scratch, environment: [:])
            return "accepted"
        } catch {
            if error.errors.isEmpty { violation("rejected without an error", input) }
            for problem in error.errors {
                let text = problem.description
                if !text.contains(scratch) || problem.message.isEmpty {
                    violation("an error that does not name the file or says nothing: \(text)", input)
                }
                reason(problem.message)
            }
            return "rejected"
        }
    }

    /// What Graph, Entra and the PBX send back: decoded into each model Onboarder reads, classified as an
    /// error with every status Onboarder handles, and a Retry-After taken from it all the way to the
    /// delay a completion would store. Decoding may fail (that is a rejection); it must not trap.
    mutating func responses(_ input: [UInt8]) -> String {
        let data = Data(input)
        let decoder = JSONDecoder()
        var decoded = 0
        func attempt<T: Decodable>(_ type: T.Type) -> Bool { (try? decoder.decode(T.self, from: data)) != nil }
        for ok in [
            attempt(GraphApplication.self), attempt(GraphServicePrincipal.self), attempt(GraphOrganization.self),
            attempt(ODataPage<GraphUser>.self), attempt(ODataPage<GraphSubscribedSku>.self),
            attempt(ODataPage<GraphAppRoleAssignment>.self), attempt(GraphDomain.self),
            attempt(ODataPage<GraphVerificationRecord>.self), attempt(GraphPermissionGrant.self),
        ] where ok { decoded += 1 }
        let statuses = [200, 400, 401, 403, 404, 409, 429, 500, 502, 503, 504, 507]
        let status = statuses[random.below(statuses.count)]
        let retryAfter = randomRetryAfter()
        let response = HTTPResponse(
            status: status, headers: retryAfter.map { [("Retry-After", $0)] } ?? [], body: input,
            clientRequestID: UUID())
        let error = FailureClassifier.classify(response)
        if error.message.isEmpty { violation("a classified error without a message", input) }
        if case .transient(let after) = error.failure {
            if let after, after < .zero || after > FailureClassifier.longestRetryAfter {
                violation("a Retry-After out of range: \(after) from \(retryAfter ?? "")", input)
            }
            if case .retry(let delay) = RetryPolicy().decide(failures: 1, retryAfter: after) {
                let completion = JobQueue.Completion(id: 1, state: "waiting", delay: delay)
                if (completion.delay_ms ?? -1) < 0 { violation("a negative delay", input) }
            }
        }
        reason("\(error.failure)".prefix { $0 != "(" } + " \(status)")
        return decoded > 0 ? "decoded as \(decoded) model(s)" : "rejected (not a model Onboarder reads)"
    }

    mutating func randomRetryAfter() -> String? {
        switch random.below(8) {
        case 0: return nil
        case 1: return String(random.below(3600))
        case 2: return String(random.next())  // up to 2^64
        case 3: return String(repeating: "9", count: 1 + random.below(40))
        case 4: return "-\(random.below(100))"
        case 5: return "Wed, 21 Oct 2015 07:28:00 GMT"
        case 6: return "Fri, 31 Dec 9999 23:59:59 GMT"
        default: return String(decoding: (0..<random.below(12)).map { _ in UInt8(random.below(256)) }, as: UTF8.self)
        }
    }

    // MARK: Inputs

    /// The rules of a deployment that allows PBX secret files and variables (and the simulator's loopback
    /// PBXs), so that rows get past the reference checks to everything after them.
    static let enqueueRules = EnqueueRules(
        references: SecretReferencePolicy(directories: ["/etc/onboarder/pbx"], environmentPrefixes: ["PBX_SECRET_"]),
        pbxEndpoints: PBXEndpointPolicy(allowLoopbackHTTP: true))

    func seeds() throws -> [[UInt8]] {
        func file(_ path: String) -> [UInt8]? { FileManager.default.contents(atPath: path).map { [UInt8]($0) } }
        switch options.target {
        case "enqueue":
            var seeds: [[UInt8]] = []
            if let csv = file("\(options.corpus)/sample-tenants.csv") { seeds.append(csv) }
            seeds.append(
                Array(
                    """
                    {"msp":"m1","tenant":"c1.onmicrosoft.com","path":"teams","pbx_url":"https://pbx.example.com","pbx_client_id":"onboarder","pbx_secret":"env:PBX_SECRET_C1","users":["a@c1.onmicrosoft.com"],"priority":3}
                    {"msp":"m1","tenant":"2f1c7e2a-8f0e-4c4b-9a55-3b8f3c2d1e0f","path":"m365","pbx_url":"https://pbx2.example.com","pbx_client_id":"onboarder","pbx_secret":"file:/etc/onboarder/pbx/pbx2"}

                    """.utf8))
            seeds.append(
                Array(
                    "\u{FEFF}msp,tenant,path,pbx_url,pbx_client_id,pbx_secret,display_name\r\nm1,c2.example.com,m365,https://pbx.example.com,id,env:PBX_SECRET_X,\"A, \"\"quoted\"\"\r\nname\"\r\n"
                        .utf8))
            return seeds
        case "config":
            return [file("\(options.corpus)/onboarder.example.toml") ?? [], Array("[worker]\nconcurrency = 5\n".utf8)]
        default:
            return [
                #"{"id":"1b4c5d6e-0000-4000-8000-000000000001","appId":"2b4c5d6e-0000-4000-8000-000000000002","displayName":"x","passwordCredentials":[{"keyId":"3b4c5d6e-0000-4000-8000-000000000003","displayName":"PBX Secret","endDateTime":"2028-01-01T00:00:00Z","hint":"abc"}],"keyCredentials":[]}"#,
                #"{"value":[{"id":"u1","userPrincipalName":"a@b.com","assignedLicenses":[{"skuId":"4b4c5d6e-0000-4000-8000-000000000004"}]}],"@odata.nextLink":"https://graph.microsoft.com/v1.0/users?$skiptoken=x"}"#,
                #"{"value":[{"skuId":"4b4c5d6e-0000-4000-8000-000000000004","skuPartNumber":"ENTERPRISEPREMIUM","prepaidUnits":{"enabled":25},"consumedUnits":3,"servicePlans":[{"servicePlanName":"MCOEV","servicePlanId":"4828c8ec-dc2e-4779-b502-87ac9ce28ab7"}]}]}"#,
                #"{"id":"5b4c5d6e-0000-4000-8000-000000000005","displayName":"Contoso","verifiedDomains":[{"name":"contoso.onmicrosoft.com","isDefault":true,"isInitial":true}]}"#,
                #"{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation.","innerError":{"request-id":"r1","date":"2026-11-26T00:00:00"}}}"#,
                #"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.","error_codes":[7000215],"trace_id":"t1","correlation_id":"c1"}"#,
                #"{"value":[{"id":"6b4c5d6e-0000-4000-8000-000000000006","principalId":"7b4c5d6e-0000-4000-8000-000000000007","resourceId":"8b4c5d6e-0000-4000-8000-000000000008","appRoleId":"df021288-bdef-4463-88db-98f22de89214"}]}"#,
            ].map { Array($0.utf8) }
        }
    }

    /// One mutation, or a few stacked: byte flips, inserts of interesting tokens, deletions, duplicated
    /// ranges, splices of two corpus entries, and generated structures (deep nesting, long fields).
    mutating func mutate() -> [UInt8] {
        var input = corpus[random.below(corpus.count)]
        for _ in 0...random.below(4) {
            let position = random.below(input.count + 1)
            switch random.below(10) {
            case 0 where !input.isEmpty:
                input[min(position, input.count - 1)] ^= UInt8(1 << random.below(8))
            case 1 where !input.isEmpty:
                input[min(position, input.count - 1)] = UInt8(random.below(256))
            case 2:
                let tokens = [
                    ",", "\"", "\"\"", "\r\n", "\n", "\r", "\u{FEFF}", "\0", "=", "[", "]", "{", "}", "[[", "#", "'",
                    "\\", "\\u0000", "\\uD800", "é", "\u{202E}", "𝔘", "%00", "..", "@", "*", " ", "\t", "true",
                    "null", "1e999", "-0", "99999999999999999999999", "0x1F", "\"\"\"", "'''", "[worker]",
                    "a.b.c = ", "{\"", "\":", "http://", "https://[::1]/", "env:", "file:/", "json:/x#a.b",
                ]
                input.insert(contentsOf: Array(tokens[random.below(tokens.count)].utf8), at: position)
            case 3 where !input.isEmpty:
                let length = min(input.count - min(position, input.count - 1), 1 + random.below(64))
                input.removeSubrange(min(position, input.count - 1)..<min(position, input.count - 1) + length)
            case 4 where !input.isEmpty:
                let start = random.below(input.count)
                let length = min(input.count - start, 1 + random.below(128))
                input.insert(contentsOf: input[start..<start + length], at: position)
            case 5:
                let other = corpus[random.below(corpus.count)]
                let cut = random.below(other.count + 1)
                input = Array(input.prefix(position)) + Array(other.suffix(from: cut))
            case 6:
                // Deep nesting: what a recursive parser dies of.
                let depth = [10, 1000, 100_000][random.below(3)]
                let open = Array((random.chance(0.5) ? "[" : "{\"a\":").utf8)
                var nested: [UInt8] = []
                for _ in 0..<depth { nested += open }
                input.insert(contentsOf: nested, at: position)
            case 7:
                // A long field.
                let length = [300, 70_000, 1_000_000][random.below(3)]
                input.insert(contentsOf: [UInt8](repeating: UInt8(ascii: "a"), count: length), at: position)
            case 8:
                input.insert(contentsOf: (0..<random.below(16)).map { _ in UInt8(random.below(256)) }, at: position)
            default:
                if input.count > 1 { input.removeLast(random.below(input.count)) }
            }
        }
        return input
    }
}
