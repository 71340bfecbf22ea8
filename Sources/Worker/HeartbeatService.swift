import Logging
import Queue
import ServiceLifecycle

/// Proves the worker alive every `interval`. Throws `WorkerStopped` when the queue says the worker was
/// declared dead (the service group then cancels the worker: its jobs are someone else's). Reports to
/// `healthChanged` when heartbeats fail for half the lease, and when they come back.
///
/// Put it before the worker in the service group: graceful shutdown goes in reverse order, so it keeps
/// beating while the worker drains.
public struct HeartbeatService: Service {
    public let queue: any QueueDriver
    public let workerID: String
    public let interval: Duration
    public let lease: Duration
    private let healthChanged: @Sendable (Bool) -> Void
    private let logger: Logger

    public init(
        queue: any QueueDriver, workerID: String, interval: Duration, lease: Duration, logger: Logger,
        healthChanged: @escaping @Sendable (Bool) -> Void
    ) {
        self.queue = queue
        self.workerID = workerID
        self.interval = interval
        self.lease = lease
        self.logger = logger
        self.healthChanged = healthChanged
    }

    public func run() async throws {
        let clock = ContinuousClock()
        var health = HeartbeatHealth(lease: lease, startedAt: clock.now)
        while await sleepUnlessStopping(interval) {
            var succeeded = false
            do {
                guard try await queue.heartbeat(worker: workerID) else {
                    logger.critical("declared dead by another worker (no heartbeat for the lease); stopping")
                    throw WorkerStopped(description: "worker \(workerID) was declared dead")
                }
                succeeded = true
            } catch let error as WorkerStopped {
                throw error
            } catch {
                logger.warning("heartbeat failed", metadata: ["error": "\(error)"])
            }
            if let healthy = health.beat(succeeded: succeeded, at: clock.now) {
                logger.notice(healthy ? "heartbeat restored; claiming again" : "cannot heartbeat; not claiming")
                healthChanged(healthy)
            }
        }
    }
}

/// Thrown when the worker must stop: it was declared dead (its jobs are someone else's now). The process
/// exits non-zero and systemd restarts it with a new identity.
public struct WorkerStopped: Error, CustomStringConvertible {
    public let description: String
}

/// Sleeps `duration`; false when a graceful shutdown or a cancellation came first.
func sleepUnlessStopping(_ duration: Duration) async -> Bool {
    do {
        try await cancelWhenGracefulShutdown { try await Task.sleep(for: duration) }
    } catch {
        return false
    }
    return !Task.isShuttingDownGracefully && !Task.isCancelled
}
