import Foundation
import Graph
import HTTP
import Simulator
import Testing

/// A worker process holds one token cache (`OnboardingHandler.tokens`, shared by every job and, through
/// `TokenClient.with(loginBaseURL:)`, every cloud). Entra issues a client-credentials token for one app in
/// one tenant, so the cache keys it by both: two MSPs' partner apps never share a token, and one app's
/// token is reused only in the tenant it was issued for — each further customer tenant costs one token
/// request per app, then none until it nears expiry.
@Suite("Tokens are cached per partner app and tenant, as Entra issues them")
struct TokenCachePerAppTests {
    @Test func twoMSPsAppsInOneProcessGetTheirOwnTokensOnePerTenant() async throws {
        let world = try World(
            WorldDescription(
                seed: 3,
                tenants: [
                    .init(domain: "one.example", consent: .full, sku: .e5),
                    .init(domain: "two.example", consent: .full, sku: .e5),
                    .init(domain: "acme1.example", consent: .full, sku: .e5, partner: "acme"),
                ], partners: [.init(msp: "acme")]))
        let msp = try #require(world.partner(msp: "msp"))
        let acme = try #require(world.partner(msp: "acme"))
        let tenants = ["one.example", "two.example", "acme1.example"].map {
            world.tenant($0)!.id.uuidString.lowercased()
        }
        let simulator = try Simulator(world: world)
        let base = try simulator.start()
        let http = HTTPClient()
        // one.example is a customer of both MSPs: it consented to acme's app too.
        let consented = try await http.execute(
            HTTPRequest(
                method: "PATCH", url: "\(base)/_sim/tenants/one.example",
                body: Array(#"{"consent": "full", "partner": "acme"}"#.utf8)))
        #expect(consented.status == 200)

        let tokens = TokenClient(http: http, loginBaseURL: base)
        func token(_ partner: SimPartner, _ tenant: String) async throws -> (value: String, tid: String, appid: String)
        {
            let token = try await tokens.token(
                tenant: tenant, clientID: partner.app.appID.uuidString.lowercased(), credential: .secret(partner.secret)
            )
            let payload = try claims(of: token.value)
            return (token.value, payload["tid"] as? String ?? "", payload["appid"] as? String ?? "")
        }
        let mspOne = try await token(msp, tenants[0])
        let mspOneAgain = try await token(msp, tenants[0])
        let acmeOne = try await token(acme, tenants[0])
        let mspTwo = try await token(msp, tenants[1])
        let acmeAcme1 = try await token(acme, tenants[2])
        let acmeOneAgain = try await token(acme, tenants[0])

        #expect(mspOneAgain.value == mspOne.value && acmeOneAgain.value == acmeOne.value)  // cached
        #expect(acmeOne.value != mspOne.value)  // another app: its own token
        #expect(acmeOne.appid == acme.app.appID.uuidString.lowercased())
        #expect(mspOne.appid == msp.app.appID.uuidString.lowercased())
        #expect(mspTwo.value != mspOne.value && mspTwo.tid == tenants[1])  // another tenant: its own token
        #expect(acmeAcme1.tid == tenants[2])
        #expect(await tokens.cache.count == 4)
        // Another cloud's authority shares the cache but never its tokens (keys name the authority).
        #expect(tokens.with(loginBaseURL: base + "/").cache === tokens.cache)

        // What Entra (the simulator) issued: one token per app and tenant.
        func issued(_ domain: String) async throws -> [String: Int] {
            let response = try await http.execute(HTTPRequest(url: "\(base)/_sim/tenants/\(domain)"))
            let object = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
            return (object?["tokensIssued"] as? [String: Any] ?? [:]).mapValues { ($0 as? NSNumber)?.intValue ?? -1 }
        }
        let mspApp = msp.app.appID.uuidString.lowercased()
        let acmeApp = acme.app.appID.uuidString.lowercased()
        #expect(try await issued("one.example") == [mspApp: 1, acmeApp: 1])
        #expect(try await issued("two.example") == [mspApp: 1])
        #expect(try await issued("acme1.example") == [acmeApp: 1])
        http.shutdown()
        await simulator.stop()
    }
}
