import Logging
import Queue
import ServiceLifecycle

/// Every `interval`, declares workers silent for the lease dead and returns their jobs to the queue. Any
/// worker may run it: the reap is idempotent.
public struct ReaperService: Service {
    public let queue: any QueueDriver
    public let interval: Duration
    public let lease: Duration
    private let logger: Logger

    public init(queue: any QueueDriver, interval: Duration, lease: Duration, logger: Logger) {
        self.queue = queue
        self.interval = interval
        self.lease = lease
        self.logger = logger
    }

    public func run() async throws {
        repeat {
            do {
                let rescued = try await queue.reap(lease: lease)
                if rescued > 0 {
                    logger.notice("rescued jobs of dead workers", metadata: ["jobs.rescued": "\(rescued)"])
                }
            } catch {
                logger.warning("reap failed", metadata: ["error": "\(error)"])
            }
        } while await sleepUnlessStopping(interval)
    }
}
