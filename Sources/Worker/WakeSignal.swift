import Synchronization

/// A level-triggered wake-up: `signal()` any number of times, and the next `wait()` returns once.
/// Notifications, finished jobs and the poll ticker all signal the claim loop through one of these.
final class WakeSignal: Sendable {
    private struct State {
        var pending = false
        var waiter: CheckedContinuation<Void, Never>?
    }
    private let state = Mutex(State())

    func signal() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.pending = true
            return nil
        }
        waiter?.resume()
    }

    /// Returns at the next signal, or at once if one came since the last wait, or when the task is cancelled.
    func wait() async {
        await withTaskCancellationHandler {
            await waitForSignal()
        } onCancel: {
            signal()
        }
    }

    private func waitForSignal() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { state -> Bool in
                if state.pending {
                    state.pending = false
                    return true
                }
                state.waiter = continuation
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }
}
