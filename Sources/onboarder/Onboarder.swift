import ArgumentParser
import Crypto
import Foundation
import HTTP
import Logging
import Migrations
import OnboarderConfig
import Postgres

#if canImport(Glibc)
    import Glibc
#endif

@main
struct Onboarder: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "onboarder",
        abstract: "Onboards many customer Microsoft 365 tenants into the PBX's Teams / Microsoft 365 integration.",
        version: OnboarderVersion.string,
        subcommands: [
            Migrate.self, EnqueueCommand.self, GDAPCommand.self, WorkerCommand.self, StatusCommand.self,
            ShowCommand.self,
            RotateSecretsCommand.self, RetryCommand.self, ResumeCommand.self,
            CancelCommand.self,
            OffboardCommand.self,
            CertCommand.self, HandoverCommand.self, ConsentCommand.self, SecretCommand.self, ScriptsCommand.self,
            KeysCommand.self, MSPCommand.self, ConfigCommand.self,
            // Approval of large enqueues (issue 22).
            ApproveCommand.self, BatchCommand.self,
            // The nightly drift audit (issue 22).
            AuditCommand.self,
            Version.self,
        ]
    )
}

/// Options every subcommand takes.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "Configuration file (TOML). Default: $ONBOARDER_CONFIG, else built-in defaults.")
    var config: String?

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String?

    @Option(name: .long, help: "Log format: auto, json, human.")
    var logFormat: String?

    @Option(
        name: .long,
        help: "Who acts, recorded in the events beside the database login (default: the operating-system user).")
    var actor: String?

    /// The name recorded as having acted: `--actor`, else the operating-system user. A claim, kept apart
    /// in the events from the database login, which cannot be spoofed.
    var actingAs: String {
        if let actor, !actor.isEmpty { return String(actor.prefix(128)) }
        if let entry = getpwuid(geteuid()), let name = entry.pointee.pw_name { return String(cString: name) }
        return ProcessInfo.processInfo.environment["USER"] ?? "unknown"
    }

    /// Loads the configuration and sets up logging. Exits with a readable message on bad configuration.
    func load(overrides extra: [(key: ConfigKey, value: String, flag: String)] = []) throws -> (
        ResolvedConfiguration, Logger
    ) {
        let environment = ProcessInfo.processInfo.environment
        let file = config ?? environment["ONBOARDER_CONFIG"].flatMap { $0.isEmpty ? nil : $0 }
        var overrides = extra
        if let logLevel { overrides.append((.logLevel, logLevel, "--log-level")) }
        if let logFormat { overrides.append((.logFormat, logFormat, "--log-format")) }
        let resolved: ResolvedConfiguration
        do {
            resolved = try ResolvedConfiguration.load(file: file, environment: environment, overrides: overrides)
        } catch {
            throw CleanExit.message("configuration error:\n\(error)", code: .validationFailure)
        }
        let level = Logger.Level(rawValue: resolved.string(.logLevel)) ?? .info
        OnboarderLogHandler.bootstrap(level: level, format: .resolve(resolved.string(.logFormat)))
        return (resolved, Logger(label: "onboarder"))
    }
}

extension ResolvedConfiguration {
    var postgres: PostgresConfiguration {
        let url = string(.databaseURL)
        return PostgresConfiguration(
            connectionString: url.isEmpty ? nil : url,
            connectTimeout: integer(.databaseConnectTimeout))
    }
}

/// An error already explained to the user: printed as is, exit status 1 (or the given one).
struct CleanExit: Error, CustomStringConvertible {
    let description: String
    let code: ExitCode
    static func message(_ text: String, code: ExitCode = .failure) -> CleanExit {
        CleanExit(description: text, code: code)
    }
}

extension AsyncParsableCommand {
    /// Runs `body`, turning a `CleanExit` into a message on standard error and an exit status.
    func reportingErrors(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let exit as CleanExit {
            // Messages quote what users and remote services wrote: no terminal controls get through.
            // Line breaks are the message's own (a list of problems); everything else is escaped.
            let lines = exit.description.split(separator: "\n", omittingEmptySubsequences: false)
            let text = lines.map { TerminalText.sanitized(String($0)) }.joined(separator: "\n")
            // What the command printed before comes first where both go to one file or pipe (a cron job's
            // log, `2>&1 | tee`): standard output is buffered there, standard error is not.
            fflush(nil)  // every C stream, standard output among them
            FileHandle.standardError.write(Data((text + "\n").utf8))
            throw exit.code
        }
    }
}

enum OnboarderVersion {
    static let string = "0.1.0"
}

struct Version: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the version of onboarder and of the C libraries it runs with.")

    func run() async throws {
        print("onboarder \(OnboarderVersion.string)")
        print("libpq \(PostgresLibrary.version)")
        print("libcurl \(CurlLibrary.version)")
        print(OpenSSLLibrary.version)
    }
}
