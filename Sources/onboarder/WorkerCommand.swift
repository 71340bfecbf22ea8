import ArgumentParser
import Foundation
import HTTP
import Logging
import OnboarderConfig
import Pipeline
import Postgres
import Queue
import ServiceLifecycle
import Worker

struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run the worker daemon: claim jobs within the limits and run them until SIGTERM.",
        discussion: """
            On SIGTERM or SIGINT the worker stops claiming, lets running jobs finish until \
            worker.shutdown_deadline_seconds, releases the rest to the queue (not counted as an attempt) and \
            exits 0. It exits 1 when it cannot start or was declared dead (systemd: Restart=on-failure).
            """)

    @OptionGroup var global: GlobalOptions

    @Option(help: "Jobs in flight at once (overrides worker.concurrency).")
    var concurrency: Int?

    @Option(help: "Worker id (default: host-pid-random).")
    var id: String?

    @Option(help: "Job kinds to run, comma-separated (default: every kind this build handles).")
    var kinds: String?

    func run() async throws {
        try await reportingErrors {
            var overrides = [(key: ConfigKey, value: String, flag: String)]()
            if let concurrency { overrides.append((.workerConcurrency, String(concurrency), "--concurrency")) }
            let (config, logger) = try global.load(overrides: overrides)
            var settings = WorkerConfiguration(id: id ?? WorkerConfiguration.defaultID())
            settings.concurrency = config.integer(.workerConcurrency)
            settings.claimBatch = config.integer(.workerClaimBatch)
            settings.pollInterval = .milliseconds(config.integer(.workerPollInterval))
            settings.heartbeatInterval = .milliseconds(config.integer(.workerHeartbeatInterval))
            settings.lease = .seconds(config.integer(.workerLease))
            settings.reapInterval = .seconds(config.integer(.workerReapInterval))
            settings.shutdownDeadline = .seconds(config.integer(.workerShutdownDeadline))
            settings.retryPolicy = RetryPolicy(
                baseDelay: .milliseconds(config.integer(.retryBaseDelay)),
                maxDelay: .seconds(config.integer(.retryMaxDelay)),
                maxAttempts: config.integer(.retryMaxAttempts))

            var handlers: [any JobHandler] = [SleepHandler()]
            // The onboarding pipeline runs where a partner app (or per-tenant credentials) and the
            // encryption key are configured; a worker without them runs the other kinds only and says so.
            let http = HTTPClient(configuration: config.httpConfiguration, logger: logger)
            if !config.string(.secretsKeyFile).isEmpty || !config.string(.secretsKey).isEmpty {
                let onboarding = OnboardingHandler(
                    settings: try config.onboardingSettings(), vault: try config.vault(), http: http)
                handlers.append(onboarding)
                handlers.append(RotationHandler(onboarding: onboarding))
                handlers.append(CertificateRotationHandler(onboarding: onboarding))
                handlers.append(OffboardingHandler(onboarding: onboarding))
                // The nightly drift audit: reads the tenant and the PBX with the same clients, writes neither.
                handlers.append(DriftAuditHandler(onboarding: onboarding))
            } else {
                logger.notice(
                    "no encryption key configured (secrets.key_file): onboard jobs are not run by this worker")
            }
            if let kinds {
                let wanted = Set(kinds.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
                let unknown = wanted.subtracting(handlers.map(\.kind))
                if !unknown.isEmpty {
                    throw CleanExit.message(
                        "worker: unknown job kinds \(unknown.sorted()); this build handles \(handlers.map(\.kind))")
                }
                handlers = handlers.filter { wanted.contains($0.kind) }
            }
            var postgres = config.postgres
            postgres.applicationName = "onboarder-worker"
            postgres.logger = logger
            let pool = PostgresPool(configuration: postgres, maxConnections: config.integer(.databasePoolSize))
            let queue = JobQueue(pool: pool)
            let worker = Worker(configuration: settings, queue: queue, pool: pool, handlers: handlers, logger: logger)
            let heartbeat = HeartbeatService(
                queue: queue, workerID: settings.id, interval: settings.heartbeatInterval, lease: settings.lease,
                logger: logger, healthChanged: { worker.heartbeatChanged(healthy: $0) })
            let reaper = ReaperService(
                queue: queue, workerID: settings.id, interval: settings.reapInterval, lease: settings.lease,
                logger: logger)
            // Graceful shutdown runs in reverse order: the worker drains first, while the heartbeat still beats.
            let group = ServiceGroup(
                configuration: .init(
                    services: [.init(service: heartbeat), .init(service: reaper), .init(service: worker)],
                    gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            do {
                try await worker.register()
                try await group.run()
            } catch {
                await pool.close()
                throw CleanExit.message("worker: \(error)")
            }
            // Stopped only now: a heartbeat after this would find the worker stopped and take it for dead.
            try? await queue.setWorkerState(settings.id, .stopped)
            logger.info("worker stopped", metadata: ["worker.id": "\(settings.id)"])
            await pool.close()
        }
    }
}
