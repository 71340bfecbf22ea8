import Crypto
import Foundation
import Simulator
import TestSupport
import Testing

/// What every Graph answer carries, as Graph documents it: the request headers, `@odata.context`, `$select`
/// honoured, and a certificate's `key` only where Graph shows it.
@Suite("Simulated Graph: headers, @odata.context and $select")
struct GraphAnswersTests {
    static func isGUID(_ text: String?) -> Bool {
        text.flatMap(UUID.init(uuidString:))?.uuidString.lowercased() == text
    }

    @Test func everyAnswerCarriesRequestIDsAndADate() async throws {
        let lab = try await GraphLab.start()
        let mine = "0f6e2a9c-2b7d-4c1e-9f3a-5d8b7c6a4e21"
        let (status, _, echoed) = try await lab.call("GET", "applications", headers: [("client-request-id", mine)])
        #expect(status == 200 && echoed.header("client-request-id") == mine)
        #expect(Self.isGUID(echoed.header("request-id")))
        #expect(echoed.header("date")?.hasSuffix(" GMT") == true)
        let (_, _, made) = try await lab.call("GET", "organization")
        #expect(Self.isGUID(made.header("client-request-id")))
        let (missing, error, failed) = try await lab.call("GET", "applications/\(UUID().uuidString.lowercased())")
        #expect(missing == 404 && failed.header("date") != nil)
        #expect(failed.header("request-id") == error?["error"]?["innerError"]?["request-id"]?.string)
        await lab.stop()
    }

    @Test func odataContextAndSelectAsGraphWritesThem() async throws {
        let lab = try await GraphLab.start()
        let (_, created, _) = try await lab.call("POST", "applications", json: sampleApplication)
        let id = try #require(created?["id"]?.string)
        let metadata = "https://graph.microsoft.com/v1.0/$metadata#"
        #expect(created?["@odata.context"]?.string == metadata + "applications/$entity")
        let whole = try await lab.call("GET", "applications/\(id)").1
        #expect(whole?["@odata.context"]?.string == metadata + "applications/$entity")
        let selected = try await lab.call("GET", "applications/\(id)?$select=id,appId").1?.object
        #expect(selected?["@odata.context"]?.string == metadata + "applications(id,appId)/$entity")
        #expect(Set(selected?.keys.map { $0 } ?? []) == ["@odata.context", "id", "appId"])
        let list = try await lab.call("GET", "applications?$select=id,displayName").1
        #expect(list?["@odata.context"]?.string == metadata + "applications(id,displayName)")
        #expect(list?["value"]?.array?.first?.object.map { Set($0.keys) } == ["id", "displayName"])
        let graphAppID = "00000003-0000-0000-c000-000000000000"
        let principals = try await lab.call("GET", "servicePrincipals?$filter=appId%20eq%20'\(graphAppID)'").1
        #expect(principals?["@odata.context"]?.string == metadata + "servicePrincipals")
        let (_, password, _) = try await lab.call(
            "POST", "applications/\(id)/addPassword", json: #"{"passwordCredential": {"displayName": "p"}}"#)
        #expect(password?["@odata.context"]?.string == metadata + "microsoft.graph.passwordCredential")
        await lab.stop()
    }

    @Test func aCertificatesKeyOnlyOnASingleObjectSelectOfKeyCredentials() async throws {
        let lab = try await GraphLab.start()
        let (id, der) = try await lab.applicationAndCertificate()
        let patch = #"{"keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify", "key": "\#(der)"}]}"#
        #expect(try await lab.call("PATCH", "applications/\(id)", json: patch).0 == 204)
        func key(_ path: String, list: Bool = false) async throws -> JSONValue? {
            let answer = try await lab.call("GET", path).1
            return (list ? answer?["value"]?.array?.first : answer)?["keyCredentials"]?.array?.first?["key"]
        }
        #expect(try await key("applications/\(id)?$select=id,keyCredentials") == .string(der))
        #expect(try await key("applications/\(id)") == .null)
        #expect(try await key("applications?$select=id,keyCredentials", list: true) == .null)
        await lab.stop()
    }
}
