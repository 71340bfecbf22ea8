import Crypto
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The keys secrets are sealed under: AES-256-GCM, each ciphertext naming its key id
/// (`og1.<key id>.<…>`), bound to what it is (the AAD context) so a ciphertext moved to another row or
/// kind does not open.
///
/// Keys come from a file (`secrets.key_file`) or the environment (`secrets.key`), one per line as
/// `<key id> <base64 of 32 bytes>`; the first line seals, every line opens (which is how a key is rotated:
/// put the new one first, run `onboarder keys rotate`, then drop the old line). The file must be private
/// to its owner (mode 600 or 400): one its group or others may read or write is refused (`FilePermissions`).
public struct SecretVault: Sendable {
    public let keys: [EncryptionKey]

    public init(keys: [EncryptionKey]) throws {
        guard !keys.isEmpty else {
            throw VaultError("no encryption key is configured (secrets.key_file or secrets.key)")
        }
        self.keys = keys
    }

    /// Parses key lines; errors name the source and line.
    public static func parse(_ text: String, source: String) throws -> SecretVault {
        var keys: [EncryptionKey] = []
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == ":" }).map(String.init)
            guard parts.count == 2 else {
                throw VaultError("\(source):\(index + 1): expected `<key id> <base64 key>`")
            }
            do {
                keys.append(try EncryptionKey(id: parts[0], base64: parts[1]))
            } catch {
                throw VaultError("\(source):\(index + 1): \(error)")
            }
        }
        return try SecretVault(keys: keys)
    }

    public static func load(file: String, inline: String) throws -> SecretVault {
        if !inline.isEmpty { return try parse(inline, source: "secrets.key") }
        guard !file.isEmpty else {
            throw VaultError(
                "no encryption key is configured: set secrets.key_file (create one with `onboarder keys generate`)")
        }
        if let problem = FilePermissions.problem(path: file) { throw VaultError(problem) }
        guard let data = FileManager.default.contents(atPath: file) else {
            throw VaultError("cannot read the key file \(file)")
        }
        return try parse(String(decoding: data, as: UTF8.self), source: file)
    }

    public var sealingKeyID: String { keys[0].id }

    public func seal(_ plaintext: String, context: String) throws -> String {
        try AESGCM.seal(Array(plaintext.utf8), key: keys[0], context: context)
    }

    public func open(_ sealed: String, context: String) throws -> String {
        String(decoding: try AESGCM.open(sealed, keys: keys, context: context), as: UTF8.self)
    }

    /// The AAD of a stored credential: what it is and whose.
    public static func context(kind: String, tenantID: Int64) -> String { "onboarder.credentials/\(kind)/\(tenantID)" }
}

public struct VaultError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// Files that hold the deployment's own secrets (the key file, the partner certificate's private key) are
/// refused when their group or others may read or write them, as ssh refuses a private key: a key others
/// can read is no longer secret, and one others can write lets them choose the key new secrets are sealed
/// under. There is no setting to allow it; the message says the fix (`chmod 600`).
///
/// Here rather than in OnboarderConfig because the vault (this module) reads the key file and does not
/// depend on OnboarderConfig; the CLI, which sees both, calls it for the partner certificate.
public enum FilePermissions {
    /// Nil when `path` is private to its owner, or cannot be examined (reading it then says why).
    public static func problem(path: String) -> String? {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        return problem(path: path, mode: UInt32(status.st_mode))
    }

    /// The decision, for a file's mode bits: read or write permission for group or others is refused;
    /// execute bits are not (they give nothing away).
    public static func problem(path: String, mode: UInt32) -> String? {
        let exposed = mode & 0o066
        guard exposed != 0 else { return nil }
        let who = exposed & 0o006 != 0 ? "others" : "its group"
        let bits = exposed & 0o006 != 0 ? exposed & 0o006 : exposed >> 3
        let access =
            switch bits {
            case 0o6: "readable and writable"
            case 0o4: "readable"
            default: "writable"
            }
        let octal = String(mode & 0o7777, radix: 8)
        let shown = String(repeating: "0", count: max(0, 4 - octal.count)) + octal
        return "\(path) is \(access) by \(who) (mode \(shown)); chmod 600 it"
    }
}
