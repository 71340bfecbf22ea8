import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Runs a command to completion and returns its exit status and combined output.
///
/// posix_spawn + waitpid on a thread of its own, instead of Foundation's `Process`, whose
/// `waitUntilExit` was seen here to hang forever on Linux when called from a Swift concurrency thread.
public func runCommand(_ arguments: [String], environment: [String: String] = [:]) async throws -> (
    status: Int32, output: String
) {
    let outputPath = NSTemporaryDirectory() + "onboarder-cmd-\(UUID().uuidString)"
    defer { unlink(outputPath) }
    let child = try ChildProcess(arguments, environment: environment, logPath: outputPath, truncate: true)
    let status = await child.wait()
    return (status, child.output)
}

struct SpawnError: Error, CustomStringConvertible {
    let description: String
}

/// A child process started in the background (a worker, a test server), with its output in a file. One that
/// was never waited for is killed when the last reference goes: a test that fails half-way (a throw skips its
/// SIGTERM and wait) leaves no worker running behind it.
public final class ChildProcess: Sendable {
    public let pid: pid_t
    public let logPath: String
    private let reaped = Atomic<Bool>(false)

    /// Starts `arguments` with `environment` merged into ours; standard output and error go to `logPath`
    /// (appended to, or replaced when `truncate`).
    public init(_ arguments: [String], environment: [String: String] = [:], logPath: String, truncate: Bool = false)
        throws
    {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(
            &actions, 1, logPath, O_WRONLY | O_CREAT | (truncate ? O_TRUNC : O_APPEND), 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        var merged = ProcessInfo.processInfo.environment
        merged.merge(environment) { $1 }
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        // An empty signal mask and default handlers: otherwise the child inherits the spawning thread's
        // mask, where the test runtime blocks SIGTERM, and would ignore it.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        let spawned = posix_spawnp(&pid, arguments[0], &actions, &attributes, argv, envp)
        guard spawned == 0 else {
            throw SpawnError(description: "cannot start \(arguments[0]): \(String(cString: strerror(spawned)))")
        }
        self.pid = pid
        self.logPath = logPath
    }

    public func signal(_ signal: Int32) {
        kill(pid, signal)
    }

    /// Waits for the process to end (on a thread of its own, never the cooperative pool) and returns its
    /// exit status, or 128 + the signal that killed it.
    public func wait() async -> Int32 {
        let pid = self.pid
        let status = await withCheckedContinuation { continuation in
            Thread {
                var status: Int32 = 0
                while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
                continuation.resume(returning: (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f))
            }.start()
        }
        reaped.store(true, ordering: .sequentiallyConsistent)
        return status
    }

    deinit {
        // Only a child not yet reaped: a reaped one's pid may belong to another process by now.
        guard !reaped.load(ordering: .sequentiallyConsistent) else { return }
        kill(pid, SIGKILL)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
    }

    public var output: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
}

/// Where the executables `swift build` made live: beside the test bundle.
public var builtProductsDirectory: URL {
    URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
}
