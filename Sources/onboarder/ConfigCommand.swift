import ArgumentParser
import Foundation
import OnboarderConfig

struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Inspect the configuration.",
        subcommands: [Check.self])

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate the configuration and print every effective value (secrets redacted) with its source.")

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await reportingErrors {
                let (config, _) = try global.load()
                print("configuration file: \(config.file ?? "(none: built-in defaults and environment)")")
                let width = config.settings.map(\.key.name.count).max() ?? 0
                for setting in config.settings {
                    let name = setting.key.name.padding(toLength: width, withPad: " ", startingAt: 0)
                    print("\(name) = \(config.displayValue(setting))    # \(setting.source)")
                }
                // libpq reads these itself when database.url leaves a part out.
                let environment = ProcessInfo.processInfo.environment
                let libpq = [
                    "PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGPASSWORD", "PGPASSFILE", "PGSSLMODE",
                    "PGSSLROOTCERT", "PGAPPNAME", "PGCONNECT_TIMEOUT", "PGSERVICE", "PGOPTIONS",
                ]
                let present = libpq.filter { environment[$0] != nil }
                if !present.isEmpty {
                    print("libpq environment (used where database.url leaves a part out):")
                    for name in present {
                        print("  \(name) = \(name == "PGPASSWORD" ? "<redacted>" : environment[name]!)")
                    }
                }
                print("configuration OK")
            }
        }
    }
}
