import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Fault injection for the crash tests: `ONBOARDER_CRASH_AT=after:consent` (or `before:…`,
/// `after-call:client-secret`, `after-call:certificate`, `after-call:offboard-…` (a removal made, its checkpoint not yet), `waiting:verify` — a hand-over look recorded, its wait not yet) makes the worker kill itself with SIGKILL right
/// there, exactly as a power cut would. Unset in production; nothing else reads it.
enum CrashPoint {
    static let configured = ProcessInfo.processInfo.environment["ONBOARDER_CRASH_AT"]

    static func check(_ point: String) {
        if let configured, configured == point { kill(getpid(), SIGKILL) }
    }
}
