import Foundation
import Pipeline
import Testing

@Suite("Files with the deployment's secrets are refused when others may read or write them")
struct SecretFilePermissionsTests {
    @Test(
        arguments: [
            (0o600, nil),
            (0o400, nil),
            (0o700, nil),
            (0o611, nil),
            (0o644, "is readable by others (mode 0644); chmod 600 it"),
            (0o604, "is readable by others (mode 0604); chmod 600 it"),
            (0o640, "is readable by its group (mode 0640); chmod 600 it"),
            (0o620, "is writable by its group (mode 0620); chmod 600 it"),
            (0o602, "is writable by others (mode 0602); chmod 600 it"),
            (0o666, "is readable and writable by others (mode 0666); chmod 600 it"),
            (0o660, "is readable and writable by its group (mode 0660); chmod 600 it"),
            (0o100644, "is readable by others (mode 0644); chmod 600 it"),
        ] as [(UInt32, String?)])
    func decision(_ mode: UInt32, _ problem: String?) {
        #expect(
            FilePermissions.problem(path: "/etc/onboarder/keys", mode: mode)
                == problem.map { "/etc/onboarder/keys \($0)" })
    }

    /// A key file others could read was used without a word. Now the vault refuses it and says the fix.
    @Test func theVaultRefusesAKeyFileOthersCanRead() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("keys-\(UUID().uuidString)").path
        defer { unlink(path) }
        let key = Data((0..<32).map { UInt8($0) }).base64EncodedString()
        FileManager.default.createFile(atPath: path, contents: Data("k1 \(key)\n".utf8))
        chmod(path, 0o644)
        #expect {
            try SecretVault.load(file: path, inline: "")
        } throws: { error in
            "\(error)" == "\(path) is readable by others (mode 0644); chmod 600 it"
        }
        chmod(path, 0o600)
        #expect(try SecretVault.load(file: path, inline: "").sealingKeyID == "k1")
        #expect(FilePermissions.problem(path: path + ".missing") == nil)
    }
}
