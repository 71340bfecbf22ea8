import ArgumentParser
import Foundation
import OnboarderConfig
import Pipeline
import Postgres
import Store

extension MSPCommand {
    /// `onboarder msp partner-center-token ID`: the refresh token of the MSP's Partner Center admin agent
    /// (the secure application model's one interactive consent leaves it), which `consent = partner-center`
    /// needs. Sealed before it is stored, never printed; the owner's login, like every MSP change.
    struct PartnerCenterToken: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "partner-center-token",
            abstract: "Store (or clear) the MSP's Partner Center refresh token, sealed (the owner's login).",
            discussion: """
                The token is read from standard input (--stdin) or a variable (--env NAME), sealed under the \
                secrets key for this MSP only, and stored in onboarder.msp_secrets; it is never printed. \
                Exit status: 0 stored, 1 error (a login that may not change MSPs), 2 rejected input, 3 no such MSP.
                """)

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The MSP's id.") var id: String
        @Flag(help: "Read the refresh token from standard input.") var stdin = false
        @Option(help: "The variable holding the refresh token.") var env: String?
        @Flag(help: "Remove the stored refresh token.") var clear = false

        func run() async throws {
            try await reportingErrors {
                try MSPCommand.checkID(id)
                let token = try readToken()
                try await withDatabase(global) { config, pool in
                    let sealed = try token.map {
                        try config.vault().seal($0, context: PartnerCenterCredentials.sealingContext(msp: id))
                    }
                    try await MSPCommand.writing {
                        try await pool.transaction { connection in
                            guard try await MSPRecords.load(id, lock: true, on: connection) != nil else {
                                throw CleanExit.message(
                                    "no MSP \(id): add it with onboarder msp add \(id)", code: ExitCode(3))
                            }
                            try await PartnerCenterCredentials.setSealedRefreshToken(sealed, msp: id, on: connection)
                        }
                    }
                    print(
                        sealed == nil
                            ? "MSP \(id): Partner Center refresh token removed"
                            : "MSP \(id): Partner Center refresh token stored (sealed)")
                }
            }
        }

        /// The token from the one source given, trimmed of its line end; nil for --clear.
        func readToken() throws -> String? {
            let sources = [stdin, env != nil, clear].filter { $0 }.count
            guard sources == 1 else {
                throw CleanExit.message("give exactly one of --stdin, --env NAME, --clear", code: ExitCode(2))
            }
            if clear { return nil }
            let text: String
            if let env {
                guard let value = ProcessInfo.processInfo.environment[env] else {
                    throw CleanExit.message("--env: the variable \(env) is not set", code: ExitCode(2))
                }
                text = value
            } else {
                let data = FileHandle.standardInput.readData(ofLength: 64 * 1024 + 1)
                guard data.count <= 64 * 1024 else {
                    throw CleanExit.message("--stdin: a refresh token has at most 64 KiB", code: ExitCode(2))
                }
                text = String(decoding: data, as: UTF8.self)
            }
            let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !token.isEmpty, !token.contains(where: { $0.isWhitespace || $0.asciiValue.map { $0 < 0x20 } == true })
            else {
                throw CleanExit.message(
                    "\(env.map { "--env \($0)" } ?? "--stdin"): not a refresh token (empty, or with spaces or control characters)",
                    code: ExitCode(2))
            }
            return token
        }
    }
}
