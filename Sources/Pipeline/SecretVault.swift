import Crypto
import Foundation

/// The keys secrets are sealed under (ARCHITECTURE §10): AES-256-GCM, each ciphertext naming its key id
/// (`og1.<key id>.<…>`), bound to what it is (the AAD context) so a ciphertext moved to another row or
/// kind does not open.
///
/// Keys come from a file (`secrets.key_file`) or the environment (`secrets.key`), one per line as
/// `<key id> <base64 of 32 bytes>`; the first line seals, every line opens (which is how a key is rotated:
/// put the new one first, run `onboarder keys rotate`, then drop the old line).
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
