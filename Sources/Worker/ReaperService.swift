import Logging
import Queue
import ServiceLifecycle

/// Every `interval`, declares workers silent for the lease dead and returns their jobs to the queue. Any
/// worker may run it: the reap is idempotent. Never its own worker (`workerID`): after a pause past the
/// lease its own late heartbeat is for the other workers to judge.
public struct ReaperService: Service {
    public let queue: any QueueDriver
    public let workerID: String
    public let interval: Duration
    public let lease: Duration
    private let logger: Logger

    public init(queue: any QueueDriver, workerID: String, interval: Duration, lease: Duration, logger: Logger) {
        self.queue = queue
        self.workerID = workerID
        self.interval = interval
        self.lease = lease
        self.logger = logger
    }

    public func run() async throws {
        repeat {
            do {
                let rescued = try await queue.reap(lease: lease, reaper: workerID)
                if rescued > 0 {
                    logger.notice("rescued jobs of dead workers", metadata: ["jobs.rescued": "\(rescued)"])
                }
            } catch {
                logger.warning("reap failed", metadata: ["error": "\(error)"])
            }
        } while await sleepUnlessStopping(interval)
    }
}
