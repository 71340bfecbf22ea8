import PBX
import Testing

@testable import Pipeline

@Suite("MSPDNS: an MSP's own DNS provider, or the configuration's")
struct MSPDNSTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var columns: MSPDNS.Columns
        var secret: String?
        /// The provider's description (no secret in it), or the problems.
        var expected: Result<String, MSPDNSProblem>
        var testDescription: String { name }
    }

    static let configured = DNSProvider.cloudflare(
        baseURL: "https://api.cloudflare.com/client/v4", token: "config-token", zone: "sbc.msp.example")
    static let tsig = "c2VjcmV0LXNlY3JldC1zZWNyZXQ="

    static let cases: [Case] = [
        Case(
            name: "no columns: the configuration's", columns: .init(), secret: nil,
            expected: .success(configured.description)),
        Case(
            name: "a zone only: the configuration's provider in that zone", columns: .init(zone: "sbc.acme.example"),
            secret: nil, expected: .success("cloudflare at https://api.cloudflare.com/client/v4, zone sbc.acme.example")
        ),
        Case(
            name: "its own cloudflare with its token", columns: .init(provider: "cloudflare", zone: "sbc.acme.example"),
            secret: "acme-token",
            expected: .success("cloudflare at https://api.cloudflare.com/client/v4, zone sbc.acme.example")),
        Case(
            name: "its own cloudflare without a token is refused, never the configuration's",
            columns: .init(provider: "cloudflare", zone: "sbc.acme.example"), secret: nil,
            expected: .failure(
                MSPDNSProblem(["--dns-secret-env: the Cloudflare API token is needed for cloudflare"]))),
        Case(
            name: "its own rfc2136",
            columns: .init(
                provider: "rfc2136", zone: "acme.example", server: "127.0.0.1:53",
                tsigKeyName: "onboarder"),
            secret: tsig,
            expected: .success("rfc2136 to 127.0.0.1:53 with TSIG key onboarder (hmac-sha256), zone acme.example")),
        Case(
            name: "rfc2136 lacking a server and key name, named by option",
            columns: .init(provider: "rfc2136"), secret: tsig,
            expected: .failure(
                MSPDNSProblem([
                    "--dns-server: the zone's primary server (host:port) is needed for rfc2136",
                    "--dns-tsig-key-name: needed for rfc2136",
                ]))),
        Case(
            name: "a server without a provider", columns: .init(server: "ns1.example:53"), secret: nil,
            expected: .failure(MSPDNSProblem(["--dns-server needs --dns-provider (the MSP's own DNS provider)"]))),
        Case(
            name: "a secret without a provider", columns: .init(), secret: "x",
            expected: .failure(MSPDNSProblem(["--dns-secret-env needs --dns-provider cloudflare or rfc2136"]))),
        Case(
            name: "manual takes no secret", columns: .init(provider: "manual"), secret: "x",
            expected: .failure(MSPDNSProblem(["--dns-secret-env: the manual provider takes no secret"]))),
        Case(
            name: "a bad zone", columns: .init(zone: "not a zone"), secret: nil,
            expected: .failure(MSPDNSProblem(["--dns-zone: not a zone is not a DNS name"]))),
    ]

    @Test(arguments: cases)
    func provider(_ testCase: Case) {
        let result = MSPDNS.provider(testCase.columns, secret: testCase.secret, configured: Self.configured)
        switch (result, testCase.expected) {
        case (.success(let provider), .success(let description)):
            #expect(provider.description == description)
        case (.failure(let problem), .failure(let expected)):
            #expect(problem == expected)
        default:
            Issue.record("got \(result), expected \(testCase.expected)")
        }
    }

    @Test func ownTokenIsUsedNotTheConfigurations() throws {
        let provider = try MSPDNS.provider(
            .init(provider: "cloudflare"), secret: "acme-token", configured: Self.configured
        ).get()
        guard case .cloudflare(_, let token, let zone) = provider else {
            Issue.record("not cloudflare: \(provider)")
            return
        }
        #expect(token == "acme-token")
        #expect(zone == nil)
    }
}
