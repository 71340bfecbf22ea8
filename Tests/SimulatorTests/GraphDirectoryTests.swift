import Foundation
import Graph
import HTTP
import Simulator
import Testing

@Suite("Simulated Graph: domains, DNS, users, licences, policy", .serialized)
struct GraphDirectoryTests {
    @Test func aDomainVerifiesOnlyOnceItsTXTRecordIsPublished() async throws {
        let lab = try await GraphLab.start()
        let domain = "sbc\(Int.random(in: 1000...9999)).contoso-voice.com"
        let (created, body, _) = try await lab.call(
            "POST", "domains", json: #"{"id": "\#(domain)"}"#, schema: "POST:/domains")
        #expect(created == 201 && body?["isVerified"] == .bool(false))
        let (_, records, _) = try await lab.call("GET", "domains/\(domain)/verificationDnsRecords")
        let txt = try #require(records?["value"]?.array?.first { $0["recordType"]?.string == "Txt" }?["text"]?.string)
        #expect(txt.wholeMatch(of: /MS=ms\d{8}/) != nil)
        let (early, earlyError, _) = try await lab.call("POST", "domains/\(domain)/verify")
        #expect(early == 400 && earlyError?["error"]?["message"]?.string?.contains("TXT record") == true)
        // A user on an unverified domain is refused.
        let user =
            #"{"accountEnabled": true, "displayName": "Teams activation", "mailNickname": "teamsactivation", "userPrincipalName": "teamsactivation@\#(domain)", "passwordProfile": {"forceChangePasswordNextSignIn": false, "password": "Zq8!\#(UUID().uuidString)"}, "usageLocation": "US"}"#
        #expect(try await lab.call("POST", "users", json: user, schema: "POST:/users").0 == 400)
        // Publish through the DNS provider's (Cloudflare-shaped) API, verify, and the user is accepted.
        let zones = try await lab.http.execute(
            HTTPRequest(
                url: "\(lab.base)/client/v4/zones?name=contoso-voice.com",
                headers: [("Authorization", "Bearer dns-token")]))
        let zoneID = try #require(
            ((try JSONSerialization.jsonObject(with: Data(zones.body)) as? [String: Any])?["result"] as? [[String: Any]])?
                .first?["id"] as? String)
        let publish = try await lab.http.execute(
            HTTPRequest(
                method: "POST", url: "\(lab.base)/client/v4/zones/\(zoneID)/dns_records",
                headers: [("Authorization", "Bearer dns-token"), ("Content-Type", "application/json")],
                body: Array(#"{"type": "TXT", "name": "\#(domain)", "content": "\#(txt)"}"#.utf8)))
        #expect(publish.status == 200)
        let (verified, verifiedBody, _) = try await lab.call("POST", "domains/\(domain)/verify")
        #expect(verified == 200 && verifiedBody?["isVerified"] == .bool(true))
        let (createdUser, userBody, _) = try await lab.call("POST", "users", json: user, schema: "POST:/users")
        #expect(createdUser == 201 && userBody?["userPrincipalName"]?.string == "teamsactivation@\(domain)")
        let (duplicate, _, _) = try await lab.call("POST", "users", json: user, schema: "POST:/users")
        #expect(duplicate == 400)
        await lab.stop()
    }

    @Test func licencesNeedAUsageLocationAndShowTheirPlans() async throws {
        let lab = try await GraphLab.start()
        let (_, skus, _) = try await lab.call("GET", "subscribedSkus")
        let sku = try #require(skus?["value"]?.array?.first)
        let skuID = try #require(sku["skuId"]?.string)
        let upn = "user3@\(lab.tenant.defaultDomain)"  // seeded without a usage location
        let assign = #"{"addLicenses": [{"skuId": "\#(skuID)", "disabledPlans": []}], "removeLicenses": []}"#
        let (refused, refusal, _) = try await lab.call(
            "POST", "users/\(upn)/assignLicense", json: assign, schema: "POST:/users/{user-id}/assignLicense")
        #expect(
            refused == 400
                && refusal?["error"]?["message"]?.string
                    == "License assignment cannot be done for user with invalid usage location."
        )
        #expect(try await lab.call("PATCH", "users/\(upn)", json: #"{"usageLocation": "US"}"#).0 == 204)
        #expect(
            try await lab.call(
                "POST", "users/\(upn)/assignLicense", json: assign, schema: "POST:/users/{user-id}/assignLicense"
            ).0 == 200)
        // Users page like every collection.
        let (_, firstPage, _) = try await lab.call("GET", "users?$top=2")
        #expect(firstPage?["value"]?.array?.count == 2 && firstPage?["@odata.nextLink"]?.string != nil)
        let (_, found, _) = try await lab.call(
            "GET",
            "users?$filter=\("userPrincipalName eq '\(upn)'".addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)"
        )
        #expect(found?["value"]?.array?.count == 1)
        let (_, details, _) = try await lab.call("GET", "users/\(upn)/licenseDetails")
        let plans =
            details?["value"]?.array?.first?["servicePlans"]?.array?.compactMap { $0["servicePlanName"]?.string } ?? []
        let hasPhoneSystem = sku["servicePlans"]?.array?.contains { $0["servicePlanName"]?.string == "MCOEV" } == true
        #expect(plans.contains("MCOEV") == hasPhoneSystem)
        #expect(!plans.isEmpty)
        await lab.stop()
    }

    @Test func thePasswordLifetimePolicyIsEnforcedAndNeedsPolicyReadAll() async throws {
        let lab = try await GraphLab.start()
        let capped = try #require(lab.simulator.world.customers.first { $0.maxPasswordLifetimeDays != nil })
        let token = try await TokenClient(http: lab.http, loginBaseURL: lab.base).token(
            tenant: capped.id.uuidString, clientID: lab.simulator.world.partnerApp.appID.uuidString,
            credential: .secret(lab.simulator.world.partnerSecret))
        // The partner app's roles do not include Policy.Read.All: the policy cannot be read.
        #expect(try await lab.call("GET", "policies/defaultAppManagementPolicy", token: token.value).0 == 403)
        let (_, app, _) = try await lab.call(
            "POST", "applications", json: #"{"displayName": "capped"}"#, token: token.value)
        let id = try #require(app?["id"]?.string)
        let formatter = ISO8601DateFormatter()
        let long =
            #"{"passwordCredential": {"displayName": "PBX Secret", "endDateTime": "\#(formatter.string(from: Date(timeIntervalSinceNow: 730 * 86_400)))"}}"#
        let (refused, refusal, _) = try await lab.call(
            "POST", "applications/\(id)/addPassword", json: long,
            schema: "POST:/applications/{application-id}/addPassword", token: token.value)
        #expect(
            refused == 400
                && refusal?["error"]?["message"]?.string
                    == "Credential lifetime exceeds the max value allowed as per assigned policy."
        )
        let short =
            #"{"passwordCredential": {"displayName": "PBX Secret", "endDateTime": "\#(formatter.string(from: Date(timeIntervalSinceNow: 300 * 86_400)))"}}"#
        #expect(try await lab.call("POST", "applications/\(id)/addPassword", json: short, token: token.value).0 == 200)
        await lab.stop()
    }
}
