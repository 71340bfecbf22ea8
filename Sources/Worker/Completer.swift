import Logging
import Queue

/// Writes job settlements in batches: the first finisher becomes the writer, and whoever finishes while
/// it writes joins the next batch, which the same writer sends. No timer, so no added latency when idle;
/// under load one statement carries many jobs.
actor Completer {
    private typealias Waiter = CheckedContinuation<Bool, Never>
    private let queue: any QueueDriver
    private let workerID: String
    private let logger: Logger
    private var pending: [(JobSettlement, Waiter)] = []
    private var writing = false

    init(queue: any QueueDriver, workerID: String, logger: Logger) {
        self.queue = queue
        self.workerID = workerID
        self.logger = logger
    }

    /// Records `settlement`; returns false when the job was no longer this worker's (taken back after the
    /// worker was declared dead, or released at the shutdown deadline), so its result was dropped.
    func complete(_ settlement: JobSettlement) async -> Bool {
        if writing {
            return await withCheckedContinuation { pending.append((settlement, $0)) }
        }
        writing = true
        defer { writing = false }
        var own: Bool?
        var batch: [(JobSettlement, Waiter?)] = [(settlement, nil)]
        var backoff = Duration.milliseconds(50)
        while !batch.isEmpty {
            do {
                let mine = try await queue.finish(
                    worker: workerID, batch.map(\.0.completion), stepFailures: batch.compactMap(\.0.stepFailure))
                for (item, waiter) in batch {
                    if let waiter {
                        waiter.resume(returning: mine.contains(item.completion.id))
                    } else {
                        own = mine.contains(item.completion.id)
                    }
                }
                backoff = .milliseconds(50)
                batch = []
            } catch {
                // The database is unreachable: keep the batch and try again. Should the outage outlast the
                // lease, another worker takes the jobs and finish() refuses these late results.
                logger.error(
                    "cannot record job completions; retrying",
                    metadata: ["error": "\(error)", "jobs": "\(batch.count)"])
                if Task.isCancelled {
                    // The worker stops: the lease returns the jobs to the queue.
                    for (_, waiter) in batch { waiter?.resume(returning: false) }
                    for (_, waiter) in pending { waiter.resume(returning: false) }
                    pending = []
                    return false
                }
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(5))
            }
            batch += pending.map { ($0.0, Optional($0.1)) }
            pending = []
        }
        return own ?? false
    }
}
