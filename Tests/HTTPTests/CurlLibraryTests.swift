import HTTP
import TestSupport
import Testing

@Suite("libcurl")
struct CurlLibraryTests {
    @Test func linkedLibcurlIsTheOneTheHeadersDescribeAndUsesOpenSSL() async throws {
        let (status, output) = try await runCommand(["curl-config", "--version"])  // "libcurl 7.88.1"
        #expect(status == 0)
        let headerVersion = output.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(
            of: "libcurl ", with: "")
        #expect(CurlLibrary.version.hasPrefix(headerVersion + " "))
        #expect(CurlLibrary.version.contains("OpenSSL"))  // TLS through OpenSSL, as libcurl4-openssl-dev promises
    }
}
