import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Reads the secret a job's reference names, for the MSP and customer of that job — the only way the
/// worker turns enqueue input into a secret. Every check of enqueue time is made again here, on what the
/// reference really reaches: the file's real path (symbolic links and all), the variable's name, the
/// customer a sealed value was sealed for.
public struct SecretResolver: Sendable {
    public let policy: SecretReferencePolicy
    public let vault: SecretVault?
    /// Largest `file:` read (a secret is a line; anything bigger is not one).
    public static let maxFileBytes = 64 * 1024
    /// Largest `json:` document (one file may list the secrets of thousands of PBXs).
    public static let maxJSONBytes = 64 * 1024 * 1024

    public init(policy: SecretReferencePolicy, vault: SecretVault?) {
        self.policy = policy
        self.vault = vault
    }

    public func resolve(_ text: String, msp: String, customer: String) throws(SecretReferenceError) -> String {
        let reference = try SecretReference.parse(text).get()
        if let problem = policy.problem(reference) { throw SecretReferenceError(problem) }
        switch reference {
        case .environment(let name):
            guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
                throw SecretReferenceError("the environment variable \(name) is not set for the worker")
            }
            return value
        case .file(let path):
            let real = try checkedRealPath(path, maxBytes: Self.maxFileBytes)
            guard let data = FileManager.default.contents(atPath: real) else {
                throw SecretReferenceError("cannot read \(path) (secret reference)")
            }
            return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        case .json(let path, let member):
            let real = try checkedRealPath(path, maxBytes: Self.maxJSONBytes)
            var value = JSONFiles.shared.document(real)
            for name in member { value = (value as? [String: Any])?[name] }
            guard let string = value as? String, !string.isEmpty else {
                throw SecretReferenceError("\(path) has no string at \(member.joined(separator: "."))")
            }
            return string
        case .sealed(let sealed):
            guard let vault else { throw SecretReferenceError("a sealed: reference needs the encryption key") }
            do {
                return try vault.open(sealed, context: SecretReference.sealingContext(msp: msp, customer: customer))
            } catch {
                if (try? vault.open(sealed, context: SecretReference.unboundSealingContext)) != nil {
                    throw SecretReferenceError(
                        "the sealed: value is bound to no customer (sealed by an older onboarder); seal it again "
                            + "with `onboarder secret seal --msp \(msp) --customer \(customer)`")
                }
                throw SecretReferenceError(
                    "the sealed: value does not open for MSP \(msp) and customer \(customer): it was sealed for "
                        + "another customer or under a key the worker does not hold")
            }
        }
    }

    /// The real path of `path`, checked against the policy: a symbolic link inside an allowed directory
    /// pointing at the key file is the attack this stops.
    func checkedRealPath(_ path: String, maxBytes: Int) throws(SecretReferenceError) -> String {
        guard let absolute = policy.absolutePath(path), let real = Self.realPath(absolute) else {
            throw SecretReferenceError("cannot read \(path) (secret reference)")
        }
        let directories = policy.directories.compactMap(Self.realPath)
        guard SecretReferencePolicy.isInside(real, directories) else {
            throw SecretReferenceError(
                "\(path) leads outside the directories secret files may be read from (secrets.reference_dirs)")
        }
        if policy.protectedFiles.compactMap(Self.realPath).contains(real) {
            throw SecretReferenceError("\(path) is one of the deployment's own secret files")
        }
        var status = stat()
        guard stat(real, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else {
            throw SecretReferenceError("\(path) is not a regular file (secret reference)")
        }
        guard status.st_size <= maxBytes else {
            throw SecretReferenceError("\(path) is larger than \(maxBytes) bytes (secret reference)")
        }
        return real
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
