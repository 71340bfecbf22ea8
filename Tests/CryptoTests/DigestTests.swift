import Crypto
import Foundation
import TestSupport
import Testing

@Suite("Crypto basics")
struct DigestTests {
    @Test func sha256MatchesTheStandardVectorAndTheOpenSSLTool() async throws {
        #expect(
            try Digest.sha256(Array("abc".utf8)).hexString
                == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(try Digest.sha1(Array("abc".utf8)).hexString == "a9993e364706816aba3e25717850c26c9cd0d89d")
        let text = "Grüße 🎉 \(UUID())"
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("digest-\(UUID().uuidString)").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (status, output) = try await runCommand(["openssl", "dgst", "-sha256", "-r", path])
        #expect(status == 0)
        #expect(output.split(separator: " ").first.map(String.init) == (try Digest.sha256(Array(text.utf8)).hexString))
    }

    @Test func secureRandomBytes() throws {
        let a = try SecureRandom.bytes(32)
        let b = try SecureRandom.bytes(32)
        #expect(a.count == 32)
        #expect(a != b)
        #expect(Set(try SecureRandom.bytes(4096)).count > 200)  // all 256 values are near-certain; 200 is generous
    }
}
