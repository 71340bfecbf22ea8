import Foundation

/// The two primes of an RSA private key (PEM), in upper-case hexadecimal without leading zeros, as openssl's
/// `pkey -text` prints them: what a test compares with the primes a key was meant to be made of.
public func rsaPrimes(ofKeyPEM pem: String) async throws -> Set<String> {
    let path = NSTemporaryDirectory() + "onboarder-key-\(UUID().uuidString).pem"
    try pem.write(toFile: path, atomically: true, encoding: .utf8)
    defer { unlink(path) }
    let (status, output) = try await runCommand(["openssl", "pkey", "-in", path, "-text", "-noout"])
    guard status == 0 else { throw SpawnError(description: "openssl pkey -text: \(output)") }
    // "prime1:" then indented lines of colon-separated bytes, until the next unindented field name.
    var primes = Set<String>()
    var current: String?
    for line in output.split(separator: "\n") {
        if line.hasPrefix(" "), current != nil {
            current! += line.filter { $0.isHexDigit }
        } else {
            if let done = current { primes.insert(normalized(done)) }
            current = (line == "prime1:" || line == "prime2:") ? "" : nil
        }
    }
    if let done = current { primes.insert(normalized(done)) }
    return primes
}

private func normalized(_ hex: String) -> String {
    String(hex.uppercased().drop { $0 == "0" })
}
