import Crypto
import Foundation
import Simulator
import TestSupport
import Testing

@testable import Simulator

/// Graph's property types as its schema gives them, not as Onboarder happens to send them: `Edm.Binary`
/// is base64, `Edm.DateTimeOffset` takes fractional seconds and offsets, OData annotations are no properties.
@Suite("Simulated Graph: property types and annotations")
struct GraphPropertyTypesTests {
    @Test(
        arguments: [
            ("2028-11-26T00:00:00Z", "2028-11-26T00:00:00Z"),
            ("2028-11-26T00:00:00.5Z", "2028-11-26T00:00:00Z"),
            ("2028-11-26T10:30:00.1234567+02:00", "2028-11-26T08:30:00Z"),
            ("2028-11-26T10:30:00.123456789012-05:30", "2028-11-26T16:00:00Z"),
            ("2028-11-26T00:00:00z", "2028-11-26T00:00:00Z"),
        ])
    func dateTimeOffsetsParse(_ text: String, _ utc: String) throws {
        #expect(Timestamp.string(try #require(Timestamp.date(text))) == utc)
    }

    @Test(arguments: [
        "next year", "2028-11-26", "2028-11-26T00:00:00", "2028-11-26T00:00:00.Z", "2028-13-01T00:00:00Z",
        "2028-11-26T00:00:00.1234567890123Z", "2028-11-26T00:00:00+0200", "2028-11-26T00:00:00Z ",
        " 2028-11-26T00:00:00Z",
        "028-11-26T00:00:00Z", "2028-1-26T00:00:00Z", "2028-11-26T00:00:00+02:00:00", "２０２８-11-26T00:00:00Z",
    ])
    func notDateTimeOffsets(_ text: String) {
        #expect(Timestamp.date(text) == nil)
    }

    @Test func addPasswordReadsWhatTheSDKSendsAndRefusesWhatIsNoDate() async throws {
        let lab = try await GraphLab.start()
        let id = try #require(
            try await lab.call("POST", "applications", json: sampleApplication).1?["id"]?.string)
        let end = Date(timeIntervalSinceNow: 180 * 86_400)
        let sdkSpelling = ISO8601DateFormatter.string(
            from: end, timeZone: TimeZone(secondsFromGMT: 3600)!,
            formatOptions: [.withInternetDateTime, .withFractionalSeconds])
        let (status, password, _) = try await lab.call(
            "POST", "applications/\(id)/addPassword",
            json:
                ##"{"passwordCredential": {"@odata.type": "#microsoft.graph.passwordCredential", "displayName": "sdk", "endDateTime": "\##(sdkSpelling)"}}"##,
            schema: "POST:/applications/{application-id}/addPassword")
        #expect(status == 200, "\(sdkSpelling)")
        let written = try #require(password?["endDateTime"]?.string.flatMap(Timestamp.date))
        #expect(abs(written.timeIntervalSince(end)) < 1, "not a default substituted for the date sent")
        for (property, value) in [("endDateTime", "in two years"), ("startDateTime", "2026-13-01T00:00:00Z")] {
            let (refused, error, _) = try await lab.call(
                "POST", "applications/\(id)/addPassword",
                json: #"{"passwordCredential": {"displayName": "bad", "\#(property)": "\#(value)"}}"#,
                invalidOnPurpose: true)
            #expect(refused == 400 && error?["error"]?["message"]?.string?.contains("'\(property)'") == true)
        }
        #expect(
            try await lab.call("GET", "applications/\(id)").1?["passwordCredentials"]?.array?.count == 1,
            "a refused addPassword adds nothing")
        await lab.stop()
    }

    @Test func customKeyIdentifierIsBinaryAndKeptAsSent() async throws {
        let lab = try await GraphLab.start()
        let (id, der) = try await lab.applicationAndCertificate()
        let chosen = Data("rotation-2026-11".utf8).base64EncodedString()
        let (status, _, _) = try await lab.call(
            "PATCH", "applications/\(id)",
            json:
                #"{"keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify", "key": "\#(der)", "customKeyIdentifier": "\#(chosen)"}]}"#,
            schema: "PATCH:/applications/{application-id}")
        #expect(status == 204)
        let listed = try await lab.call("GET", "applications/\(id)").1?["keyCredentials"]?.array?.first
        #expect(listed?["customKeyIdentifier"]?.string == chosen)
        let (refused, error, _) = try await lab.call(
            "PATCH", "applications/\(id)",
            json:
                #"{"keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify", "key": "\#(der)", "customKeyIdentifier": "not base64!"}]}"#,
            invalidOnPurpose: true)
        #expect(refused == 400 && error?["error"]?["message"]?.string?.contains("'customKeyIdentifier'") == true)
        await lab.stop()
    }

    @Test func annotationsAreAcceptedUnknownPropertiesAreNot() async throws {
        let lab = try await GraphLab.start()
        let (id, der) = try await lab.applicationAndCertificate()
        // The body the Python SDK serialises for `applications.by_application_id(id).patch(Application(…))`.
        let sdkBody = """
            {"@odata.type": "#microsoft.graph.application", "displayName": "renamed",
             "keyCredentials": [{"@odata.type": "#microsoft.graph.keyCredential", "displayName": "PBX",
              "key": "\(der)", "type": "AsymmetricX509Cert", "usage": "Verify"}]}
            """
        #expect(try await lab.call("PATCH", "applications/\(id)", json: sdkBody, invalidOnPurpose: true).0 == 204)
        let app = try await lab.call("GET", "applications/\(id)").1
        #expect(app?["displayName"]?.string == "renamed" && app?["keyCredentials"]?.array?.count == 1)
        #expect(app?["@odata.type"] == nil || app?["@odata.type"]?.string == "#microsoft.graph.application")
        let (refused, error, _) = try await lab.call(
            "PATCH", "applications/\(id)",
            json: ##"{"@odata.type": "#microsoft.graph.application", "colour": "blue"}"##,
            invalidOnPurpose: true)
        #expect(refused == 400 && error?["error"]?["message"]?.string?.contains("'colour'") == true)
        let domain = ##"{"@odata.type": "#microsoft.graph.domain", "id": "annotated.example.com"}"##
        #expect(try await lab.call("POST", "domains", json: domain, invalidOnPurpose: true).0 == 201)
        await lab.stop()
    }
}

extension GraphLab {
    /// A new application's object id, and a new certificate (base64 DER) for its keyCredentials.
    func applicationAndCertificate() async throws -> (id: String, der: String) {
        let id = try #require(try await call("POST", "applications", json: sampleApplication).1?["id"]?.string)
        let certificate = try Certificate.issue(.init(commonName: "PBX"), for: try PrivateKey.generateRSA(bits: 2048))
        return (id, Data(try certificate.der).base64EncodedString())
    }
}
