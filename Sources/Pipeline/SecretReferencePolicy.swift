/// What an administrator lets enqueue input name (`secrets.reference_dirs`,
/// `secrets.reference_env_prefixes`), and what it never may, whatever the settings say: the deployment's
/// own variables and files. A pure decision on the reference's text; `SecretResolver` repeats it on the
/// file's real path (symbolic links followed) when it reads.
public struct SecretReferencePolicy: Sendable, Equatable {
    /// Absolute directories `file:` and `json:` references may read from; none: such references are refused.
    public var directories: [String]
    /// Prefixes an `env:` name must start with; none: `env:` references are refused.
    public var environmentPrefixes: [String]
    /// Files no reference may read even inside an allowed directory: the key file, the partner certificate.
    public var protectedFiles: [String]

    public static let defaultEnvironmentPrefixes = ["PBX_SECRET_"]

    public init(directories: [String] = [], environmentPrefixes: [String] = [], protectedFiles: [String] = []) {
        self.directories = directories.map(Self.standardized)
        self.environmentPrefixes = environmentPrefixes
        self.protectedFiles = protectedFiles.filter { !$0.isEmpty }
    }

    /// The policy for one MSP's rows: `{msp}` in a directory becomes the MSP's id (lower-cased), `{MSP}` in
    /// an environment prefix its upper-cased id with `.` and `-` as `_`. With several MSPs on one
    /// installation this is what keeps one MSP's rows from naming another MSP's PBX secrets.
    public func forMSP(_ msp: String) -> SecretReferencePolicy {
        let upper = String(msp.uppercased().map { $0 == "." || $0 == "-" ? "_" : $0 })
        var policy = self
        policy.directories = directories.map { $0.replacingOccurrences(of: "{msp}", with: msp.lowercased()) }
        policy.environmentPrefixes = environmentPrefixes.map { $0.replacingOccurrences(of: "{MSP}", with: upper) }
        return policy
    }

    /// Variables that configure the deployment (its database, the partner app, the key): never readable
    /// through `env:`, whatever prefix an administrator allowed.
    public static func isDeploymentVariable(_ name: String) -> Bool {
        let upper = name.uppercased()
        return ["ONBOARDER_", "AZURE_", "PG", "SSL", "CURL_", "LD_"].contains { upper.hasPrefix($0) }
            || ["HOME", "PATH", "USER", "LOGNAME", "SHELL", "HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY"]
                .contains(upper)
    }

    /// Nil when the deployment allows the reference; else why not, in words for the enqueue's report.
    public func problem(_ reference: SecretReference) -> String? {
        switch reference {
        case .environment(let name):
            if Self.isDeploymentVariable(name) {
                return "env:\(name) names one of the deployment's own variables, which enqueue input may not read"
            }
            guard environmentPrefixes.contains(where: { name.hasPrefix($0) }) else {
                return environmentPrefixes.isEmpty
                    ? "env: references are not allowed here (secrets.reference_env_prefixes is empty)"
                    : "env: names must start with \(environmentPrefixes.joined(separator: " or "))"
                        + " (secrets.reference_env_prefixes)"
            }
            return nil
        case .file(let path), .json(let path, _):
            guard let absolute = absolutePath(path) else {
                return "file and json: references are not allowed here (secrets.reference_dirs is empty)"
            }
            guard Self.isInside(absolute, directories) else {
                return "\(path) is outside the directories secret files may be read from (secrets.reference_dirs)"
            }
            if protectedFiles.map(Self.standardized).contains(absolute) {
                return "\(path) is one of the deployment's own secret files"
            }
            return nil
        case .sealed:
            return nil
        }
    }

    /// The path a `file:`/`json:` reference reads: as given when absolute, else inside the first directory.
    public func absolutePath(_ path: String) -> String? {
        if path.hasPrefix("/") { return Self.standardized(path) }
        guard let first = directories.first else { return nil }
        return Self.standardized(first + "/" + path)
    }

    public static func isInside(_ path: String, _ directories: [String]) -> Bool {
        directories.contains { directory in
            directory == "/" ? path.hasPrefix("/") && path != "/" : path.hasPrefix(directory + "/")
        }
    }

    /// Without `.` segments, repeated and trailing slashes (`..` never reaches here: parsing refuses it).
    public static func standardized(_ path: String) -> String {
        let parts = path.split(separator: "/").filter { $0 != "." }
        return "/" + parts.joined(separator: "/")
    }
}
