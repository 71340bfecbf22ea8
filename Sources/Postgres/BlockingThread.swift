import Foundation
import Synchronization

/// One OS thread that runs submitted closures in submission order.
///
/// libpq's calls block (connect, query, `pg_advisory_lock` waits, …). They run here, never on Swift's
/// cooperative pool, which has only as many threads as cores (2 on our machines): one slow query there
/// would stall every task in the process. Each `PostgresConnection` owns one such thread, which also gives
/// libpq what it requires: a `PGconn` is used by one thread at a time.
///
/// Sendable: the job queue is guarded by `condition`.
final class BlockingThread: @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [@Sendable () -> Void] = []  // guarded by `condition`
    private var head = 0  // guarded by `condition`
    private var stopping = false  // guarded by `condition`
    private let submitted = Atomic<Int>(0)

    /// Jobs submitted so far: each is a wake-up of this thread and, for `run`, of the awaiting task.
    var jobsSubmitted: Int { submitted.load(ordering: .relaxed) }

    init(name: String) {
        let thread = Thread { [self] in self.loop() }
        thread.name = name
        thread.start()
    }

    private func loop() {
        while true {
            condition.lock()
            while head == jobs.count && !stopping { condition.wait() }
            if head == jobs.count {  // stopping and drained
                condition.unlock()
                return
            }
            let job = jobs[head]
            head += 1
            if head == jobs.count {
                jobs.removeAll(keepingCapacity: true)
                head = 0
            }
            condition.unlock()
            job()
        }
    }

    /// Queues `job`. After `stop()`, jobs still run (the thread drains its queue before it exits).
    func submit(_ job: @escaping @Sendable () -> Void) {
        submitted.add(1, ordering: .relaxed)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    /// Runs `body` on this thread and returns its result to the awaiting task.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            submit { continuation.resume(with: Result(catching: body)) }
        }
    }

    /// Lets the thread exit once its queue is empty.
    func stop() {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
    }
}
