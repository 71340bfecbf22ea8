import CLibPQ
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// `LISTEN` on a dedicated connection, delivered as an `AsyncStream`.
///
/// The listener owns one OS thread that waits on the connection's socket with `poll(2)` (so no libpq call
/// ever blocks the cooperative pool) and yields each notification. When the connection breaks it
/// reconnects with backoff, listens again and yields `.connected`: notifications sent while it was away
/// are lost, so a consumer treats `.connected` as "look for work now" (the queue polls on it).
///
/// Sendable: the thread owns the libpq handle; shared state is behind a `Mutex`.
public final class PostgresListener: Sendable {
    public enum Event: Sendable, Equatable {
        /// (Re)connected and listening on every channel.
        case connected
        case notification(channel: String, payload: String, senderPID: Int32)
    }

    public let events: AsyncStream<Event>
    private let continuation: AsyncStream<Event>.Continuation
    private let stopping = Atomic<Bool>(false)
    private let finished = Mutex<[CheckedContinuation<Void, Never>]?>([])

    /// Starts listening on `channels` at once.
    public init(configuration: PostgresConfiguration, channels: [String], pollInterval: Duration = .milliseconds(200)) {
        (events, continuation) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .bufferingNewest(10_000))
        let thread = Thread { [self] in
            self.run(
                configuration: configuration, channels: channels, pollMilliseconds: Int32(pollInterval.milliseconds))
        }
        thread.name = "onboarder.listener"
        thread.start()
    }

    /// Stops listening, closes the connection and ends `events`; returns once the thread has finished.
    public func stop() async {
        stopping.store(true, ordering: .relaxed)
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            let done = finished.withLock { waiters -> Bool in
                guard waiters != nil else { return true }
                waiters!.append(waiter)
                return false
            }
            if done { waiter.resume() }
        }
    }

    private func run(configuration: PostgresConfiguration, channels: [String], pollMilliseconds: Int32) {
        var conn: OpaquePointer?
        let notices = NoticeSink(logger: configuration.logger)
        var backoff = 0.05
        while !stopping.load(ordering: .relaxed) {
            if conn == nil {
                do {
                    let candidate = try LibPQ.connect(configuration, notices: notices)
                    for channel in channels {
                        let result = PQexec(candidate, "LISTEN \(PostgresQuery.quoteIdentifier(channel))")
                        defer { PQclear(result) }
                        guard PQresultStatus(result) == PGRES_COMMAND_OK else {
                            throw LibPQ.error(conn: candidate, result: result, query: "LISTEN")
                        }
                    }
                    conn = candidate
                    backoff = 0.05
                    continuation.yield(.connected)
                } catch {
                    Thread.sleep(forTimeInterval: backoff)
                    backoff = min(backoff * 2, 2)
                    continue
                }
            }
            guard let current = conn else { continue }
            var descriptor = pollfd(fd: PQsocket(current), events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, pollMilliseconds)
            if ready > 0, PQconsumeInput(current) == 0 {
                PQfinish(current)
                conn = nil
                continue
            }
            while let notification = PQnotifies(current) {
                let event = Event.notification(
                    channel: String(cString: notification.pointee.relname),
                    payload: String(cString: notification.pointee.extra),
                    senderPID: notification.pointee.be_pid)
                PQfreemem(notification)
                continuation.yield(event)
            }
            if PQstatus(current) != CONNECTION_OK {
                PQfinish(current)
                conn = nil
            }
        }
        if let conn { PQfinish(conn) }
        withExtendedLifetime(notices) {}
        continuation.finish()
        let waiters = finished.withLock { waiters in
            defer { waiters = nil }
            return waiters ?? []
        }
        for waiter in waiters { waiter.resume() }
    }
}

extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
