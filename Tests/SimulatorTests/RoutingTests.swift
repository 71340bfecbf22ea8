import Foundation
import HTTP
import Simulator
import Testing

/// What each surface answers for a path or method none of its routes has, as the real services word it.
@Suite("Simulator routing: unknown paths and methods per surface", .serialized)
struct RoutingTests {
    @Test func graphNamesTheUnknownSegmentAndRefusesAnUnknownMethod() async throws {
        let lab = try await GraphLab.start()
        let (unknown, body, _) = try await lab.call("GET", "groups")
        #expect(unknown == 400 && body?["error"]?["message"]?.string == "Resource not found for the segment 'groups'.")
        let (deeper, deeperBody, _) = try await lab.call("GET", "users/\(UUID().uuidString)/calendar")
        #expect(
            deeper == 400
                && deeperBody?["error"]?["message"]?.string == "Resource not found for the segment 'calendar'.")
        let (method, methodBody, _) = try await lab.call("PUT", "organization", json: "{}", invalidOnPurpose: true)
        #expect(method == 405 && methodBody?["error"]?["code"]?.string == "Request_BadRequest")
        // Authentication comes first, as on Graph: an unknown path without a valid token is a 401.
        let (unauthenticated, _, _) = try await lab.call("GET", "groups", token: "not-a-token")
        #expect(unauthenticated == 401)
        await lab.stop()
    }

    @Test func parametersComeFromTheirSegmentsOnly() async throws {
        let lab = try await GraphLab.start()
        let domain = lab.tenant.defaultDomain
        let (status, body, _) = try await lab.call("GET", "domains/\(domain)")
        #expect(status == 200 && body?["id"]?.string == domain)
        let (key, _, _) = try await lab.call("GET", "applications(uniqueName='no-such-app')")
        #expect(key == 404)
        let (badID, badBody, _) = try await lab.call("GET", "applications/not-a-guid")
        #expect(badID == 400 && badBody?["error"]?["message"]?.string == "Invalid object identifier 'not-a-guid'.")
        await lab.stop()
    }

    @Test func outsideEverySurfaceIsTheSimulators404AndTheXAPIItsOwn() async throws {
        let lab = try await GraphLab.start()
        let nowhere = try await lab.http.execute(HTTPRequest(method: "GET", url: "\(lab.base)/nowhere"))
        #expect(nowhere.status == 404 && String(decoding: nowhere.body, as: UTF8.self).contains("UnknownEndpoint"))
        let token = try await lab.pbxToken()
        let (status, body) = try await lab.xapi("GET", "Microsoft365Integration/Pbx.Nothing()", token: token)
        #expect(
            status == 404 && body?["error"]?["message"]?.string == "Resource not found for the segment 'Pbx.Nothing()'."
        )
        let (wrongMethod, _) = try await lab.xapi("DELETE", "Users", token: token)
        #expect(wrongMethod == 404)
        let dns = try await lab.http.execute(
            HTTPRequest(
                method: "GET", url: "\(lab.base)/client/v4/zones/abc/settings", headers: [("Authorization", "Bearer t")]
            ))
        #expect(dns.status == 404 && String(decoding: dns.body, as: UTF8.self).contains("7003"))
        await lab.stop()
    }
}
